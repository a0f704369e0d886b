"""Solvers by name, so config can pick one without `jobs` knowing the classes."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from allocation.dual import DualSolver
from allocation.lp import LPSolver
from allocation.problem import AllocationProblem, AllocationResult, Duals


class Solver(Protocol):
    """What the nightly job needs of a solver. `uses_warm_start` says whether `warm_start`
    (yesterday's prices) shapes the answer, so that it belongs in the run's input fingerprint."""

    uses_warm_start: ClassVar[bool]

    def solve(self, problem: AllocationProblem, warm_start: Duals | None = None) -> AllocationResult: ...


_REGISTRY: dict[str, Callable[..., Solver]] = {"exact": LPSolver, "dual": DualSolver}


def make_solver(name: str, **params: Any) -> Solver:
    if name not in _REGISTRY:
        raise ValueError(f"unknown solver {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name](**params)


def choose_solver(requested: str, n_pairs: int, dual_above_pairs: int) -> str:
    """`auto` picks the exact LP below `dual_above_pairs` pairs (where it is fast and exact) and the
    dual solver above it; any other name is taken as is."""
    if requested != "auto":
        return requested
    return "dual" if n_pairs > dual_above_pairs else "exact"


def solver_names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))
