"""Solvers by name, so config can pick one without `jobs` knowing the classes."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SolverChoice:
    """A solver's name and why it was chosen, in words the run ledger keeps (`solver_reason`):
    an analyst asking why last night ran the dual solver reads the answer beside the plan."""

    name: str
    reason: str


def choose_solver(requested: str, n_pairs: int, dual_above_pairs: int) -> SolverChoice:
    """`auto` keeps the exact LP up to `dual_above_pairs` pairs and the dual solver above it. The
    default (200,000) lies between the largest night at which the LP was measured the faster on
    every shape (100k pairs) and the smallest at which the dual solver was (1M; docs/solvers.md).
    Any other name is taken as is."""
    if requested != "auto":
        return SolverChoice(requested, f"allocation.solver={requested}")
    if n_pairs > dual_above_pairs:
        return SolverChoice("dual", f"auto: {n_pairs:,} pairs, above allocation.dual_above_pairs={dual_above_pairs:,}")
    return SolverChoice("exact", f"auto: {n_pairs:,} pairs, at most allocation.dual_above_pairs={dual_above_pairs:,}")


def solver_names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))
