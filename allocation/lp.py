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
from typing import Any, NamedTuple

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
        lp = LPArrays.of(problem)
        error = solver.LoadModelFromProto(lp.proto())
        if error:
            raise SolverFailedError(f"{self.backend} refused the model: {error}")
        weight = problem.creator_weight
        objective = solver.Objective()
        variables = solver.variables()[:problem.n_pairs]
        built = time.perf_counter()
        code = solver.Solve()
        if code not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
            names = {pywraplp.Solver.INFEASIBLE: "infeasible", pywraplp.Solver.UNBOUNDED: "unbounded",
                     pywraplp.Solver.ABNORMAL: "abnormal", pywraplp.Solver.NOT_SOLVED: "not solved"}
            raise SolverFailedError(
                f"{self.backend} ended {names.get(code, code)} on {problem.n_pairs} pairs")
        solution = np.clip(np.fromiter((v.solution_value() for v in variables), float, problem.n_pairs), 0.0, 1.0)
        exposure = problem.item_exposure(solution)
        floored = lp.floored
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
        duals = lp.row_duals(np.fromiter((row.dual_value() for row in solver.constraints()), float))
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


class _Rows(NamedTuple):
    """One block of rows: each coefficient's row (within the block), column and value, and the
    block's row bounds."""

    name: str
    row: np.ndarray
    column: np.ndarray
    value: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def _rows_where(kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the entries that get a row, each entry's row or -1): rows only where a limit exists."""
    entries = np.flatnonzero(kept)
    row = np.full(kept.size, -1)
    row[entries] = np.arange(entries.size)
    return entries, row


@dataclass(frozen=True)
class LPArrays:
    """The LP as arrays: columns x (one per pair), then a slack per floored item, then a happiness
    segment per creator and segment of positive width; rows in blocks (users, item caps, floors, the
    optional category, creator and budget rows where a limit is finite, then likes: the order the
    model had when it was built coefficient by coefficient, so the simplex meets the same model).
    Built with numpy and handed to OR-Tools whole (model builder's sparse form, loaded by the
    backend), so building costs a few array passes instead of one Python call per coefficient."""

    lower: np.ndarray
    upper: np.ndarray
    objective: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    matrix: Any                 # scipy.sparse.csr_matrix, rows x columns
    starts: dict[str, int]      # first row of each block
    floored: np.ndarray         # items with a floor row, in row order
    creators_capped: np.ndarray
    budgeted: bool
    n_items: int
    n_creators: int

    @classmethod
    def of(cls, problem: AllocationProblem) -> LPArrays:
        from scipy import sparse

        n, a, item = problem.n_pairs, problem.pair_availability, problem.pair_item
        creator = problem.item_creator[item]
        pair, inf = np.arange(n), np.inf
        floored, floor_row = _rows_where(problem.item_floor > 0)
        seg_creator, seg_k = np.nonzero(problem.segment_width > 0)
        slack_col = n + np.arange(floored.size)
        segment_col = n + floored.size + np.arange(seg_creator.size)
        on_floor = floor_row[item] >= 0
        blocks = [
            _Rows("users", problem.pair_user, pair, np.ones(n), np.full(problem.n_users, -inf),
                  problem.user_capacity.astype(float)),
            _Rows("item_caps", item, pair, a, np.full(problem.n_items, -inf), problem.item_cap.astype(float)),
            _Rows("floors", np.r_[floor_row[item[on_floor]], np.arange(floored.size)],
                  np.r_[pair[on_floor], slack_col], np.r_[a[on_floor], np.ones(floored.size)],
                  problem.item_floor[floored].astype(float), np.full(floored.size, inf)),
        ]
        # The optional constraints: rows only where a limit is finite.
        if problem.has_category_caps:
            group, group_cap = problem.pair_groups()
            limited, group_row = _rows_where(np.isfinite(group_cap))
            on = group_row[group] >= 0
            blocks.append(_Rows("categories", group_row[group[on]], pair[on], np.ones(int(on.sum())),
                                np.full(limited.size, -inf), group_cap[limited]))
        capped, creator_row = _rows_where(np.isfinite(problem.creator_cap))
        on = creator_row[creator] >= 0
        blocks.append(_Rows("creator_caps", creator_row[creator[on]], pair[on], a[on], np.full(capped.size, -inf),
                            problem.creator_cap[capped]))
        budgeted = bool(np.isfinite(problem.exposure_budget))
        if budgeted:
            blocks.append(_Rows("budget", np.zeros(n, dtype=np.int64), pair, a, np.array([-inf]),
                                np.array([float(problem.exposure_budget)])))
        # likes_c - sum_k y_ck = 0: the segments carry exactly the creator's expected new likes.
        blocks.append(_Rows("likes", np.r_[creator, seg_creator], np.r_[pair, segment_col],
                            np.r_[a * problem.pair_like, -np.ones(seg_creator.size)],
                            np.zeros(problem.n_creators), np.zeros(problem.n_creators)))
        starts = dict(zip((b.name for b in blocks), np.cumsum([0] + [b.lower.size for b in blocks[:-1]]).tolist()))
        columns = n + floored.size + seg_creator.size
        matrix = sparse.csr_matrix((np.concatenate([b.value for b in blocks]),
                                    (np.concatenate([b.row + starts[b.name] for b in blocks]),
                                     np.concatenate([b.column for b in blocks]))),
                                   shape=(sum(b.lower.size for b in blocks), columns))
        return cls(lower=np.zeros(columns),
                   upper=np.r_[np.ones(n), np.full(floored.size, inf), problem.segment_width[seg_creator, seg_k]],
                   objective=np.r_[a * problem.pair_value, np.full(floored.size, -problem.floor_penalty),
                                   problem.creator_weight * problem.segment_slope[seg_creator, seg_k]],
                   row_lower=np.concatenate([b.lower for b in blocks]),
                   row_upper=np.concatenate([b.upper for b in blocks]),
                   matrix=matrix, starts=starts, floored=floored, creators_capped=capped, budgeted=budgeted,
                   n_items=problem.n_items, n_creators=problem.n_creators)

    def proto(self):  # noqa: ANN201 - an MPModelProto, what every OR-Tools backend loads
        from ortools.linear_solver.python import model_builder

        model = model_builder.Model()
        model.helper.fill_model_from_sparse_data(self.lower, self.upper, self.objective, self.row_lower,
                                                 self.row_upper, self.matrix)
        model.helper.set_maximize(True)
        return model.export_to_proto()

    def row_duals(self, dual: np.ndarray) -> Duals:
        """The LP's row duals as the dual solver's prices, so that one explanation and one warm
        start serve both. OR-Tools reports d(objective)/d(right-hand side): >= 0 on a binding <=
        row, <= 0 on a binding >= row (the floors) and, on the likes rows (likes - sum y = 0),
        minus the price of a like; the signs are turned so that every price is >= 0."""
        def block(name: str, size: int) -> np.ndarray:
            return dual[self.starts[name]:self.starts[name] + size]

        def price(values: np.ndarray) -> np.ndarray:
            """>= 0, and no -0.0 (what a tolerance-sized negative dual would print as)."""
            return np.maximum(values, 0.0) + 0.0

        n_items, n_creators = self.n_items, self.n_creators
        floor = np.zeros(n_items)
        floor[self.floored] = -block("floors", self.floored.size)
        creator_cap = np.zeros(n_creators)
        creator_cap[self.creators_capped] = block("creator_caps", self.creators_capped.size)
        return Duals(item_cap=price(block("item_caps", n_items).copy()), item_floor=price(floor),
                     creator_likes=price(-block("likes", n_creators)), creator_cap=price(creator_cap),
                     budget=float(price(block("budget", 1))[0]) if self.budgeted else 0.0)
