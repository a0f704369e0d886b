"""The item and creator side of the dual: the coupling rows the solver prices.

Item caps (lambda), item floors (mu), the creator-likes definition (nu), creator exposure caps
(rho) and the global budget (beta) are the constraints that tie users together, so they are the
ones dualised. What the iteration holds about them is O(items + creators), wherever the pairs are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocation.dual.arrays import sum_by
from allocation.problem import AllocationProblem


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
        return self.addition_shrink(np.zeros_like(exposure), exposure)

    def addition_shrink(self, exposure: np.ndarray, added: np.ndarray) -> np.ndarray:
        """Per-item factors f such that `exposure + f * added` fits the item caps, the creator caps
        and the budget, given that `exposure` already does: what is left of each limit is shared
        among the additions in the same order (items, creators, budget)."""
        creator_exposure = sum_by(self.item_creator, exposure, self.n_creators)
        item = cap_shrink(added, np.maximum(self.item_cap - exposure, 0.0))
        creator = cap_shrink(sum_by(self.item_creator, item * added, self.n_creators),
                             np.maximum(self.creator_cap - creator_exposure, 0.0))
        factor = item * creator[self.item_creator]
        total = float(np.dot(factor, added))
        return factor * (cap_shrink(np.array([total]), np.array([max(self.budget - float(exposure.sum()), 0.0)]))[0])

    def item_room(self, exposure: np.ndarray) -> np.ndarray:
        """How much more exposure each item could take alone, given a plan with this exposure: the
        least of the room under its cap, its creator's cap and the budget (0 within rounding)."""
        creator_exposure = sum_by(self.item_creator, exposure, self.n_creators)
        room = np.minimum(_room(self.item_cap, exposure), _room(self.creator_cap, creator_exposure)[self.item_creator])
        return np.minimum(room, _room(np.array([self.budget]), np.array([exposure.sum()]))[0])

    def floor_room(self, exposure: np.ndarray) -> np.ndarray:
        """How much more exposure each item below its floor may take in the repair's floor round:
        its shortfall, and no more than its room (0 on items at their floor or without one). Up to
        the shortfall, each unit of exposure earns the floor's penalty back."""
        return np.minimum(self.item_room(exposure), _room(self.item_floor, exposure))

    def floor_share(self, exposure: np.ndarray, added: np.ndarray) -> np.ndarray:
        """`addition_shrink` for the floor round, each item's addition also held to its shortfall:
        past the floor, a pair shown only for the floor's sake loses what it costs."""
        shortfall = np.maximum(self.item_floor - exposure, 0.0)
        return np.minimum(self.addition_shrink(exposure, added), cap_shrink(added, shortfall))

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


def cap_shrink(exposure: np.ndarray, item_cap: np.ndarray) -> np.ndarray:
    """Per-row factors that bring sums under their caps (with a hair of room for rounding)."""
    return np.minimum(1.0, np.divide(item_cap, exposure, out=np.ones_like(exposure), where=exposure > 0)) \
        * (1 - 1e-12)


def all_fitted(share: np.ndarray, added: np.ndarray) -> bool:
    """Whether every item a refill round added exposure to kept all of it (its share is 1 but for
    cap_shrink's hair): then no pair was denied room, and another round would add nothing."""
    return bool(np.all(share[added > 0] >= 1 - 1e-9))


def _room(cap: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Room left under each cap, 0 when within rounding of it (an infinite cap has infinite room)."""
    room = cap - used
    return np.where(room > 1e-9 * np.maximum(1.0, np.where(np.isfinite(cap), cap, 1.0)), room, 0.0)
