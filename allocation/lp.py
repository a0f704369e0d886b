"""The exact solver: the allocation LP in OR-Tools' linear solver (GLOP by default).

It is the reference the faster solvers are checked against, so it states the model as plainly as
possible: one variable per pair, one floor slack per floored item, one variable per creator
happiness segment. Concave H means the segment slopes fall, so maximisation fills segments in
order without integrality.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from allocation.errors import SolverFailedError
from allocation.problem import AllocationProblem, AllocationResult, Duals, Status, TracePoint

LOG = logging.getLogger(__name__)
BACKENDS: tuple[str, ...] = ("GLOP", "PDLP", "CLP", "HIGHS_LP")


@dataclass
class LPSolver:
    """`solve(problem) -> AllocationResult` through one of OR-Tools' LP backends."""

    backend: str = "GLOP"
    time_limit_seconds: float = 600.0

    uses_warm_start = False         # a simplex/PDLP solve from scratch: yesterday's prices are not used

    def solve(self, problem: AllocationProblem, warm_start: Duals | None = None) -> AllocationResult:
        if self.backend not in BACKENDS:
            raise ValueError(f"LP backend {self.backend!r} is not one of {BACKENDS}")
        started = time.perf_counter()
        if problem.n_pairs == 0:
            return self._nothing_to_plan(problem, started)
        solver = pywraplp.Solver.CreateSolver(self.backend)
        if solver is None:
            raise SolverFailedError(f"OR-Tools backend {self.backend} is not available in this build")
        solver.SetTimeLimit(int(self.time_limit_seconds * 1000))
        infinity = solver.infinity()
        availability = problem.pair_availability
        x = [solver.NumVar(0.0, 1.0, "") for _ in range(problem.n_pairs)]

        user_rows = [solver.Constraint(-infinity, float(k)) for k in problem.user_capacity]
        cap_rows = [solver.Constraint(-infinity, float(c)) for c in problem.item_cap]
        floored = np.flatnonzero(problem.item_floor > 0)
        floor_rows: dict[int, pywraplp.Constraint] = {}
        slack: dict[int, pywraplp.Variable] = {}
        for item in floored:
            row = solver.Constraint(float(problem.item_floor[item]), infinity)
            slack[item] = solver.NumVar(0.0, infinity, "")
            row.SetCoefficient(slack[item], 1.0)
            floor_rows[item] = row
        # The optional constraints: rows only where a limit is finite.
        group, group_cap = problem.pair_groups() if problem.has_category_caps else (None, np.zeros(0))
        group_rows = {g: solver.Constraint(-infinity, float(c)) for g, c in enumerate(group_cap) if np.isfinite(c)}
        creator_rows = {c: solver.Constraint(-infinity, float(cap))
                        for c, cap in enumerate(problem.creator_cap) if np.isfinite(cap)}
        budget_row = (solver.Constraint(-infinity, problem.exposure_budget)
                      if np.isfinite(problem.exposure_budget) else None)
        # likes_c - sum_k y_ck = 0: the segments carry exactly the creator's expected new likes.
        like_rows = [solver.Constraint(0.0, 0.0) for _ in range(problem.n_creators)]
        objective = solver.Objective()
        objective.SetMaximization()
        weight = problem.creator_weight
        for creator in range(problem.n_creators):
            for width, slope in zip(problem.segment_width[creator], problem.segment_slope[creator]):
                if width <= 0:
                    continue
                y = solver.NumVar(0.0, float(width), "")
                like_rows[creator].SetCoefficient(y, -1.0)
                objective.SetCoefficient(y, weight * float(slope))
        for var in slack.values():
            objective.SetCoefficient(var, -problem.floor_penalty)

        pair_creator = problem.item_creator[problem.pair_item]
        for p, var in enumerate(x):
            a = float(availability[p])
            item = int(problem.pair_item[p])
            objective.SetCoefficient(var, a * float(problem.pair_value[p]))
            user_rows[problem.pair_user[p]].SetCoefficient(var, 1.0)
            cap_rows[item].SetCoefficient(var, a)
            if item in floor_rows:
                floor_rows[item].SetCoefficient(var, a)
            like_rows[pair_creator[p]].SetCoefficient(var, a * float(problem.pair_like[p]))
            if group is not None and int(group[p]) in group_rows:
                group_rows[int(group[p])].SetCoefficient(var, 1.0)
            if int(pair_creator[p]) in creator_rows:
                creator_rows[int(pair_creator[p])].SetCoefficient(var, a)
            if budget_row is not None:
                budget_row.SetCoefficient(var, a)

        built = time.perf_counter()
        code = solver.Solve()
        if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
            names = {pywraplp.Solver.INFEASIBLE: "infeasible", pywraplp.Solver.UNBOUNDED: "unbounded",
                     pywraplp.Solver.ABNORMAL: "abnormal", pywraplp.Solver.NOT_SOLVED: "not solved"}
            raise SolverFailedError(
                f"{self.backend} ended {names.get(code, code)} on {problem.n_pairs} pairs")
        solution = np.clip(np.fromiter((v.solution_value() for v in x), float, problem.n_pairs), 0.0, 1.0)
        exposure = problem.item_exposure(solution)
        floor_slack = np.zeros(problem.n_items)
        floor_slack[floored] = np.maximum(problem.item_floor[floored] - exposure[floored], 0.0)
        new_likes = problem.creator_new_likes(solution)
        curve = problem.curve
        gain = curve.value(problem.creator_base_likes + new_likes) - curve.value(problem.creator_base_likes)
        seconds = time.perf_counter() - started
        value = objective.Value()
        status = Status.OPTIMAL if code == pywraplp.Solver.OPTIMAL else Status.TIME_LIMIT
        bound = value if status is Status.OPTIMAL else objective.BestBound()
        gap = abs(bound - value) / max(1.0, abs(bound))
        violation = problem.max_violation(solution)
        duals = _row_duals(problem, cap_rows, floor_rows, like_rows, creator_rows, budget_row)
        line = (f"{self.backend}: {problem.n_pairs} pairs, status={status.value}, objective={value:.6g}, "
                f"build={built - started:.2f}s solve={seconds - (built - started):.2f}s")
        LOG.info(line)
        return AllocationResult(
            x=solution,
            item_exposure=exposure,
            item_floor_slack=floor_slack,
            item_shadow_price=duals.item_cap,
            creator_new_likes=new_likes,
            creator_happiness_gain=gain,
            creator_marginal_value=weight * curve.derivative(problem.creator_base_likes + new_likes),
            status=status,
            solver=f"exact:{self.backend}",
            objective=value,
            bound=bound,
            true_objective=problem.objective(solution),
            iterations=int(solver.iterations()),
            seconds=seconds,
            log=(line,),
            # Simplex reports no bound along the way: one point, at the end.
            trace=(TracePoint(int(solver.iterations()), seconds, value, bound, gap, violation),),
            duals=duals,
        )

    def _nothing_to_plan(self, problem: AllocationProblem, started: float) -> AllocationResult:
        """No candidate pairs: the plan is empty and every floor is unmet. Answered here because
        CLP crashes the process on a model without pair variables."""
        empty = np.zeros(0)
        value = problem.objective(empty)
        seconds = time.perf_counter() - started
        zeros_c = np.zeros(problem.n_creators)
        return AllocationResult(
            x=empty, item_exposure=np.zeros(problem.n_items), item_floor_slack=problem.item_floor.copy(),
            item_shadow_price=np.zeros(problem.n_items), creator_new_likes=zeros_c, creator_happiness_gain=zeros_c,
            creator_marginal_value=problem.creator_weight * problem.curve.derivative(problem.creator_base_likes),
            status=Status.OPTIMAL, solver=f"exact:{self.backend}", objective=value, bound=value,
            true_objective=value, iterations=0, seconds=seconds, log=("no candidate pairs",),
            trace=(TracePoint(0, seconds, value, value, 0.0, 0.0),),
            duals=Duals(np.zeros(problem.n_items), np.where(problem.item_floor > 0, problem.floor_penalty, 0.0),
                        problem.creator_weight * problem.curve.derivative(problem.creator_base_likes),
                        np.zeros(problem.n_creators), 0.0))


