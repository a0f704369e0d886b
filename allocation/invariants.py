"""The model's invariants, as array checks shared by the solvers' tests and the publish audit.

Each check returns the largest violation (0.0 when it holds), so an audit can report by how much
a plan is off, not just that it is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocation.problem import AllocationProblem


@dataclass(frozen=True)
class InvariantResult:
    name: str
    max_violation: float
    tolerance: float

    @property
    def success(self) -> bool:
        return self.max_violation <= self.tolerance


def probability_range(x: np.ndarray, tolerance: float = 1e-9) -> InvariantResult:
    x = np.asarray(x, dtype=float)
    worst = float(max(np.max(-x, initial=0.0), np.max(x - 1.0, initial=0.0), 0.0)) + 0.0 if x.size else 0.0
    if x.size and not np.all(np.isfinite(x)):
        worst = float("inf")
    return InvariantResult("x in [0, 1]", worst, tolerance)


def user_capacity(pair_user: np.ndarray, x: np.ndarray, capacity: np.ndarray,
                  tolerance: float = 1e-6) -> InvariantResult:
    load = np.bincount(pair_user, weights=x, minlength=capacity.size)
    return InvariantResult("sum_i x_ui <= k_u", float(np.max(load - capacity, initial=0.0)), tolerance)


def item_cap(pair_item: np.ndarray, exposure: np.ndarray, cap: np.ndarray,
             tolerance: float = 1e-6) -> InvariantResult:
    load = np.bincount(pair_item, weights=exposure, minlength=cap.size)
    return InvariantResult("sum_u a_u x_ui <= cap_i", float(np.max(load - cap, initial=0.0)), tolerance)


def selected_within_capacity(pair_user: np.ndarray, selected: np.ndarray, capacity: np.ndarray,
                             name: str = "selected per user <= k_u") -> InvariantResult:
    """Whole picks against a cap; a fractional cap allows its ceiling (the most a rounding of a
    plan within the cap can pick)."""
    picks = np.bincount(pair_user, weights=selected.astype(float), minlength=capacity.size)
    return InvariantResult(name, float(np.max(picks - np.ceil(capacity - 1e-9), initial=0.0)), 0.0)


def optional_constraints(problem: AllocationProblem, x: np.ndarray, tolerance: float = 1e-6) -> InvariantResult:
    """Diversity caps, creator caps and the budget (with capacities and item caps: the problem's
    own worst excess)."""
    return InvariantResult("category caps, creator caps, budget", problem.max_violation(x), tolerance)
