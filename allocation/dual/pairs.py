"""Where the pairs are: one protocol for the iteration, the numpy kernel over a block of pairs,
and the in-process implementation.

The iteration asks the pairs for a few things per step (the regularised plan's sums at given
prices, a certificate at a check) and gets back O(items + creators). `LocalPairs` answers from
numpy arrays here; `jobs.steps.allocate.dual_on_spark.SparkPairs` answers from pair blocks on Spark executors,
running the same kernel (`pair_scores`, `plan_sums`, `plan_totals`) on each block.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from allocation.dual.arrays import sum_by
from allocation.dual.bound import UserPricing, capped_box_bound
from allocation.dual.projection import (
    fill_rooms,
    project_capped_box,
    project_nested,
    scale_to_capacity,
    user_excess,
)
from allocation.dual.sides import Sides, all_fitted
from allocation.problem import AllocationProblem


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


def refill_want(x: np.ndarray, worth: np.ndarray, a: np.ndarray, item: np.ndarray,
                item_room: np.ndarray) -> np.ndarray:
    """The most each pair may add to a repaired plan: up to 1, and no more than its item (creator,
    budget) has room for, on pairs worth showing (worth > 0). In the usual rounds a pair's worth is
    its value a v and the room is every limit's: adding exposure never lowers the objective
    (happiness rises with likes, a floor's shortfall only shrinks), so the refill can only improve
    the plan. In the floor round it is a v + a * penalty and the room is the floor's shortfall
    (`Sides.floor_room`): a pair of negative value still earns the penalty back up to the floor."""
    limit = np.divide(item_room[item], a, out=np.full(a.shape, np.inf), where=a > 0)
    return np.where(worth > 0, np.clip(np.minimum(1.0 - x, limit), 0.0, None), 0.0)


def refill_worth(base: np.ndarray, a: np.ndarray, penalty: float, floor_round: bool) -> np.ndarray:
    """What `refill_want` weighs a pair by in a round: its value, plus in a floor round the
    penalty each unit of exposure it gives an item short of its floor saves."""
    return base + a * penalty if floor_round else base


def refill_kinds(floored: bool) -> tuple[bool, ...]:
    """The repair's kinds of refill round, each True for a floor round: the usual rounds first,
    then (where an item has a floor) the floor rounds, which so take only room that no pair worth
    showing for itself wanted."""
    return (False, True) if floored else (False,)


def plan_totals(x: np.ndarray, weight: np.ndarray, a: np.ndarray, like: np.ndarray, item: np.ndarray,
                creator: np.ndarray, n_items: int, n_creators: int, value: float | None = None) -> PairSums:
    """A plan's weight.x (or the given value), exposure per item and likes per creator."""
    return PairSums(float(np.dot(weight, x)) if value is None else value,
                    sum_by(item, a * x, n_items), sum_by(creator, like * x, n_creators))



@dataclass(frozen=True)
class PairArrays:
    """The pair columns the kernel reads: availability a, base = a v, like = a p, the item, its
    creator, the user, and (with category caps) the user-and-category group of each pair."""

    a: np.ndarray
    base: np.ndarray
    like: np.ndarray
    item: np.ndarray
    creator: np.ndarray
    user: np.ndarray
    group: np.ndarray | None = None

    @classmethod
    def of(cls, problem: AllocationProblem, group: np.ndarray | None = None) -> PairArrays:
        a = problem.pair_availability
        return cls(a, a * problem.pair_value, a * problem.pair_like, problem.pair_item,
                   problem.item_creator[problem.pair_item], problem.pair_user, group)

    def take(self, index: np.ndarray) -> PairArrays:
        return PairArrays(*(None if values is None else values[index] for values in
                            (self.a, self.base, self.like, self.item, self.creator, self.user, self.group)))


class LocalPairs:
    """The pairs as numpy arrays in this process. Iterates on a working set: each check prices all
    pairs and adds each user's best ceil(k) + `working_extra` to the set (the first check picks
    them from all pairs); a set not at least `working_share` smaller than all pairs is all pairs."""

    def __init__(self, problem: AllocationProblem, sides: Sides, working_extra: int = 2,
                 working_share: float = 0.6, refill_rounds: int = 3) -> None:
        self.problem, self.sides = problem, sides
        self.working_extra, self.working_share, self.refill_rounds = working_extra, working_share, refill_rounds
        self.capacity = problem.user_capacity
        group, self.group_cap = problem.pair_groups() if problem.has_category_caps else (None, None)
        self.all = PairArrays.of(problem, group)
        self.index = np.arange(problem.n_pairs)       # the working set, as positions in `all`
        self.picked = False                           # whether a check has picked the working set
        self.working = self.all
        self.tau: object = None      # the projection's thresholds, warm-starting the next
        self.price_threshold = np.full(problem.n_users, -np.inf)   # first pricing looks at every pair
        self.repaired = np.zeros(problem.n_pairs)     # the last check's plan, made feasible
        self.best_x = np.zeros(problem.n_pairs)       # the repaired plan of the best check so far

    def typical_value(self) -> float:
        base = self.all.base
        scale = np.median(np.abs(base[base != 0])) if np.any(base != 0) else 1.0
        return float(scale) if np.isfinite(scale) and scale > 0 else 1.0

    def operator_norm_squared(self, floored: np.ndarray, steps: int = 20) -> float:
        """||A||^2 by power iteration on A^T A (A maps x to item exposure, floored exposure and
        creator likes), with a safety margin because power iteration approaches from below."""
        weight = 1.0 + floored.astype(float)
        n_i, n_c = self.sides.n_items, self.sides.n_creators
        w = self.working
        x = np.random.default_rng(0).random(w.a.size) + 0.5
        estimate = 1.0
        for _ in range(steps):
            exposure = sum_by(w.item, w.a * x, n_i)
            likes = sum_by(w.creator, w.like * x, n_c)
            back = w.a * (exposure * weight)[w.item] + w.like * likes[w.creator]
            norm = float(np.linalg.norm(back))
            if norm == 0.0:
                return 1.0
            estimate = norm / max(float(np.linalg.norm(x)), 1e-300)
            x = back / norm
        return 1.5 * estimate + 1e-12

    def evaluate(self, item_price: np.ndarray, nu: np.ndarray, gamma: float) -> tuple[PairSums, object]:
        w = self.working
        c = pair_scores(w.base, w.a, w.like, w.item, w.creator, item_price, nu)
        sums, x, self.tau = plan_sums(c, w.a, w.like, w.item, w.creator, w.user, self.capacity, gamma,
                                      self.sides.n_items, self.sides.n_creators, self.tau, w.group, self.group_cap)
        return sums, x

    def certify(self, item_price: np.ndarray, nu: np.ndarray, gamma: float, plan: object,
                margin: float) -> Certificate:
        """The bound priced on all pairs (only those near each user's last threshold are sorted; they
        become the working set), and the last plan repaired: scaled down to every cap, then refilled
        where room is left, and last where an item is short of its floor."""
        w, f = self.working, self.all
        n_items = self.sides.n_items
        x = scale_to_capacity(np.asarray(plan), w.user, self.capacity, w.group, self.group_cap)
        self.repaired = np.zeros(self.problem.n_pairs)
        self.repaired[self.index] = x * self.sides.exposure_shrink(sum_by(w.item, w.a * x, n_items))[w.item]
        c = pair_scores(f.base, f.a, f.like, f.item, f.creator, item_price, nu)
        floor = self.price_threshold - margin
        pricing = capped_box_bound(c, f.user, self.capacity, floor, f.group, self.group_cap, self.working_extra)
        # the refill looks at all pairs: a user's idle room is often in a category its working set lacks;
        # without category caps the pricing's candidates are each user's best pairs, already sorted
        ranked = pricing.candidates if f.group is None else None
        exposure = sum_by(f.item, f.a * self.repaired, n_items)
        for floor_round in refill_kinds(bool(self.sides.floored.any())):
            for _ in range(max(self.refill_rounds, 1)):
                exposure, fitted = self._refill(c, ranked, floor_round, exposure)
                if fitted:
                    break
        self._next_working_set(pricing, floor, np.asarray(plan))
        totals = plan_totals(self.repaired, f.base, f.a, f.like, f.item, f.creator,
                             self.sides.n_items, self.sides.n_creators)
        changed = self.working is not w
        return Certificate(pricing.bound, totals.value, totals.exposure, totals.likes,
                           user_excess(self.repaired, f.user, self.capacity, f.group, self.group_cap), changed)

    def _refill(self, c: np.ndarray, ranked: np.ndarray | None, floor_round: bool,
                exposure: np.ndarray) -> tuple[np.ndarray, bool]:
        """One refill round of the repaired plan, whose items have this exposure: the exposure
        after it, and whether every item kept all that was added (then another round of the same
        kind would add nothing)."""
        f = self.all
        room = self.sides.floor_room(exposure) if floor_round else self.sides.item_room(exposure)
        if not room.any():
            return exposure, True
        if floor_round:        # only the pairs of items short of their floor: a few percent of a night's
            at = np.flatnonzero(room[f.item] > 0)
            added = self._floor_additions(at, c, room)
        else:
            at = slice(None)
            want = refill_want(self.repaired, f.base, f.a, f.item, room)
            added = fill_rooms(self.repaired, c, want, f.user, self.capacity, f.group, self.group_cap, ranked)
        item = f.item[at]
        added_exposure = sum_by(item, f.a[at] * added, self.sides.n_items)
        share = (self.sides.floor_share if floor_round else self.sides.addition_shrink)(exposure, added_exposure)
        self.repaired[at] += added * share[item]
        return exposure + share * added_exposure, all_fitted(share, added_exposure)

    def _floor_additions(self, at: np.ndarray, c: np.ndarray, room: np.ndarray) -> np.ndarray:
        """What a floor round adds to the pairs `at` (those of the items short of their floor),
        computed on them alone: each user's and category's room is what all its pairs leave."""
        f, x = self.all, self.repaired
        short = f.take(at)
        want = refill_want(x[at], refill_worth(short.base, short.a, self.sides.floor_penalty, True), short.a,
                           short.item, room)

        def left_by_the_others(owner: np.ndarray, short_owner: np.ndarray, cap: np.ndarray) -> np.ndarray:
            return cap - sum_by(owner, x, cap.shape[0]) + sum_by(short_owner, x[at], cap.shape[0])

        capacity = left_by_the_others(f.user, short.user, self.capacity)
        group_cap = None if f.group is None else left_by_the_others(f.group, short.group, self.group_cap)
        return fill_rooms(x[at], c[at], want, short.user, capacity, short.group, group_cap)

    def _next_working_set(self, pricing: UserPricing, floor: np.ndarray, plan: np.ndarray) -> None:
        """Each user's best ceil(k) + extra pairs. Its last member's score sets where the next
        pricing starts looking (users with fewer keep their floor)."""
        candidates, scores, counts = pricing.candidates, pricing.scores, pricing.counts
        users = self.all.user[candidates]
        starts = np.cumsum(counts) - counts
        depth = np.maximum(np.ceil(self.capacity - 1e-12).astype(np.int64), 0) + self.working_extra
        keep = np.arange(users.size) - starts[users] < depth[users]
        full_depth = counts >= depth
        # A user whose candidates did not fill its capacity got t = the floor, a loose bound: the
        # next pricing looks at all its positive pairs. Nor may the floor pass a user's level t_u
        # (with category caps the depth-th candidate can lie above it).
        threshold = np.maximum(floor, 0.0)
        threshold[full_depth] = scores[starts[full_depth] + depth[full_depth] - 1]
        self.price_threshold = np.where(pricing.filled, np.minimum(threshold, pricing.level), 0.0)
        # After the first pick the set only grows. The smoothed dual on a set that lacks pairs lies
        # below the true one, so a set that follows each check's best pairs lets the iterate chase
        # a different function every check and cycle (a 20,000-user night: 5,000 iterations and
        # 12% short of the optimum); a growing set stops changing after finitely many checks. A
        # set that is not much smaller than all pairs is all pairs.
        member = np.zeros(self.problem.n_pairs, dtype=bool)     # a union by mask: sorted, and no sort
        member[self.index if self.picked else self.index[plan > 0]] = True
        member[candidates[keep]] = True
        working = np.flatnonzero(member)
        self.picked = True
        if working.size >= self.working_share * self.problem.n_pairs:
            working = np.arange(self.problem.n_pairs)
        if not np.array_equal(working, self.index):
            self.index, self.working = working, self.all.take(working)

    def keep_best(self) -> None:
        self.best_x = self.repaired
