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


def cap_shrink(exposure: np.ndarray, item_cap: np.ndarray) -> np.ndarray:
    """Per-row factors that bring sums under their caps (with a hair of room for rounding)."""
    return np.minimum(1.0, np.divide(item_cap, exposure, out=np.ones_like(exposure), where=exposure > 0)) \
        * (1 - 1e-12)
