"""Solvers by name, so config can pick one without `jobs` knowing the classes."""
from __future__ import annotations

from typing import Any, Protocol
from collections.abc import Callable

from allocation.lp import LPSolver
from allocation.problem import AllocationProblem, AllocationResult


class Solver(Protocol):
    def solve(self, problem: AllocationProblem) -> AllocationResult: ...


_REGISTRY: dict[str, Callable[..., Solver]] = {"exact": LPSolver}


def make_solver(name: str, **params: Any) -> Solver:
    if name not in _REGISTRY:
        raise ValueError(f"unknown solver {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name](**params)


def solver_names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))
