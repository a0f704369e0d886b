"""The policies fairshot is judged against, on the same candidates and capacities as its own plan.

A policy turns an `AllocationProblem` into a plan x. Comparing them is what tells whether the
creator-side model earns its keep: the user-side baseline is what an ordinary feed does, the
linear creator-side plan isolates what capacities and caps alone do, and fairshot adds the concave
happiness term and the exploration floors on top.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from allocation.errors import AllocationError
from allocation.problem import AllocationProblem, AllocationResult

USER_SIDE = "user_side"
CREATOR_LINEAR = "creator_linear"
FAIRSHOT = "fairshot"


@dataclass(frozen=True)
class PolicyPlan:
    policy: str
    creator_weight: float | None
    x: np.ndarray | None
    seconds: float
    result: AllocationResult | None = None
    error: str = ""          # why the solver gave no plan for this variant (x is None then)


def user_side_top_k(problem: AllocationProblem) -> np.ndarray:
    """Each user gets their k_u candidates of highest expected user value, as a normal feed serves
    them: no creator term, no floors, no item caps. A fractional k_u serves the next pair in part."""
    value = problem.pair_expected_exposure(np.ones(problem.n_pairs)) * problem.pair_value
    order = np.lexsort((np.arange(problem.n_pairs), -value, problem.pair_user))
    users = problem.pair_user[order]
    starts = np.r_[0, np.flatnonzero(users[1:] != users[:-1]) + 1] if users.size else np.zeros(0, np.int64)
    first_of_user = np.repeat(starts, np.diff(np.r_[starts, users.size]))
    rank = np.arange(users.size) - first_of_user
    x = np.empty(problem.n_pairs)
    x[order] = np.clip(problem.user_capacity[users] - rank, 0.0, 1.0)
    return x


def linear_creator_side(problem: AllocationProblem) -> AllocationProblem:
    """The optimiser with no creator happiness and no floors: user value under capacities and caps."""
    return dataclasses.replace(problem, creator_weight=0.0, floor_penalty=0.0,
                               item_floor=np.zeros(problem.n_items))


def with_creator_weight(problem: AllocationProblem, weight: float) -> AllocationProblem:
    return dataclasses.replace(problem, creator_weight=float(weight))


def run_policies(problem: AllocationProblem, solver: object, sweep_weights: tuple[float, ...] = (), *,
                 weight: float | None = None, lambda_of: Callable[[float], float] = float) -> list[PolicyPlan]:
    """The baseline, the linear creator-side plan, fairshot, and fairshot at each sweep weight.

    Weights are in the config's units (`weight` is the one `problem` was built with); `lambda_of`
    turns one into the objective's lambda (by default they are lambdas). Plans are labelled with
    the weight, so a reader sees the number they configured. `solver` is anything with
    `solve(problem) -> AllocationResult`. A variant the solver fails on is returned with its error
    and no plan, so one bad weight of a sweep costs one row, not the whole comparison."""
    started = time.perf_counter()
    main_weight = problem.creator_weight if weight is None else float(weight)
    plans = [PolicyPlan(USER_SIDE, None, user_side_top_k(problem), time.perf_counter() - started)]
    for name, label, variant in (
            (CREATOR_LINEAR, 0.0, linear_creator_side(problem)), (FAIRSHOT, main_weight, problem),
            *((f"{FAIRSHOT}_w={w:g}", float(w), with_creator_weight(problem, lambda_of(w))) for w in sweep_weights)):
        if variant.creator_weight == problem.creator_weight and variant is not problem and name != CREATOR_LINEAR:
            # the sweep's point at the configured weight is fairshot's own problem: the same plan,
            # not a second solve of it (one LP of the demo's nine)
            fairshot = next(p for p in plans if p.policy == FAIRSHOT)
            plans.append(dataclasses.replace(fairshot, policy=name, creator_weight=label))
            continue
        started = time.perf_counter()
        try:
            result = solver.solve(variant)  # type: ignore[attr-defined]
        except AllocationError as error:
            plans.append(PolicyPlan(name, label, None, time.perf_counter() - started,
                                    error=f"{type(error).__name__}: {error}"))
            continue
        plans.append(PolicyPlan(name, label, result.x, result.seconds, result))
    return plans