def _row_duals(problem: AllocationProblem, cap_rows: list, floor_rows: dict, like_rows: list,
               creator_rows: dict, budget_row: pywraplp.Constraint | None) -> Duals:
    """The LP's row duals as the dual solver's prices, so that one explanation and one warm start
    serve both. OR-Tools reports d(objective)/d(right-hand side): >= 0 on a binding <= row, <= 0 on
    a binding >= row (the floors) and, on the likes rows (likes - sum y = 0), minus the price of a
    like; the signs are turned so that every price is >= 0."""
    floor = np.zeros(problem.n_items)
    for item, row in floor_rows.items():
        floor[item] = -row.dual_value()
    creator_cap = np.zeros(problem.n_creators)
    for creator, row in creator_rows.items():
        creator_cap[creator] = row.dual_value()
    def price(values: np.ndarray) -> np.ndarray:
        """>= 0, and no -0.0 (what a tolerance-sized negative dual would print as)."""
        return np.maximum(values, 0.0) + 0.0

    return Duals(item_cap=price(np.array([row.dual_value() for row in cap_rows], dtype=float)),
                 item_floor=price(floor),
                 creator_likes=price(np.array([-row.dual_value() for row in like_rows], dtype=float)),
                 creator_cap=price(creator_cap),
                 budget=float(price(np.array([0.0 if budget_row is None else budget_row.dual_value()]))[0]))
