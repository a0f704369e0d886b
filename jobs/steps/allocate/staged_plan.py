"""What `allocate` stages, whichever way the night was solved (in the driver's memory or on the
executors): the ledger row, yesterday's prices as a warm start and today's as a table, and the
writes to staging and audit in one order.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Union

import numpy as np
import pandas as pd

from allocation import Duals, metrics
from jobs.config import Config
from jobs.dates import shift
from jobs.steps.allocate.source_keys import source_ids, with_source_keys
from jobs.steps.common import StepOutput, code_version
from jobs.warehouse import io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from allocation import AllocationProblem, AllocationResult, TracePoint

LOG = logging.getLogger("jobs.steps.allocate")

Frame = Union[pd.DataFrame, "DataFrame"]   # a driver's frame, or one the executors write


class PlanIds(Protocol):
    """The plan's items and creators in position order: `ProblemFrames` and `SparkProblem` both."""

    @property
    def items(self) -> pd.DataFrame: ...

    @property
    def creators(self) -> pd.DataFrame: ...


@dataclass(frozen=True)
class StagedPlan:
    """One run's outputs, ready to write: the staging tables (allocations, item_quotas,
    creator_outcomes), the ledger row, and the audit tables."""

    rid: str
    record: dict[str, object]
    tables: dict[str, Frame]
    explanations: Frame
    trace: pd.DataFrame
    duals: pd.DataFrame | None


def write_staged(config: Config, ds: str, spark: SparkSession, plan: StagedPlan) -> StepOutput:
    """Audit tables first, the staging tables after and the ledger row last: publish reads a run
    only once its ledger row is staged."""
    output = StepOutput("allocate", ds)

    def write(key: str, frame: Frame) -> None:
        spark_frame = io.frame_from_pandas(spark, key, frame) if isinstance(frame, pd.DataFrame) else frame
        output.versions[key] = io.write_partition(spark, config, key, spark_frame, ds=ds, run_id=plan.rid)

    if plan.duals is not None:
        write("audit.solver_duals", plan.duals)
    write("audit.allocation_explanations", plan.explanations)
    write("audit.solver_trace", plan.trace)
    ids = source_ids(config, spark, ds)
    for name, frame in plan.tables.items():
        wanted = tuple(io.table(f"staging.{name}").schema.fieldNames())
        write(f"staging.{name}", with_source_keys(frame, ids, wanted, spark))
    write("staging.allocation_runs", pd.DataFrame([plan.record]))
    output.figures.update({k: v for k, v in plan.record.items()
                           if k in ("solver", "objective", "n_pairs", "n_items", "solve_seconds", "exposure_gini",
                                    "new_item_coverage", "creators_with_like_share", "max_violation")})
    LOG.info("allocate ds=%s: %s", ds, output.figures)
    return output


def trace_frame(trace: tuple[TracePoint, ...], rid: str, solver: str) -> pd.DataFrame:
    return pd.DataFrame([{**point.__dict__, "run_id": rid, "solver": solver} for point in trace])


def rounding_seed(config: Config, ds: str) -> int:
    """Seeded from config, varied by day so that consecutive plans are not correlated."""
    return int(config["seed"]) * 100_003 + dt.date.fromisoformat(ds).toordinal()


def run_record(config: Config, rid: str, solved: dict[str, object], items: pd.DataFrame, creators: pd.DataFrame,
               item_exposure: np.ndarray, creator_liked: np.ndarray, max_violation: float) -> dict[str, object]:
    """The staged ledger row: `solved` (solver, objective, bound, gap, true_objective, iterations,
    solve_seconds and the problem's sizes), fairness figures from the items' exposure and each
    creator's chance of at least one like, and where the run came from."""
    new = items["is_new"].to_numpy(bool)
    new_creators = creators["is_new_creator"].to_numpy(bool)
    return {
        "run_id": rid, "status": "staged", **solved, "max_violation": max_violation,
        "exposure_gini": metrics.gini(item_exposure),
        "top1_share": metrics.top_share(item_exposure, 0.01),
        "new_item_coverage": metrics.share_at_least(item_exposure[new], 1.0),
        "creators_with_like_share": float(creator_liked.mean()) if creator_liked.size else 0.0,
        "new_creators_with_like_share": float(creator_liked[new_creators].mean()) if new_creators.any() else 0.0,
        "config_hash": config.hash, "code_version": code_version(), "message": "", "report_path": "",
        "published_at": "", "superseded_at": "", "gold_versions": "", "solver_reason": "",
    }


