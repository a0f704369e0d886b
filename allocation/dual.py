"""The dual-decomposition solver: the allocation LP at scale, in the style of LinkedIn's DuaLip.

The exact LP builds one OR-Tools variable per pair, which stops scaling long before production
sizes. Here only the coupling constraints are dualised (item caps lambda, item floors mu, the
creator-likes definition nu, and the optional creator exposure caps rho and global budget beta,
which read exposure only and so fold into each item's price); everything per user stays local,
including the optional per-user category caps, which nest inside the user's capacity. With a small ridge gamma on x and
on the happiness segments y, the dual function g is smooth and its maximisers are closed-form:
- per user: x = clip(c/gamma - tau_u, 0, 1) with tau_u >= 0 the smallest threshold keeping
  sum x <= k_u (a projection onto the capped box, solved for all users at once by safeguarded
  Newton steps on their thresholds; with category caps, max(tau_u, s_g) after a first search for
  each group's own s_g);
- per creator: y = clip((w s - nu)/gamma, 0, width), i.e. each happiness segment is bought while
  its slope beats the price of a like.
Each dual step is a handful of vectorised passes over the pair arrays plus per-item and per-creator
sums (np.bincount), never a Python loop over users or pairs. Duals move by accelerated projected
gradient (FISTA) with backtracking and adaptive restarts; gamma shrinks in stages (continuation).

Certificates are for the unregularised chord LP the exact solver solves: any dual point gives the
upper bound sum_u [k_u t_u + sum_p max(c_p - t_u, 0)] + sum_ck width max(w s - nu, 0)
+ lambda.cap - mu.floor (+ rho.creator_cap + beta budget; LP duality of the capped box, valid for
every t_u >= 0), and the returned primal is the regularised maximiser repaired to be strictly
feasible (scaled down per category group and user, then per capped item, creator and budget). The relative gap between the two is the stopping rule.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from allocation.problem import AllocationProblem, AllocationResult, Duals, Status, TracePoint

LOG = logging.getLogger(__name__)


def sum_by(index: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Per-group sums as floats (np.bincount returns ints for empty input)."""
    return np.bincount(index, weights=weights, minlength=n).astype(float, copy=False)


def _thresholds(z: np.ndarray, owner: np.ndarray, capacity: np.ndarray, tau: np.ndarray | None,
                entry_floor: np.ndarray | None, tol: float, max_steps: int) -> np.ndarray:
    """Per owner, the smallest t >= 0 with sum_p clip(z_p - max(t, f_p), 0, 1) <= capacity, where
    f_p (`entry_floor`, default 0) is a threshold the entry already has from a nested group.

    The excess is piecewise linear and falling in t, so a Newton step lands on the root whenever
    the active set holds; where it would leave the bracket (or the function is flat there) an
    Illinois false-position step on the bracket takes over. Each step is one pass over the binding
    owners' positive entries; `tau` (the previous iterate's thresholds) warm-starts it."""
    n = capacity.shape[0]
    x = np.clip(z if entry_floor is None else z - entry_floor, 0.0, 1.0)
    load = sum_by(owner, x, n)
    binding = load > capacity + tol * np.maximum(1.0, capacity)
    if not binding.any():
        return np.zeros(n)
    # entries at or below their floor stay 0 for any t >= 0
    chosen = np.flatnonzero(binding[owner] & (z > (0.0 if entry_floor is None else entry_floor)))
    zs, us = z[chosen], owner[chosen]
    fs = None if entry_floor is None else entry_floor[chosen]
    cap = np.where(binding, capacity, 0.0)
    # Bracket [low, high] with excess(low) > 0 > excess(high): at t = 0 the owner is over capacity,
    # at t = the owner's largest z every entry is 0.
    low, f_low = np.zeros(n), np.where(binding, load - cap, 0.0)
    high = np.zeros(n)
    np.maximum.at(high, us, zs)                # each owner's own top: a tight bracket speeds false position
    f_high = -cap
    t = np.zeros(n) if tau is None else np.where(binding, np.clip(tau, 0.0, high), 0.0)
    side = np.zeros(n, dtype=np.int8)        # which end moved last (Illinois halving)
    pending = binding.copy()
    # When the ridge is small z is large, and the excess cannot be computed closer than a few ulps
    # of z: below that a search would only spin until max_steps.
    close_enough = tol * np.maximum(1.0, cap) + 64 * np.finfo(float).eps * high
    for _ in range(max_steps):
        tu = t[us]
        shifted = zs - (tu if fs is None else np.maximum(tu, fs))
        moving = (shifted > 0) & (shifted < 1) if fs is None else (shifted > 0) & (shifted < 1) & (tu >= fs)
        total = sum_by(us, np.clip(shifted, 0.0, 1.0), n)
        slope = sum_by(us, moving.astype(float), n)
        excess = np.where(pending, total - cap, 0.0)
        pending &= np.abs(excess) > close_enough
        if not pending.any():
            break
        above, below = pending & (excess > 0), pending & (excess < 0)
        low, f_low = np.where(above, t, low), np.where(above, excess, f_low)
        high, f_high = np.where(below, t, high), np.where(below, excess, f_high)
        f_low = np.where(below & (side == -1), 0.5 * f_low, f_low)    # the same end kept twice: halve it
        f_high = np.where(above & (side == 1), 0.5 * f_high, f_high)
        side = np.where(above, 1, np.where(below, -1, side)).astype(np.int8)
        newton = t + np.divide(excess, slope, out=np.full(n, np.nan), where=slope > 0)
        falsi = low + f_low * (high - low) / np.where(f_low - f_high > 0, f_low - f_high, 1.0)
        inside = np.isfinite(newton) & (newton > low) & (newton < high)
        t = np.where(pending, np.where(inside, newton, falsi), t)
        # Converged owners drop out: later steps pass over the pending owners' entries only.
        keep = pending[us]
        if keep.sum() < 0.7 * keep.size:
            zs, us = zs[keep], us[keep]
            fs = None if fs is None else fs[keep]
    return t


