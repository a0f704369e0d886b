"""The dual-decomposition solver: the allocation LP at scale, in the style of LinkedIn's DuaLip.

The exact LP builds one OR-Tools variable per pair, which stops scaling long before production
sizes. Here only the coupling constraints are dualised (item caps lambda, item floors mu, the
creator-likes definition nu); everything per user stays local. With a small ridge gamma on x and
on the happiness segments y, the dual function g is smooth and its maximisers are closed-form:
- per user: x = clip(c/gamma - tau_u, 0, 1) with tau_u >= 0 the smallest threshold keeping
  sum x <= k_u (a projection onto the capped box, solved for all users at once by safeguarded
  Newton steps on their thresholds);
- per creator: y = clip((w s - nu)/gamma, 0, width), i.e. each happiness segment is bought while
  its slope beats the price of a like.
Each dual step is a handful of vectorised passes over the pair arrays plus per-item and per-creator
sums (np.bincount), never a Python loop over users or pairs. Duals move by accelerated projected
gradient (FISTA) with backtracking and adaptive restarts; gamma shrinks in stages (continuation).

Certificates are for the unregularised chord LP the exact solver solves: any dual point gives the
upper bound sum_u [k_u t_u + sum_p max(c_p - t_u, 0)] + sum_ck width max(w s - nu, 0)
+ lambda.cap - mu.floor (LP duality of the capped box, valid for every t_u >= 0), and the
returned primal is the regularised maximiser repaired to be strictly feasible (scaled down per user
and per capped item). The relative gap between the two is the stopping rule.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from allocation.problem import AllocationProblem, AllocationResult, Status, TracePoint

LOG = logging.getLogger(__name__)


def sum_by(index: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Per-group sums as floats (np.bincount returns ints for empty input)."""
    return np.bincount(index, weights=weights, minlength=n).astype(float, copy=False)


@dataclass(frozen=True)
class Duals:
    """Prices of the dualised constraints: item caps (lam >= 0), item floors (0 <= mu <= penalty)
    and the creators' likes (nu >= 0). Stored with a run to warm-start the next day's solve."""

    item_cap: np.ndarray
    item_floor: np.ndarray
    creator_likes: np.ndarray

    @classmethod
    def zeros(cls, n_items: int, n_creators: int) -> Duals:
        return cls(np.zeros(n_items), np.zeros(n_items), np.zeros(n_creators))


def _stack(d: Duals) -> np.ndarray:
    return np.concatenate([d.item_cap, d.item_floor, d.creator_likes])