def solved_fields(result: AllocationResult, problem: AllocationProblem) -> dict[str, object]:
    return {"solver": result.solver, "objective": result.objective, "bound": result.bound, "gap": result.gap,
            "true_objective": result.true_objective, "iterations": result.iterations, "solve_seconds": result.seconds,
            "n_pairs": problem.n_pairs, "n_users": problem.n_users, "n_items": problem.n_items,
            "n_creators": problem.n_creators}


def degenerate_warning(solved: dict[str, object]) -> str:
    """A plan can be valid and still say little: too few users, items or pairs to spread exposure.
    It is published (the data are what they are) with this warning in its ledger row; `solved`
    holds the problem's sizes (`solved_fields`)."""
    n_users = solved["n_users"]
    reasons = [text for bad, text in (
        (solved["n_pairs"] == 0, "no candidate pairs"),
        (0 < n_users < 10, f"only {n_users} users with candidates"),
        (solved["n_items"] < 2, f"only {solved['n_items']} eligible items"),
        (solved["n_creators"] < 2, f"only {solved['n_creators']} creators"),
    ) if bad]
    return ("degenerate plan: " + "; ".join(reasons) + " (check the source's size and its window)") if reasons else ""


def short_of_bound_warning(solved: dict[str, object], *, gap_tolerance: float) -> str:
    """A feasible plan can still be far from the best one: a dual solve that ran out of iterations
    or time certifies only that the optimum is within its gap. Past ten times the target, say so
    (a 20,000-user night once published 12% below its optimum, and only the gap column knew)."""
    gap = float(solved["gap"])
    if not gap > 10 * gap_tolerance:      # nan (no bound) says nothing
        return ""
    return (f"plan short of its bound: certified gap {gap:.2%} after {solved['iterations']} iterations "
            f"(target {gap_tolerance:g}); it is feasible, but up to that far below the best plan "
            "(see audit.solver_trace; for the dual solver, allocation.dual_max_iterations)")


THIN_SHARE = 0.2   # a plan whose quotas reach fewer of its items than this share is thin


def thin_warning(item_exposure: np.ndarray, *, expected_slots: float, items_with_candidates: int | None) -> str:
    """A plan can be valid and still reach few of the items it was meant to give a shot (KuaiRand:
    147 of 7,583). Say so, with the likeliest reason: the retriever found users for few items, or
    the users' slots are fewer than the items, or (neither) caps and values concentrate exposure.
    `items_with_candidates`: None where it is not known."""
    n = int(item_exposure.size)
    reached = int((np.asarray(item_exposure) >= 1.0).sum())
    if n < 10 or reached >= THIN_SHARE * n:
        return ""
    if items_with_candidates is not None and items_with_candidates < THIN_SHARE * n:
        why = f"the retriever found users for only {items_with_candidates} of them (candidates.users_per_item, the window)"
    elif expected_slots < n:
        why = (f"the users' creator-side slots ({expected_slots:.0f} expected) are fewer than the items: few users "
               "against many items (features.slot_share, or a shorter plan: features.max_plan_age_days)")
    else:
        why = "caps and the pairs' values concentrate exposure (allocation.item_cap, allocation.new_item_floor)"
    return f"thin plan: {reached} of {n} items in the plan get at least one expected exposure; {why}"


FLOORS_SHORT_SHARE = 0.1   # a plan that leaves at least this share of its floored items short says so


