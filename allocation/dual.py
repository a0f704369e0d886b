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

import numpy as np

from allocation.problem import AllocationProblem, AllocationResult, Status, TracePoint

LOG = logging.getLogger(__name__)


def _sum_by(index: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
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
    load = _sum_by(pair_user, x, n_users)
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
        total = _sum_by(us, np.clip(shifted, 0.0, 1.0), n_users)
        slope = _sum_by(us, ((shifted > 0) & (shifted < 1)).astype(float), n_users)
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
        return _DualRun(problem, self, warm_start if warm_start is not None else self.warm_start).run()


class _DualRun:
    """One solve: the problem's arrays, the dual iterate and the certificates so far."""

    def __init__(self, problem: AllocationProblem, settings: DualSolver, warm: Duals | None) -> None:
        self.p = problem
        self.s = settings
        self.full = {"a": problem.pair_availability, "base": problem.pair_availability * problem.pair_value,
                     "like": problem.pair_availability * problem.pair_like, "item": problem.pair_item,
                     "creator": problem.item_creator[problem.pair_item], "user": problem.pair_user}
        self._restrict(np.arange(problem.n_pairs))
        self.floored = problem.item_floor > 0
        self.slope = problem.creator_weight * problem.segment_slope
        self.width = problem.segment_width
        self.n_i, self.n_c = problem.n_items, problem.n_creators
        base = self.full["base"]
        scale = np.median(np.abs(base[base != 0])) if np.any(base != 0) else 1.0
        self.scale = float(scale) if np.isfinite(scale) and scale > 0 else 1.0
        if warm is not None and (warm.item_cap.shape != (self.n_i,) or warm.creator_likes.shape != (self.n_c,)):
            raise ValueError("warm-start duals do not match the problem's items and creators")
        self.start = warm or Duals.zeros(self.n_i, self.n_c)
        self.tau = np.zeros(problem.n_users)
        self.price_threshold = np.full(problem.n_users, -np.inf)   # first pricing looks at every pair

    def _restrict(self, index: np.ndarray) -> None:
        """Iterate on the pairs in `index` only (the working set); certificates stay on all pairs."""
        self.index = index
        for name, values in self.full.items():
            setattr(self, name, values[index])

    def _scatter(self, x: np.ndarray) -> np.ndarray:
        full = np.zeros(self.p.n_pairs)
        full[self.index] = x
        return full

    # --- the dual function -------------------------------------------------------------------
    def _split(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return v[:self.n_i], v[self.n_i:2 * self.n_i], v[2 * self.n_i:]

    def _project_duals(self, v: np.ndarray) -> np.ndarray:
        lam, mu, nu = self._split(v)
        mu = np.where(self.floored, np.clip(mu, 0.0, self.p.floor_penalty), 0.0)
        return np.concatenate([np.maximum(lam, 0.0), mu, np.maximum(nu, 0.0)])

    def _scores(self, v: np.ndarray) -> np.ndarray:
        lam, mu, nu = self._split(v)
        return self.base + self.a * (mu - lam)[self.item] + self.like * nu[self.creator]

    def _value_and_gradient(self, v: np.ndarray, gamma: float) -> tuple[float, np.ndarray, np.ndarray]:
        lam, mu, nu = self._split(v)
        c = self._scores(v)
        x, tau = project_capped_box(c / gamma, self.user, self.p.user_capacity, self.tau)
        self.tau = tau
        exposure = _sum_by(self.item, self.a * x, self.n_i)
        likes = _sum_by(self.creator, self.like * x, self.n_c)
        margin = self.slope - nu[:, None]
        y = np.clip(margin / gamma, 0.0, self.width)
        value = (float(np.dot(c, x)) - 0.5 * gamma * float(np.dot(x, x)) + float(np.sum(margin * y))
                 - 0.5 * gamma * float(np.sum(y * y)) + float(np.dot(lam, self.p.item_cap))
                 - float(np.dot(mu, self.p.item_floor)))
        gradient = np.concatenate([self.p.item_cap - exposure,
                                   np.where(self.floored, exposure - self.p.item_floor, 0.0),
                                   likes - y.sum(axis=1)])
        return value, gradient, x

    # --- certificates --------------------------------------------------------------------------
    def upper_bound(self, v: np.ndarray, gamma: float) -> tuple[float, np.ndarray]:
        """The Lagrangian bound on the chord LP at duals v, over all pairs, and the working set.

        LP duality of each user's capped box gives max c.x <= k t + sum_p max(c_p - t, 0) for
        every t >= 0, tightest at t = the ceil(k)-th largest positive c of the user. So the bound
        holds for any duals in their domain and certifies every iterate. Pricing: only pairs
        scoring above the user's last threshold less a margin can hold that order statistic or
        enter a plan near these prices, so one pass over all pairs picks them, and only they are
        sorted. They are the working set the next iterations run on (the next check looks again).
        A user with fewer than ceil(k) of them keeps a lower threshold: valid, only looser, and
        its margin widens at the next check."""
        lam, mu, nu = self._split(v)
        f = self.full
        c = f["base"] + f["a"] * (mu - lam)[f["item"]] + f["like"] * nu[f["creator"]]
        floor = self.price_threshold - (self.s.working_margin * gamma + 0.05 * self.scale)
        candidates = np.flatnonzero((c > 0) & (c > floor[f["user"]]))
        users, scores = f["user"][candidates], c[candidates]
        order = np.lexsort((-scores, users))
        users, scores, candidates = users[order], scores[order], candidates[order]
        counts = np.bincount(users, minlength=self.p.n_users)
        starts = np.cumsum(counts) - counts
        rank = np.ceil(self.p.user_capacity - 1e-12).astype(np.int64)      # the ceil(k)-th largest
        t = np.maximum(floor, 0.0)                                         # fewer than ceil(k): stay below
        has = (rank >= 1) & (counts >= rank)
        t[has] = scores[starts[has] + rank[has] - 1]
        nothing_fits = (rank < 1) & (counts > 0)
        t[nothing_fits] = scores[starts[nothing_fits]]
        users_part = float(np.dot(self.p.user_capacity, t)) + float(np.sum(np.maximum(scores - t[users], 0.0)))
        creators = float(np.sum(self.width * np.maximum(self.slope - nu[:, None], 0.0)))
        bound = users_part + creators + float(np.dot(lam, self.p.item_cap)) - float(np.dot(mu, self.p.item_floor))
        # The working set: each user's best ceil(k) + extra pairs. Its last member's score sets
        # where the next pricing starts looking (users with fewer keep a lower floor).
        within = np.arange(users.size) - starts[users]
        keep = within < np.maximum(rank, 0)[users] + self.s.working_extra
        depth = np.maximum(rank, 0) + self.s.working_extra
        full_depth = counts >= depth
        self.price_threshold = np.maximum(floor, 0.0)
        self.price_threshold[full_depth] = scores[starts[full_depth] + depth[full_depth] - 1]
        return bound, np.sort(candidates[keep])

    def repair(self, x: np.ndarray) -> np.ndarray:
        """Scale x down until every user capacity and item cap holds exactly (floors are soft)."""
        x = np.clip(x, 0.0, 1.0)
        load = _sum_by(self.user, x, self.p.n_users)
        x = x * np.minimum(1.0, np.divide(self.p.user_capacity, load, out=np.ones_like(load), where=load > 0))[self.user]
        exposure = _sum_by(self.item, self.a * x, self.n_i)
        shrink = np.minimum(1.0, np.divide(self.p.item_cap, exposure, out=np.ones_like(exposure), where=exposure > 0))
        return x * shrink[self.item] * (1 - 1e-12)

    def chord_objective(self, x: np.ndarray) -> float:
        """The exact LP's objective: user value + w * piecewise-linear H - floor penalty."""
        likes = _sum_by(self.creator, self.like * x, self.n_c)
        before = np.cumsum(self.width, axis=1) - self.width
        filled = np.clip(likes[:, None] - before, 0.0, self.width)
        exposure = _sum_by(self.item, self.a * x, self.n_i)
        shortfall = np.maximum(self.p.item_floor - exposure, 0.0)
        return (float(np.dot(self.base, x)) + float(np.sum(self.slope * filled))
                - self.p.floor_penalty * float(shortfall.sum()))

    # --- the iteration -------------------------------------------------------------------------
    def run(self) -> AllocationResult:
        started = time.perf_counter()
        s = self.s
        gamma = s.ridge * self.scale
        v = self._project_duals(_stack(self.start))
        # The dual gradient is Lipschitz with ||A||^2 / gamma (A: the dualised rows); a fixed step
        # of 1/L needs one evaluation per iteration, where backtracking would need two.
        norm_a = self._operator_norm_squared()
        step = gamma / norm_a
        momentum_point, previous, t_k = v.copy(), v.copy(), 1.0
        value, gradient, x = self._value_and_gradient(momentum_point, gamma)
        best_x, best_primal, best_bound = self._scatter(self.repair(x)), -np.inf, np.inf
        trace: list[TracePoint] = []
        iterations, stage_best, stall = 0, np.inf, 0
        status = Status.MAX_ITER
        while iterations < s.max_iterations:
            iterations += 1
            # Backtracking on the quadratic upper model of g around the momentum point: the global
            # 1/L step from ||A||^2 is safe but far shorter than the local curvature allows.
            while True:
                candidate = self._project_duals(momentum_point - step * gradient)
                cand_value, _, cand_x = self._value_and_gradient(candidate, gamma)
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
            previous, t_k, x = candidate, t_next, cand_x
            value, gradient, _ = self._value_and_gradient(momentum_point, gamma)
            step *= s.step_growth
            if iterations % s.check_every == 0 or iterations == s.max_iterations:
                repaired = self.repair(x)
                primal = self.chord_objective(repaired)
                bound, working = self.upper_bound(previous, gamma)
                if primal > best_primal:
                    best_primal, best_x = primal, self._scatter(repaired)
                best_bound = min(best_bound, bound)
                gap = (best_bound - best_primal) / max(1.0, abs(best_bound))
                trace.append(TracePoint(iterations, time.perf_counter() - started, best_primal, best_bound,
                                        gap, self._violation(repaired)))
                if gap <= s.gap_tolerance:
                    status = Status.CONVERGED
                    break
                if time.perf_counter() - started > s.time_limit_seconds:
                    break
                # Pairs in today's plan stay in the working set (dropping them would let the iterate
                # cycle between sets); a set that is not much smaller than all pairs is all pairs.
                working = np.union1d(working, self.index[x > 0])
                if working.size >= s.working_share * self.p.n_pairs:
                    working = np.arange(self.p.n_pairs)
                if not np.array_equal(working, self.index):
                    self._restrict(working)
                    value, gradient, _ = self._value_and_gradient(momentum_point, gamma)
                progress = best_bound
                # continuation: when the bound stops improving at this ridge, shrink the ridge
                if progress < stage_best - 1e-4 * s.gap_tolerance * max(1.0, abs(progress)):
                    stage_best, stall = progress, 0
                else:
                    stall += 1
                if stall >= 3 and gamma > s.min_ridge * self.scale:
                    gamma /= s.ridge_decay
                    step = gamma / norm_a
                    stall, stage_best, t_k = 0, np.inf, 1.0
                    momentum_point = previous.copy()
                    value, gradient, _ = self._value_and_gradient(momentum_point, gamma)
        final = self._split(previous)
        return self._result(best_x, best_primal, best_bound, status, iterations, started, trace,
                            Duals(final[0].copy(), final[1].copy(), final[2].copy()), gamma)

    def _operator_norm_squared(self, steps: int = 20) -> float:
        """||A||^2 by power iteration on A^T A (A maps x to item exposure, floored exposure and
        creator likes), with a safety margin because power iteration approaches from below."""
        floored = self.floored.astype(float)
        x = np.random.default_rng(0).random(self.p.n_pairs) + 0.5
        estimate = 1.0
        for _ in range(steps):
            exposure = _sum_by(self.item, self.a * x, self.n_i)
            likes = _sum_by(self.creator, self.like * x, self.n_c)
            back = self.a * (exposure * (1.0 + floored))[self.item] + self.like * likes[self.creator]
            norm = float(np.linalg.norm(back))
            if norm == 0.0:
                return 1.0
            estimate = norm / max(float(np.linalg.norm(x)), 1e-300)
            x = back / norm
        return 1.5 * estimate + 1e-12

    def _violation(self, x: np.ndarray) -> float:
        load = _sum_by(self.user, x, self.p.n_users)
        exposure = _sum_by(self.item, self.a * x, self.n_i)
        return float(max(np.max(load - self.p.user_capacity, initial=0.0),
                         np.max(exposure - self.p.item_cap, initial=0.0), 0.0))

    def _result(self, x: np.ndarray, primal: float, bound: float, status: Status, iterations: int,
                started: float, trace: list[TracePoint], duals: Duals, gamma: float) -> AllocationResult:
        p = self.p
        exposure = p.item_exposure(x)
        new_likes = p.creator_new_likes(x)
        curve = p.curve
        seconds = time.perf_counter() - started
        gap = (bound - primal) / max(1.0, abs(bound))
        line = (f"dual: {p.n_pairs} pairs, status={status.value}, objective={primal:.6g}, bound={bound:.6g}, "
                f"gap={gap:.2e}, iterations={iterations}, ridge={gamma:.2e}, {seconds:.2f}s")
        LOG.info(line)
        return AllocationResult(
            x=x, item_exposure=exposure,
            item_floor_slack=np.where(self.floored, np.maximum(p.item_floor - exposure, 0.0), 0.0),
            item_shadow_price=duals.item_cap, creator_new_likes=new_likes,
            creator_happiness_gain=curve.value(p.creator_base_likes + new_likes) - curve.value(p.creator_base_likes),
            creator_marginal_value=p.creator_weight * curve.derivative(p.creator_base_likes + new_likes),
            status=status, solver="dual", objective=primal, bound=bound, true_objective=p.objective(x),
            iterations=iterations, seconds=seconds, log=(line,), trace=tuple(trace), duals=duals)