def project_capped_box(z: np.ndarray, pair_user: np.ndarray, capacity: np.ndarray,
                       tau: np.ndarray | None = None, tol: float = 1e-10,
                       max_steps: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean projection of z onto {0 <= x <= 1, sum_{p of u} x_p <= k_u} for every user u.

    Returns (x, tau) with x = clip(z - tau[user], 0, 1). Only users whose capacity binds need a
    threshold. The excess sum clip(z - t, 0, 1) - k is piecewise linear and falling in t, so a
    Newton step lands on the root whenever the active set holds; where it would leave the bracket
    (or the function is flat there) an Illinois false-position step on the bracket takes over.
    Each step is one pass over the binding users' positive entries; `tau` (the previous
    iterate's thresholds) warm-starts it."""
    n_users = capacity.shape[0]
    x = np.clip(z, 0.0, 1.0)
    load = sum_by(pair_user, x, n_users)
    binding = load > capacity + tol * np.maximum(1.0, capacity)
    if not binding.any():
        return x, np.zeros(n_users)
    chosen = np.flatnonzero(binding[pair_user] & (z > 0))   # entries with z <= 0 stay 0 for any tau >= 0
    zs, us = z[chosen], pair_user[chosen]
    # Bracket [low, high] with excess(low) > 0 > excess(high): at t = 0 the user is over capacity,
    # at t = max z every entry is 0.
    low, f_low = np.zeros(n_users), np.where(binding, load - capacity, 0.0)
    high, f_high = np.full(n_users, float(zs.max(initial=0.0))), -capacity.astype(float)
    t = np.zeros(n_users) if tau is None else np.where(binding, np.clip(tau, 0.0, high), 0.0)
    side = np.zeros(n_users, dtype=np.int8)        # which end moved last (Illinois halving)
    pending = binding.copy()
    for _ in range(max_steps):
        shifted = zs - t[us]
        total = sum_by(us, np.clip(shifted, 0.0, 1.0), n_users)
        slope = sum_by(us, ((shifted > 0) & (shifted < 1)).astype(float), n_users)
        excess = np.where(pending, total - capacity, 0.0)
        pending &= np.abs(excess) > tol * np.maximum(1.0, capacity)
        if not pending.any():
            break
        above, below = pending & (excess > 0), pending & (excess < 0)
        low, f_low = np.where(above, t, low), np.where(above, excess, f_low)
        high, f_high = np.where(below, t, high), np.where(below, excess, f_high)
        f_low = np.where(below & (side == -1), 0.5 * f_low, f_low)    # the same end kept twice: halve it
        f_high = np.where(above & (side == 1), 0.5 * f_high, f_high)
        side = np.where(above, 1, np.where(below, -1, side)).astype(np.int8)
        newton = t + np.divide(excess, slope, out=np.full(n_users, np.nan), where=slope > 0)
        falsi = low + f_low * (high - low) / np.where(f_low - f_high > 0, f_low - f_high, 1.0)
        inside = np.isfinite(newton) & (newton > low) & (newton < high)
        t = np.where(pending, np.where(inside, newton, falsi), t)
        # Converged users drop out: later steps pass over the pending users' entries only.
        keep = pending[us]
        if keep.sum() < 0.7 * keep.size:
            zs, us = zs[keep], us[keep]
    x[chosen] = np.clip(z[chosen] - t[pair_user[chosen]], 0.0, 1.0)
    return x, t


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

    @classmethod
    def of(cls, problem: AllocationProblem) -> Sides:
        return cls(problem.item_cap, problem.item_floor, problem.item_creator,
                   problem.creator_weight * problem.segment_slope, problem.segment_width, problem.floor_penalty)

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
    value, exposure per item, likes per creator and worst user-capacity excess. `changed` says the
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
              tau: np.ndarray | None = None) -> tuple[PairSums, np.ndarray, np.ndarray]:
    """The regularised plan at scores c and its pair sums: (sums, x, per-user thresholds)."""
    x, tau = project_capped_box(c / gamma, user, capacity, tau)
    value = float(np.dot(c, x)) - 0.5 * gamma * float(np.dot(x, x))
    return plan_totals(x, c, a, like, item, creator, n_items, n_creators, value), x, tau


def plan_totals(x: np.ndarray, weight: np.ndarray, a: np.ndarray, like: np.ndarray, item: np.ndarray,
                creator: np.ndarray, n_items: int, n_creators: int, value: float | None = None) -> PairSums:
    """A plan's weight.x (or the given value), exposure per item and likes per creator."""
    return PairSums(float(np.dot(weight, x)) if value is None else value,
                    sum_by(item, a * x, n_items), sum_by(creator, like * x, n_creators))