def floors_short_warning(item_exposure: np.ndarray, item_floor: np.ndarray, *, expected_slots: float) -> str:
    """A floor is an item's fair shot, and a plan can meet every cap and capacity exactly and still
    leave many items short of it (the demo: 169 of 780, 88 with nothing), because the floors add
    up to more than the users' slots hold or because the pairs that would meet them are worth less
    than the floor's penalty. Say how many and which, when it is a tenth of the floored items or
    more. `expected_slots`: the users' slots (capacity x availability)."""
    exposure, floor = np.asarray(item_exposure, dtype=float), np.asarray(item_floor, dtype=float)
    floored = floor > 0
    short = floored & (exposure < floor - 1e-6)
    n_floored, n_short = int(floored.sum()), int(short.sum())
    if n_floored < 10 or n_short < FLOORS_SHORT_SHARE * n_floored:
        return ""
    need, placed = float(floor.sum()), float(exposure.sum())
    sizes = f"the floors add up to {need:,.0f} expected exposures and the plan places {placed:,.0f}"
    if need > expected_slots:
        why = (f"{sizes}, more than the users' slots hold ({expected_slots:,.0f}): fewer items in play "
               "(features.max_plan_age_days, the stages' budgets) or lower floors (allocation.new_item_floor)")
    else:
        why = (f"{sizes}; the slots could hold them, but the pairs that would meet them are worth less than "
               "a floor's penalty (allocation.floor_penalty)")
    return (f"floors unmet: {n_short} of {n_floored} floored items end short of their floor "
            f"({int((short & (exposure < 1e-9)).sum())} with no exposure); {why}")


def ledger_message(solved: dict[str, object], *, gap_tolerance: float, item_exposure: np.ndarray,
                   item_floor: np.ndarray, slots: float, items_with_candidates: int) -> str:
    """The ledger row's message of a solved plan, the same from the driver and from the executors:
    its thin-plan and floors warnings weighed against the users' `slots` (capacity x availability)."""
    return plan_message(solved, gap_tolerance=gap_tolerance,
                        thin=thin_warning(item_exposure, expected_slots=slots, items_with_candidates=items_with_candidates),
                        floors=floors_short_warning(item_exposure, item_floor, expected_slots=slots))


def plan_message(solved: dict[str, object], *, gap_tolerance: float, thin: str = "", floors: str = "") -> str:
    """The ledger row's message for a plan that is valid but worth a second look (`thin`: the
    plan's `thin_warning`; `floors`: its `floors_short_warning`)."""
    return "; ".join(text for text in (degenerate_warning(solved), thin, floors,
                                       short_of_bound_warning(solved, gap_tolerance=gap_tolerance)) if text)


def previous_duals(config: Config, ds: str, spark: SparkSession, frames: PlanIds) -> Duals | None:
    """Yesterday's prices by item and creator id (new ids start at 0), as DuaLip warm-starts."""
    stored = io.read_table(spark, config, "audit.solver_duals", ds=shift(ds, -1)).toPandas()
    if stored.empty:
        return None

    def prices(kind: str, ids: pd.Series) -> np.ndarray:
        rows = stored[stored["kind"] == kind].set_index("id")["price"]
        return ids.map(rows).fillna(0.0).to_numpy(float)

    items, creators = frames.items["item_id"], frames.creators["creator_id"]
    budget = prices("exposure_budget", pd.Series([0]))[0]
    return Duals(prices("item_cap", items), prices("item_floor", items), prices("creator_likes", creators),
                 prices("creator_cap", creators), float(budget))


def duals_frame(frames: PlanIds, duals: Duals, rid: str) -> pd.DataFrame:
    items, creators = frames.items["item_id"].to_numpy(), frames.creators["creator_id"].to_numpy()
    parts = [pd.DataFrame({"kind": kind, "id": ids, "price": values}) for kind, ids, values in (
        ("item_cap", items, duals.item_cap), ("item_floor", items, duals.item_floor),
        ("creator_likes", creators, duals.creator_likes), ("creator_cap", creators, duals.creator_cap),
        ("exposure_budget", np.zeros(1, dtype=np.int64), np.array([duals.budget])))]
    return pd.concat(parts, ignore_index=True).assign(run_id=rid)