def project_capped_box(z: np.ndarray, pair_user: np.ndarray, capacity: np.ndarray,
                       tau: np.ndarray | None = None, tol: float = 1e-10,
                       max_steps: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean projection of z onto {0 <= x <= 1, sum_{p of u} x_p <= k_u} for every user u.

    Returns (x, tau) with x = clip(z - tau[user], 0, 1); `tau` warm-starts the search."""
    t = _thresholds(z, pair_user, capacity, tau, None, tol, max_steps)
    return np.clip(z - t[pair_user], 0.0, 1.0), t


def project_nested(z: np.ndarray, pair_user: np.ndarray, capacity: np.ndarray, group: np.ndarray,
                   group_cap: np.ndarray, tau: tuple[np.ndarray, np.ndarray] | None = None, tol: float = 1e-10,
                   max_steps: int = 60) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The projection with category caps too: sum_{p of g} x_p <= group_cap[g] for groups nested
    in users. Returns (x, (tau, s)) with x = clip(z - max(tau[user], s[group]), 0, 1).

    The nesting is what makes this two one-dimensional searches: by KKT a pair's total threshold
    is its user's price plus its group's, and that sum is max(tau_u, s_g) with s_g the threshold
    the group would need on its own."""
    user_tau, group_tau = (None, None) if tau is None else tau
    s = _thresholds(z, group, group_cap, group_tau, None, tol, max_steps)
    entry_floor = s[group]
    t = _thresholds(z, pair_user, capacity, user_tau, entry_floor, tol, max_steps)
    return np.clip(z - np.maximum(t[pair_user], entry_floor), 0.0, 1.0), (t, s)


@dataclass(frozen=True)
class Sides:
    """The part of a problem the dual iteration itself holds: items and creators, O(items + creators).

    Pairs (and users) live behind a `PairSide`, so the same iteration drives numpy arrays in this
    process or a pairs DataFrame on Spark."""

    item_cap: np.ndarray
    item_floor: np.ndarray
    item_creator: np.ndarray
    slope: np.ndarray           # creator weight x happiness segment slopes, creators x K
    width: np.ndarray           # happiness segment widths, creators x K
    floor_penalty: float
    creator_cap: np.ndarray     # per creator, inf = none
    budget: float               # total expected exposure, inf = none

    @classmethod
    def of(cls, problem: AllocationProblem) -> Sides:
        return cls(problem.item_cap, problem.item_floor, problem.item_creator,
                   problem.creator_weight * problem.segment_slope, problem.segment_width, problem.floor_penalty,
                   problem.creator_cap, problem.exposure_budget)

    def exposure_shrink(self, exposure: np.ndarray) -> np.ndarray:
        """Per-item factors that bring a plan's exposure under the item caps, then the creator caps,
        then the budget. Every step only scales down, so each limit met stays met; exposure is all
        these constraints read, so the factors are computed here, from O(items) sums."""
        item = cap_shrink(exposure, self.item_cap)
        creator = cap_shrink(sum_by(self.item_creator, item * exposure, self.n_creators), self.creator_cap)
        factor = item * creator[self.item_creator]
        total = float(np.dot(factor, exposure))
        return factor * (cap_shrink(np.array([total]), np.array([self.budget]))[0])

    def exposure_excess(self, exposure: np.ndarray) -> float:
        """The worst excess of an exposure vector over the item caps, creator caps and budget."""
        creator = sum_by(self.item_creator, exposure, self.n_creators)
        return float(max(np.max(exposure - self.item_cap, initial=0.0), np.max(creator - self.creator_cap, initial=0.0),
                         exposure.sum() - self.budget, 0.0))

    @property
    def n_items(self) -> int:
        return self.item_cap.shape[0]

    @property
    def n_creators(self) -> int:
        return self.slope.shape[0]

    @property
    def floored(self) -> np.ndarray:
        return self.item_floor > 0


@dataclass(frozen=True)
class PairSums:
    """One pass over the pairs at given duals: sum (c.x - gamma/2 |x|^2) of the regularised plan,
    and its exposure per item and likes per creator (the dual gradient's pair terms)."""

    value: float
    exposure: np.ndarray
    likes: np.ndarray


@dataclass(frozen=True)
class Certificate:
    """A check's pair terms: the users' part of the Lagrangian bound, and the repaired plan's user
    value, exposure per item, likes per creator and worst excess over a user's capacity or
    category caps. `changed` says the
    pair side now iterates on a different set of pairs (so the iteration must re-evaluate)."""

    users_bound: float
    value: float
    exposure: np.ndarray
    likes: np.ndarray
    user_excess: float
    changed: bool = False


class PairSide(Protocol):
    """Where the pairs are. Every method is one or two passes over them; what comes back is
    O(items + creators)."""

    def typical_value(self) -> float: ...

    def operator_norm_squared(self, floored: np.ndarray) -> float: ...

    def evaluate(self, item_price: np.ndarray, nu: np.ndarray, gamma: float) -> tuple[PairSums, object]: ...

    def certify(self, item_price: np.ndarray, nu: np.ndarray, gamma: float, plan: object,
                margin: float) -> Certificate: ...

    def keep_best(self) -> None: ...


# --- the kernel: pure numpy over one block of pairs (all of a user's pairs in the same block) ------
def pair_scores(base: np.ndarray, a: np.ndarray, like: np.ndarray, item: np.ndarray, creator: np.ndarray,
                item_price: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """Dual-adjusted scores c = a v + a (mu - lam)_item + a p nu_creator."""
    return base + a * item_price[item] + like * nu[creator]


def plan_sums(c: np.ndarray, a: np.ndarray, like: np.ndarray, item: np.ndarray, creator: np.ndarray,
              user: np.ndarray, capacity: np.ndarray, gamma: float, n_items: int, n_creators: int,
              tau: object = None, group: np.ndarray | None = None,
              group_cap: np.ndarray | None = None) -> tuple[PairSums, np.ndarray, object]:
    """The regularised plan at scores c and its pair sums: (sums, x, the projection's thresholds,
    which warm-start the next call's)."""
    if group is None or group_cap is None:
        x, tau = project_capped_box(c / gamma, user, capacity, tau)
    else:
        x, tau = project_nested(c / gamma, user, capacity, group, group_cap, tau)
    value = float(np.dot(c, x)) - 0.5 * gamma * float(np.dot(x, x))
    return plan_totals(x, c, a, like, item, creator, n_items, n_creators, value), x, tau


def plan_totals(x: np.ndarray, weight: np.ndarray, a: np.ndarray, like: np.ndarray, item: np.ndarray,
                creator: np.ndarray, n_items: int, n_creators: int, value: float | None = None) -> PairSums:
    """A plan's weight.x (or the given value), exposure per item and likes per creator."""
    return PairSums(float(np.dot(weight, x)) if value is None else value,
                    sum_by(item, a * x, n_items), sum_by(creator, like * x, n_creators))


def _depth(cap: np.ndarray) -> np.ndarray:
    """How many whole pairs a (possibly fractional, possibly infinite) cap can hold, rounded up."""
    return np.where(np.isfinite(cap), np.ceil(np.minimum(cap, 2**40) - 1e-12), 2**40).astype(np.int64)


def _ranks(owner: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort entries by (owner, score descending): (order, rank within owner in that order, counts)."""
    order = np.lexsort((-scores, owner))
    counts = np.bincount(owner, minlength=n)
    starts = np.cumsum(counts) - counts
    return order, np.arange(order.size) - starts[owner[order]], counts


def _fill_level(scores: np.ndarray, weights: np.ndarray, counts: np.ndarray, cap: np.ndarray,
                default: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per owner (entries sorted by owner, best first), the score at which its entries' weights,
    taken best first, fill `cap`: the greedy's marginal score; the best score where the cap is 0
    (nothing fits). Returns (level, which owners it was found for); `default` for the others."""
    starts = np.cumsum(counts) - counts
    filled = np.cumsum(weights)
    before = np.r_[0.0, filled][starts]
    finite = np.isfinite(cap)
    reach = np.where(finite, cap, 0.0)
    at = np.searchsorted(filled, before + reach * (1 - 1e-12) - 1e-12, side="left")
    out = default.astype(float, copy=True)
    fills = finite & (counts > 0) & (reach > 0) & (at < starts + counts)
    out[fills] = scores[at[fills]]
    nothing_fits = finite & (reach <= 0) & (counts > 0)
    out[nothing_fits] = scores[starts[nothing_fits]]
    return out, fills | nothing_fits


class UserPricing(NamedTuple):
    """`capped_box_bound`'s answer: the bound, each user's candidates best first (pair indices,
    scores, counts per user), and each user's level t_u where the candidates fill its capacity
    (`filled`; elsewhere t_u is the price floor)."""

    bound: float
    candidates: np.ndarray
    scores: np.ndarray
    counts: np.ndarray
    level: np.ndarray
    filled: np.ndarray


def capped_box_bound(c: np.ndarray, user: np.ndarray, capacity: np.ndarray,
                     price_floor: np.ndarray | None = None, group: np.ndarray | None = None,
                     group_cap: np.ndarray | None = None,
                     group_extra: int = 0) -> UserPricing:
    """An upper bound on max c.x over every user's capped box (and its category caps), by LP duality:
    sum_u k_u t_u + sum_g K_g s_g + sum_p max(c_p - t_u - s_g, 0) for any t, s >= 0.

    Tightest at the greedy's marginal scores: each group alone fills its cap K_g best first (a
    fractional cap takes part of its last pair), t_u is the score at which those fills reach k_u,
    and s_g is what the group's own marginal score exceeds t_u by. Only scores above `price_floor`
    (per user) are sorted; a user whose candidates do not fill k_u keeps t at the floor, which is
    valid, only looser. The candidates returned are, with groups, those within their group's best
    ceil(K_g) + `group_extra`: what a working set needs."""
    n_users = capacity.shape[0]
    floor = np.zeros(n_users) if price_floor is None else np.maximum(price_floor, 0.0)
    candidates = np.flatnonzero((c > 0) & (c > floor[user]))
    grouped = group is not None and group_cap is not None and np.isfinite(group_cap).any()
    if grouped:
        groups = group[candidates]
        order, rank, group_counts = _ranks(groups, c[candidates], group_cap.shape[0])
        group_level, _ = _fill_level(c[candidates][order], np.ones(order.size), group_counts, group_cap,
                                     np.zeros(group_cap.shape[0]))
        weight = np.empty(candidates.size)
        weight[order] = np.clip(group_cap[groups[order]] - rank, 0.0, 1.0)
        listed = np.zeros(candidates.size, dtype=bool)
        listed[order] = rank < _depth(group_cap)[groups[order]] + group_extra
        ranked, weight, working = candidates[weight > 0], weight[weight > 0], candidates[listed]
    else:
        ranked = working = candidates
        weight = np.ones(candidates.size)
    order, _, counts = _ranks(user[ranked], c[ranked], n_users)
    t, filled = _fill_level(c[ranked][order], weight[order], counts, capacity, floor)
    excess = c[candidates] - t[user[candidates]]
    bound = float(np.dot(capacity, t))
    if grouped:
        group_user = np.zeros(group_cap.shape[0], dtype=np.int64)
        group_user[group] = user
        group_price = np.maximum(group_level - t[group_user], 0.0)
        bound += float(np.dot(np.where(group_price > 0, group_cap, 0.0), group_price))
        excess = excess - group_price[group[candidates]]
    bound += float(np.sum(np.maximum(excess, 0.0)))
    if grouped:     # the working set lists more than the ranking used
        order, _, counts = _ranks(user[working], c[working], n_users)
    return UserPricing(bound, working[order], c[working][order], counts, t, filled)


def scale_to_capacity(x: np.ndarray, user: np.ndarray, capacity: np.ndarray, group: np.ndarray | None = None,
                      group_cap: np.ndarray | None = None) -> np.ndarray:
    """x clipped to [0, 1] and scaled down per group, then per user, until every cap holds exactly."""
    x = np.clip(x, 0.0, 1.0)
    for owner, cap in ((group, group_cap), (user, capacity)):
        if owner is None or cap is None:
            continue
        load = sum_by(owner, x, cap.shape[0])
        x = x * np.minimum(1.0, np.divide(cap, load, out=np.ones_like(load), where=load > 0))[owner]
    return x


def cap_shrink(exposure: np.ndarray, item_cap: np.ndarray) -> np.ndarray:
    """Per-row factors that bring sums under their caps (with a hair of room for rounding)."""
    return np.minimum(1.0, np.divide(item_cap, exposure, out=np.ones_like(exposure), where=exposure > 0)) \
        * (1 - 1e-12)


def user_excess(x: np.ndarray, user: np.ndarray, capacity: np.ndarray, group: np.ndarray | None = None,
                group_cap: np.ndarray | None = None) -> float:
    worst = float(np.max(sum_by(user, x, capacity.shape[0]) - capacity, initial=0.0))
    if group is not None and group_cap is not None:
        worst = max(worst, float(np.max(sum_by(group, x, group_cap.shape[0]) - group_cap, initial=0.0)))
    return worst


class LocalPairs:
    """The pairs as numpy arrays in this process. Iterates on a working set: each check prices all
    pairs and keeps each user's best ceil(k) + `working_extra` (plus the pairs in the plan)."""

    def __init__(self, problem: AllocationProblem, sides: Sides, settings: DualSolver) -> None:
        self.p, self.sides, self.s = problem, sides, settings
        self.full = {"a": problem.pair_availability, "base": problem.pair_availability * problem.pair_value,
                     "like": problem.pair_availability * problem.pair_like, "item": problem.pair_item,
                     "creator": problem.item_creator[problem.pair_item], "user": problem.pair_user}
        self.group = self.group_cap = None
        if problem.has_category_caps:
            self.full["group"], self.group_cap = problem.pair_groups()
        self._restrict(np.arange(problem.n_pairs))
        self.tau: object = None      # the projection's thresholds, warm-starting the next
        self.price_threshold = np.full(problem.n_users, -np.inf)   # first pricing looks at every pair
        self.repaired: np.ndarray | None = None
        self.best_x = np.zeros(problem.n_pairs)

    def _restrict(self, index: np.ndarray) -> None:
        self.index = index
        for name, values in self.full.items():
            setattr(self, name, values[index])

    def _scatter(self, x: np.ndarray) -> np.ndarray:
        full = np.zeros(self.p.n_pairs)
        full[self.index] = x
        return full

    def typical_value(self) -> float:
        base = self.full["base"]
        scale = np.median(np.abs(base[base != 0])) if np.any(base != 0) else 1.0
        return float(scale) if np.isfinite(scale) and scale > 0 else 1.0

    def operator_norm_squared(self, floored: np.ndarray, steps: int = 20) -> float:
        """||A||^2 by power iteration on A^T A (A maps x to item exposure, floored exposure and
        creator likes), with a safety margin because power iteration approaches from below."""
        weight = 1.0 + floored.astype(float)
        n_i, n_c = self.sides.n_items, self.sides.n_creators
        x = np.random.default_rng(0).random(self.p.n_pairs) + 0.5
        estimate = 1.0
        for _ in range(steps):
            exposure = sum_by(self.item, self.a * x, n_i)
            likes = sum_by(self.creator, self.like * x, n_c)
            back = self.a * (exposure * weight)[self.item] + self.like * likes[self.creator]
            norm = float(np.linalg.norm(back))
            if norm == 0.0:
                return 1.0
            estimate = norm / max(float(np.linalg.norm(x)), 1e-300)
            x = back / norm
        return 1.5 * estimate + 1e-12

    def evaluate(self, item_price: np.ndarray, nu: np.ndarray, gamma: float) -> tuple[PairSums, object]:
        c = pair_scores(self.base, self.a, self.like, self.item, self.creator, item_price, nu)
        sums, x, self.tau = plan_sums(c, self.a, self.like, self.item, self.creator, self.user, self.p.user_capacity,
                                      gamma, self.sides.n_items, self.sides.n_creators, self.tau, self.group,
                                      self.group_cap)
        return sums, x

    def certify(self, item_price: np.ndarray, nu: np.ndarray, gamma: float, plan: object,
                margin: float) -> Certificate:
        """The bound priced on all pairs (only those near each user's last threshold are sorted; they
        become the working set), and the last plan repaired."""
        x = scale_to_capacity(np.asarray(plan), self.user, self.p.user_capacity, self.group, self.group_cap)
        x = x * self.sides.exposure_shrink(sum_by(self.item, self.a * x, self.sides.n_items))[self.item]
        self.repaired = self._scatter(x)
        f = self.full
        c = pair_scores(f["base"], f["a"], f["like"], f["item"], f["creator"], item_price, nu)
        floor = self.price_threshold - margin
        pricing = capped_box_bound(c, f["user"], self.p.user_capacity, floor, f.get("group"), self.group_cap,
                                   self.s.working_extra)
        candidates, scores, counts = pricing.candidates, pricing.scores, pricing.counts
        # The working set: each user's best ceil(k) + extra pairs. Its last member's score sets
        # where the next pricing starts looking (users with fewer keep their floor).
        users = f["user"][candidates]
        starts = np.cumsum(counts) - counts
        depth = np.maximum(np.ceil(self.p.user_capacity - 1e-12).astype(np.int64), 0) + self.s.working_extra
        keep = np.arange(users.size) - starts[users] < depth[users]
        full_depth = counts >= depth
        # A user whose candidates did not fill its capacity got t = the floor, a loose bound: the
        # next pricing looks at all its positive pairs. Nor may the floor pass a user's level t_u
        # (with category caps the depth-th candidate can lie above it).
        threshold = np.maximum(floor, 0.0)
        threshold[full_depth] = scores[starts[full_depth] + depth[full_depth] - 1]
        self.price_threshold = np.where(pricing.filled, np.minimum(threshold, pricing.level), 0.0)
        # Pairs in today's plan stay in the working set (dropping them would let the iterate cycle
        # between sets); a set that is not much smaller than all pairs is all pairs.
        working = np.union1d(candidates[keep], self.index[np.asarray(plan) > 0])
        if working.size >= self.s.working_share * self.p.n_pairs:
            working = np.arange(self.p.n_pairs)
        changed = not np.array_equal(working, self.index)
        if changed:
            self._restrict(working)
        totals = plan_totals(self.repaired, f["base"], f["a"], f["like"], f["item"], f["creator"],
                             self.sides.n_items, self.sides.n_creators)
        return Certificate(pricing.bound, totals.value, totals.exposure, totals.likes,
                           user_excess(self.repaired, f["user"], self.p.user_capacity, f.get("group"), self.group_cap),
                           changed)

    def keep_best(self) -> None:
        self.best_x = self.repaired


@dataclass(frozen=True)
class DualOutcome:
    """What the iteration found, wherever the pairs were: certificates, trace and final duals."""

    objective: float
    bound: float
    status: Status
    iterations: int
    seconds: float
    trace: tuple[TracePoint, ...]
    duals: Duals
    ridge: float
    exposure: np.ndarray        # of the best plan, per item
    likes: np.ndarray           # of the best plan, per creator

    @property
    def gap(self) -> float:
        return (self.bound - self.objective) / max(1.0, abs(self.bound))

    def line(self, n_pairs: int) -> str:
        return (f"dual: {n_pairs} pairs, status={self.status.value}, objective={self.objective:.6g}, "
                f"bound={self.bound:.6g}, gap={self.gap:.2e}, iterations={self.iterations}, "
                f"ridge={self.ridge:.2e}, {self.seconds:.2f}s")


@dataclass
class DualSolver:
    """`solve(problem, warm_start=None) -> AllocationResult`, certified to `gap_tolerance`.

    `ridge` is gamma's first stage relative to the typical pair value; each stage that stalls
    divides it by `ridge_decay`, down to `min_ridge`."""

    gap_tolerance: float = 1e-3
    max_iterations: int = 3000
    ridge: float = 1e-2
    ridge_decay: float = 4.0
    min_ridge: float = 1e-6
    check_every: int = 10
    working_extra: int = 2          # working set: each user's best ceil(k) + this many pairs
    working_margin: float = 5.0     # pricing looks this many ridge widths (plus 5% of a value) below them
    working_share: float = 0.6      # iterate on a working set only when it is this much smaller
    step_growth: float = 1.5        # the dual step grows each iteration and halves when the quadratic
    step_shrink: float = 0.5        # model of g no longer bounds it (backtracking)
    time_limit_seconds: float = 600.0
    warm_start: Duals | None = field(default=None, repr=False)

    def solve(self, problem: AllocationProblem, warm_start: Duals | None = None) -> AllocationResult:
        sides = Sides.of(problem)
        pairs = LocalPairs(problem, sides, self)
        outcome = iterate(sides, pairs, self, warm_start if warm_start is not None else self.warm_start)
        LOG.info(outcome.line(problem.n_pairs))
        return _result(problem, pairs.best_x, outcome)


def iterate(sides: Sides, pairs: PairSide, settings: DualSolver, warm: Duals | None) -> DualOutcome:
    """Accelerated projected gradient on the smoothed dual, with ridge continuation and checks."""
    if warm is not None and (warm.item_cap.shape != (sides.n_items,) or warm.item_floor.shape != (sides.n_items,)
                             or warm.creator_likes.shape != (sides.n_creators,)
                             or warm.creator_cap.shape != (sides.n_creators,)):
        raise ValueError("warm-start duals do not match the problem's items and creators")
    return _DualRun(sides, pairs, settings).run(warm or Duals.zeros(sides.n_items, sides.n_creators))


class _DualRun:
    """One solve's driver state: the dual iterate and the certificates so far (O(items + creators)).

    The iterate v stacks lam, mu, nu (items, items, creators), then the creator-cap and budget
    prices divided by row scales d: a creator's exposure row is the sum of its items' rows and the
    budget row the sum of all, so scaling them by 1/sqrt(their item count) keeps each block's norm
    within the item rows' (||A||^2 grows by at most one such block each) and lets one step size
    serve all blocks (a diagonal preconditioner)."""

    def __init__(self, sides: Sides, pairs: PairSide, settings: DualSolver) -> None:
        self.sides, self.pairs, self.s = sides, pairs, settings
        self.n_i, self.n_c = sides.n_items, sides.n_creators
        self.floored = sides.floored
        self.scale = pairs.typical_value()
        self.capped = np.isfinite(sides.creator_cap)
        self.creator_cap = np.where(self.capped, sides.creator_cap, 0.0)
        self.budgeted = bool(np.isfinite(sides.budget))
        self.budget = float(sides.budget) if self.budgeted else 0.0
        self.d_creator = 1.0 / np.sqrt(np.maximum(np.bincount(sides.item_creator, minlength=self.n_c), 1))
        self.d_budget = 1.0 / np.sqrt(max(self.n_i, 1))
        self.extra_blocks = int(self.capped.any()) + int(self.budgeted)

    # --- the dual function -------------------------------------------------------------------
    def _stack(self, d: Duals) -> np.ndarray:
        return np.concatenate([d.item_cap, d.item_floor, d.creator_likes, d.creator_cap / self.d_creator,
                               [d.budget / self.d_budget]])

    def _blocks(self, v: np.ndarray) -> tuple[np.ndarray, ...]:
        """The iterate's five blocks as stored (the last two scaled by d)."""
        n_i, n_c = self.n_i, self.n_c
        return (v[:n_i], v[n_i:2 * n_i], v[2 * n_i:2 * n_i + n_c], v[2 * n_i + n_c:2 * n_i + 2 * n_c], v[-1:])

    def _split(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """The prices (lam, mu, nu, rho, beta) at iterate v, unscaled."""
        lam, mu, nu, rho, beta = self._blocks(v)
        return lam, mu, nu, rho * self.d_creator, float(beta[0]) * self.d_budget

    def _duals(self, v: np.ndarray) -> Duals:
        lam, mu, nu, rho, beta = self._split(v)
        return Duals(lam.copy(), mu.copy(), nu.copy(), rho.copy(), beta)

    def _item_price(self, lam: np.ndarray, mu: np.ndarray, rho: np.ndarray, beta: float) -> np.ndarray:
        """What one unit of an item's expected exposure earns or costs at these prices."""
        return mu - lam - rho[self.sides.item_creator] - beta

    def _limits_value(self, lam: np.ndarray, mu: np.ndarray, rho: np.ndarray, beta: float) -> float:
        """The dual's constant terms: each price times its constraint's right-hand side."""
        return (float(np.dot(lam, self.sides.item_cap)) - float(np.dot(mu, self.sides.item_floor))
                + float(np.dot(rho, self.creator_cap)) + beta * self.budget)

    def _project_duals(self, v: np.ndarray) -> np.ndarray:
        lam, mu, nu, rho, beta = self._blocks(v)
        mu = np.where(self.floored, np.clip(mu, 0.0, self.sides.floor_penalty), 0.0)
        return np.concatenate([np.maximum(lam, 0.0), mu, np.maximum(nu, 0.0),
                               np.where(self.capped, np.maximum(rho, 0.0), 0.0),
                               np.maximum(beta, 0.0) if self.budgeted else np.zeros(1)])

    def _value_and_gradient(self, v: np.ndarray, gamma: float) -> tuple[float, np.ndarray, object]:
        lam, mu, nu, rho, beta = self._split(v)
        sums, plan = self.pairs.evaluate(self._item_price(lam, mu, rho, beta), nu, gamma)
        margin = self.sides.slope - nu[:, None]
        y = np.clip(margin / gamma, 0.0, self.sides.width)
        value = (sums.value + float(np.sum(margin * y)) - 0.5 * gamma * float(np.sum(y * y))
                 + self._limits_value(lam, mu, rho, beta))
        creator_exposure = sum_by(self.sides.item_creator, sums.exposure, self.n_c)
        gradient = np.concatenate([self.sides.item_cap - sums.exposure,
                                   np.where(self.floored, sums.exposure - self.sides.item_floor, 0.0),
                                   sums.likes - y.sum(axis=1),
                                   np.where(self.capped, self.creator_cap - creator_exposure, 0.0) * self.d_creator,
                                   [(self.budget - sums.exposure.sum()) * self.d_budget if self.budgeted else 0.0]])
        return value, gradient, plan

    # --- certificates --------------------------------------------------------------------------
    def _check(self, v: np.ndarray, gamma: float, plan: object) -> tuple[float, float, float, bool]:
        """(primal of the repaired plan, upper bound at v, max violation, working set changed).

        The bound is the Lagrangian of the unregularised chord LP at v: valid for any duals in
        their domain, so every check certifies."""
        lam, mu, nu, rho, beta = self._split(v)
        margin = self.s.working_margin * gamma + 0.05 * self.scale
        cert = self.pairs.certify(self._item_price(lam, mu, rho, beta), nu, gamma, plan, margin)
        creators = float(np.sum(self.sides.width * np.maximum(self.sides.slope - nu[:, None], 0.0)))
        bound = cert.users_bound + creators + self._limits_value(lam, mu, rho, beta)
        before = np.cumsum(self.sides.width, axis=1) - self.sides.width
        filled = np.clip(cert.likes[:, None] - before, 0.0, self.sides.width)
        shortfall = np.maximum(self.sides.item_floor - cert.exposure, 0.0)
        primal = cert.value + float(np.sum(self.sides.slope * filled)) - self.sides.floor_penalty * float(shortfall.sum())
        violation = max(cert.user_excess, self.sides.exposure_excess(cert.exposure))
        self._last = cert
        return primal, bound, violation, cert.changed

    # --- the iteration -------------------------------------------------------------------------
    def run(self, start: Duals) -> DualOutcome:
        started = time.perf_counter()
        s = self.s
        gamma = s.ridge * self.scale
        v = self._project_duals(self._stack(start))
        # The dual gradient is Lipschitz with ||A||^2 / gamma (A: the dualised rows): 1/L is the
        # smallest step backtracking may fall back to.
        norm_a = self.pairs.operator_norm_squared(self.floored) * (1 + self.extra_blocks)
        step = gamma / norm_a
        momentum_point, previous, t_k = v.copy(), v.copy(), 1.0
        value, gradient, plan = self._value_and_gradient(momentum_point, gamma)
        best_primal, best_bound = -np.inf, np.inf
        best_sums = (np.zeros(self.n_i), np.zeros(self.n_c))
        trace: list[TracePoint] = []
        iterations, stage_best, stall = 0, np.inf, 0
        status = Status.MAX_ITER
        while iterations < s.max_iterations:
            iterations += 1
            # Backtracking on the quadratic upper model of g around the momentum point: the global
            # 1/L step from ||A||^2 is safe but far shorter than the local curvature allows.
            while True:
                candidate = self._project_duals(momentum_point - step * gradient)
                cand_value, _, cand_plan = self._value_and_gradient(candidate, gamma)
                move = candidate - momentum_point
                model = value + float(np.dot(gradient, move)) + float(np.dot(move, move)) / (2 * step)
                if cand_value <= model + 1e-12 * abs(value) or step <= gamma / norm_a:
                    break
                step = max(step * s.step_shrink, gamma / norm_a)
            t_next = 0.5 * (1 + np.sqrt(1 + 4 * t_k * t_k))
            if iterations > 1 and float(np.dot(momentum_point - candidate, candidate - previous)) > 0:
                t_next, momentum_point = 1.0, candidate.copy()     # adaptive restart
            else:
                momentum_point = candidate + ((t_k - 1) / t_next) * (candidate - previous)
            previous, t_k, plan = candidate, t_next, cand_plan
            value, gradient, _ = self._value_and_gradient(momentum_point, gamma)
            step *= s.step_growth
            if iterations % s.check_every == 0 or iterations == s.max_iterations:
                primal, bound, violation, changed = self._check(previous, gamma, plan)
                if primal > best_primal:
                    best_primal, best_sums = primal, (self._last.exposure, self._last.likes)
                    self.pairs.keep_best()
                best_bound = min(best_bound, bound)
                gap = (best_bound - best_primal) / max(1.0, abs(best_bound))
                trace.append(TracePoint(iterations, time.perf_counter() - started, best_primal, best_bound,
                                        gap, violation))
                if gap <= s.gap_tolerance:
                    status = Status.CONVERGED
                    break
                if time.perf_counter() - started > s.time_limit_seconds:
                    status = Status.TIME_LIMIT
                    break
                if changed:
                    value, gradient, _ = self._value_and_gradient(momentum_point, gamma)
                # continuation: when the bound stops improving at this ridge, shrink the ridge
                if best_bound < stage_best - 1e-4 * s.gap_tolerance * max(1.0, abs(best_bound)):
                    stage_best, stall = best_bound, 0
                else:
                    stall += 1
                if stall >= 3 and gamma > s.min_ridge * self.scale:
                    gamma /= s.ridge_decay
                    step = gamma / norm_a
                    stall, stage_best, t_k = 0, np.inf, 1.0
                    momentum_point = previous.copy()
                    value, gradient, _ = self._value_and_gradient(momentum_point, gamma)
        return DualOutcome(best_primal, best_bound, status, iterations, time.perf_counter() - started,
                           tuple(trace), self._duals(previous), gamma, *best_sums)


def _result(p: AllocationProblem, x: np.ndarray, outcome: DualOutcome) -> AllocationResult:
    exposure = p.item_exposure(x)
    new_likes = p.creator_new_likes(x)
    curve = p.curve
    floored = p.item_floor > 0
    return AllocationResult(
        x=x, item_exposure=exposure,
        item_floor_slack=np.where(floored, np.maximum(p.item_floor - exposure, 0.0), 0.0),
        item_shadow_price=outcome.duals.item_cap, creator_new_likes=new_likes,
        creator_happiness_gain=curve.value(p.creator_base_likes + new_likes) - curve.value(p.creator_base_likes),
        creator_marginal_value=p.creator_weight * curve.derivative(p.creator_base_likes + new_likes),
        status=outcome.status, solver="dual", objective=outcome.objective, bound=outcome.bound,
        true_objective=p.objective(x), iterations=outcome.iterations, seconds=outcome.seconds,
        log=(outcome.line(p.n_pairs),), trace=outcome.trace, duals=outcome.duals)