def capped_box_bound(c: np.ndarray, user: np.ndarray, capacity: np.ndarray,
                     price_floor: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """sum_u [k_u t_u + sum_p max(c_p - t_u, 0)] at t_u = the ceil(k_u)-th largest positive score.

    LP duality of each user's capped box makes this an upper bound on max c.x for every t >= 0,
    tightest at that order statistic. Only scores above `price_floor` (per user) are sorted; a user
    with fewer than ceil(k) of them keeps t at the floor, which is valid, only looser. Returns
    (bound, the sorted candidates' pair indices, their users, and the per-user counts)."""
    n_users = capacity.shape[0]
    floor = np.zeros(n_users) if price_floor is None else price_floor
    candidates = np.flatnonzero((c > 0) & (c > floor[user]))
    users, scores = user[candidates], c[candidates]
    order = np.lexsort((-scores, users))
    users, scores, candidates = users[order], scores[order], candidates[order]
    counts = np.bincount(users, minlength=n_users)
    starts = np.cumsum(counts) - counts
    rank = np.ceil(capacity - 1e-12).astype(np.int64)
    t = np.maximum(floor, 0.0)
    has = (rank >= 1) & (counts >= rank)
    t[has] = scores[starts[has] + rank[has] - 1]
    nothing_fits = (rank < 1) & (counts > 0)
    t[nothing_fits] = scores[starts[nothing_fits]]
    bound = float(np.dot(capacity, t)) + float(np.sum(np.maximum(scores - t[users], 0.0)))
    return bound, candidates, scores, counts


def scale_to_capacity(x: np.ndarray, user: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """x clipped to [0, 1] and scaled down per user until every capacity holds exactly."""
    x = np.clip(x, 0.0, 1.0)
    load = sum_by(user, x, capacity.shape[0])
    return x * np.minimum(1.0, np.divide(capacity, load, out=np.ones_like(load), where=load > 0))[user]


def cap_shrink(exposure: np.ndarray, item_cap: np.ndarray) -> np.ndarray:
    """Per-item factors that bring exposure under the caps (with a hair of room for rounding)."""
    return np.minimum(1.0, np.divide(item_cap, exposure, out=np.ones_like(exposure), where=exposure > 0)) \
        * (1 - 1e-12)


def user_excess(x: np.ndarray, user: np.ndarray, capacity: np.ndarray) -> float:
    return float(np.max(sum_by(user, x, capacity.shape[0]) - capacity, initial=0.0))


class LocalPairs:
    """The pairs as numpy arrays in this process. Iterates on a working set: each check prices all
    pairs and keeps each user's best ceil(k) + `working_extra` (plus the pairs in the plan)."""

    def __init__(self, problem: AllocationProblem, sides: Sides, settings: DualSolver) -> None:
        self.p, self.sides, self.s = problem, sides, settings
        self.full = {"a": problem.pair_availability, "base": problem.pair_availability * problem.pair_value,
                     "like": problem.pair_availability * problem.pair_like, "item": problem.pair_item,
                     "creator": problem.item_creator[problem.pair_item], "user": problem.pair_user}
        self._restrict(np.arange(problem.n_pairs))
        self.tau = np.zeros(problem.n_users)
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
                                      gamma, self.sides.n_items, self.sides.n_creators, self.tau)
        return sums, x

    def certify(self, item_price: np.ndarray, nu: np.ndarray, gamma: float, plan: object,
                margin: float) -> Certificate:
        """The bound priced on all pairs (only those near each user's last threshold are sorted; they
        become the working set), and the last plan repaired."""
        x = scale_to_capacity(np.asarray(plan), self.user, self.p.user_capacity)
        x = x * cap_shrink(sum_by(self.item, self.a * x, self.sides.n_items), self.sides.item_cap)[self.item]
        self.repaired = self._scatter(x)
        f = self.full
        c = pair_scores(f["base"], f["a"], f["like"], f["item"], f["creator"], item_price, nu)
        floor = self.price_threshold - margin
        bound, candidates, scores, counts = capped_box_bound(c, f["user"], self.p.user_capacity, floor)
        # The working set: each user's best ceil(k) + extra pairs. Its last member's score sets
        # where the next pricing starts looking (users with fewer keep a lower floor).
        users = f["user"][candidates]
        starts = np.cumsum(counts) - counts
        depth = np.maximum(np.ceil(self.p.user_capacity - 1e-12).astype(np.int64), 0) + self.s.working_extra
        keep = np.arange(users.size) - starts[users] < depth[users]
        full_depth = counts >= depth
        self.price_threshold = np.maximum(floor, 0.0)
        self.price_threshold[full_depth] = scores[starts[full_depth] + depth[full_depth] - 1]
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
        return Certificate(bound, totals.value, totals.exposure, totals.likes,
                           user_excess(self.repaired, f["user"], self.p.user_capacity), changed)

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
    if warm is not None and (warm.item_cap.shape != (sides.n_items,)
                             or warm.creator_likes.shape != (sides.n_creators,)):
        raise ValueError("warm-start duals do not match the problem's items and creators")
    return _DualRun(sides, pairs, settings).run(warm or Duals.zeros(sides.n_items, sides.n_creators))


class _DualRun:
    """One solve's driver state: the dual iterate and the certificates so far (O(items + creators))."""

    def __init__(self, sides: Sides, pairs: PairSide, settings: DualSolver) -> None:
        self.sides, self.pairs, self.s = sides, pairs, settings
        self.n_i, self.n_c = sides.n_items, sides.n_creators
        self.floored = sides.floored
        self.scale = pairs.typical_value()

    # --- the dual function -------------------------------------------------------------------
    def _split(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return v[:self.n_i], v[self.n_i:2 * self.n_i], v[2 * self.n_i:]

    def _project_duals(self, v: np.ndarray) -> np.ndarray:
        lam, mu, nu = self._split(v)
        mu = np.where(self.floored, np.clip(mu, 0.0, self.sides.floor_penalty), 0.0)
        return np.concatenate([np.maximum(lam, 0.0), mu, np.maximum(nu, 0.0)])

    def _value_and_gradient(self, v: np.ndarray, gamma: float) -> tuple[float, np.ndarray, object]:
        lam, mu, nu = self._split(v)
        sums, plan = self.pairs.evaluate(mu - lam, nu, gamma)
        margin = self.sides.slope - nu[:, None]
        y = np.clip(margin / gamma, 0.0, self.sides.width)
        value = (sums.value + float(np.sum(margin * y)) - 0.5 * gamma * float(np.sum(y * y))
                 + float(np.dot(lam, self.sides.item_cap)) - float(np.dot(mu, self.sides.item_floor)))
        gradient = np.concatenate([self.sides.item_cap - sums.exposure,
                                   np.where(self.floored, sums.exposure - self.sides.item_floor, 0.0),
                                   sums.likes - y.sum(axis=1)])
        return value, gradient, plan

    # --- certificates --------------------------------------------------------------------------
    def _check(self, v: np.ndarray, gamma: float, plan: object) -> tuple[float, float, float, bool]:
        """(primal of the repaired plan, upper bound at v, max violation, working set changed).

        The bound is the Lagrangian of the unregularised chord LP at v: valid for any duals in
        their domain, so every check certifies."""
        lam, mu, nu = self._split(v)
        margin = self.s.working_margin * gamma + 0.05 * self.scale
        cert = self.pairs.certify(mu - lam, nu, gamma, plan, margin)
        creators = float(np.sum(self.sides.width * np.maximum(self.sides.slope - nu[:, None], 0.0)))
        bound = (cert.users_bound + creators + float(np.dot(lam, self.sides.item_cap))
                 - float(np.dot(mu, self.sides.item_floor)))
        before = np.cumsum(self.sides.width, axis=1) - self.sides.width
        filled = np.clip(cert.likes[:, None] - before, 0.0, self.sides.width)
        shortfall = np.maximum(self.sides.item_floor - cert.exposure, 0.0)
        primal = cert.value + float(np.sum(self.sides.slope * filled)) - self.sides.floor_penalty * float(shortfall.sum())
        violation = max(cert.user_excess, float(np.max(cert.exposure - self.sides.item_cap, initial=0.0)), 0.0)
        self._last = cert
        return primal, bound, violation, cert.changed

    # --- the iteration -------------------------------------------------------------------------
    def run(self, start: Duals) -> DualOutcome:
        started = time.perf_counter()
        s = self.s
        gamma = s.ridge * self.scale
        v = self._project_duals(_stack(start))
        # The dual gradient is Lipschitz with ||A||^2 / gamma (A: the dualised rows): 1/L is the
        # smallest step backtracking may fall back to.
        norm_a = self.pairs.operator_norm_squared(self.floored)
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
        lam, mu, nu = self._split(previous)
        return DualOutcome(best_primal, best_bound, status, iterations, time.perf_counter() - started,
                           tuple(trace), Duals(lam.copy(), mu.copy(), nu.copy()), gamma, *best_sums)


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
