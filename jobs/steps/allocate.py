"""allocate: silver candidates and features -> the optimised plan, written to staging.

Nothing here is visible to the feed: `publish` audits the staged plan and only then copies it to
gold. The run record (solver status, objective, bound, timings, fairness figures, config hash,
code version) is staged with it.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from allocation import Duals, choose_solver, invariants, make_solver, metrics, systematic_rounding
from allocation.explain import explain_pairs, tolerances
from features.retrieval import eligible_items
from jobs.config import Config
from jobs.dates import shift
from jobs.steps.build_problem import ProblemFrames, assemble_problem, inputs_fingerprint, result_frames
from jobs.steps.common import StepOutput, code_version, plan_run_id
from jobs.warehouse import io
from jobs.warehouse.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from allocation import AllocationResult, Solver

LOG = logging.getLogger(__name__)


def rounding_seed(config: Config, ds: str) -> int:
    """Seeded from config, varied by day so that consecutive plans are not correlated."""
    return int(config["seed"]) * 100_003 + dt.date.fromisoformat(ds).toordinal()


def run_record(config: Config, rid: str, frames: ProblemFrames, result: AllocationResult,
               max_violation: float) -> dict[str, object]:
    items, creators = frames.items, frames.creators
    new = items["is_new"].to_numpy(bool)
    problem = frames.problem
    pair_likes = problem.pair_expected_exposure(result.x) * problem.pair_like
    liked = metrics.chance_of_at_least_one(pair_likes, problem.item_creator[problem.pair_item], problem.n_creators)
    new_creators = creators["is_new_creator"].to_numpy(bool)
    return {
        "run_id": rid, "status": "staged", "solver": result.solver,
        "objective": result.objective, "bound": result.bound, "gap": result.gap,
        "true_objective": result.true_objective, "iterations": result.iterations,
        "solve_seconds": result.seconds, "n_pairs": frames.problem.n_pairs, "n_users": frames.problem.n_users,
        "n_items": frames.problem.n_items, "n_creators": frames.problem.n_creators,
        "max_violation": max_violation,
        "exposure_gini": metrics.gini(result.item_exposure),
        "top1_share": metrics.top_share(result.item_exposure, 0.01),
        "new_item_coverage": metrics.share_at_least(result.item_exposure[new], 1.0),
        "creators_with_like_share": float(liked.mean()) if liked.size else 0.0,
        "new_creators_with_like_share": float(liked[new_creators].mean()) if new_creators.any() else 0.0,
        "config_hash": config.hash, "code_version": code_version(), "message": "", "report_path": "",
        "published_at": "", "superseded_at": "", "gold_versions": "",
    }


def degenerate_warning(frames: ProblemFrames) -> str:
    """A plan can be valid and still say little: too few users, items or pairs to spread exposure.
    It is published (the data are what they are) with this warning in its ledger row."""
    problem = frames.problem
    reasons = [text for bad, text in (
        (problem.n_pairs == 0, "no candidate pairs"),
        (0 < problem.n_users < 10, f"only {problem.n_users} users with candidates"),
        (problem.n_items < 2, f"only {problem.n_items} eligible items"),
        (problem.n_creators < 2, f"only {problem.n_creators} creators"),
    ) if bad]
    return ("degenerate plan: " + "; ".join(reasons) + " (check the source's size and its window)") if reasons else ""


def load_problem(config: Config, ds: str, spark: SparkSession) -> ProblemFrames:
    """ds's silver candidates, availability, eligible items and creators, as one problem."""
    read = lambda key: io.read_table(spark, config, key, ds=ds)  # noqa: E731
    candidates = read("silver.candidates").toPandas()
    availability = read("silver.user_availability").toPandas()
    eligible = eligible_items(read("silver.item_features"), ds=ds).select(
        "item_id", "creator_id", "category", "is_new").toPandas()
    creators = read("silver.creator_features").select(
        "creator_id", "trailing_likes", "is_new_creator").toPandas()
    return assemble_problem(config, candidates, availability, eligible, creators)


def solver_from_config(config: Config, n_pairs: int) -> Solver:
    a = config["allocation"]
    name = choose_solver(a["solver"], n_pairs, a["dual_above_pairs"])
    if name == "dual":
        return make_solver("dual", gap_tolerance=a["dual_gap_tolerance"], max_iterations=a["dual_max_iterations"],
                           time_limit_seconds=a["time_limit_seconds"])
    return make_solver(name, backend=a["lp_backend"], time_limit_seconds=a["time_limit_seconds"])


def previous_duals(config: Config, ds: str, spark: SparkSession, frames: ProblemFrames) -> Duals | None:
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


def duals_frame(frames: ProblemFrames, duals: Duals, rid: str) -> pd.DataFrame:
    items, creators = frames.items["item_id"].to_numpy(), frames.creators["creator_id"].to_numpy()
    parts = [pd.DataFrame({"kind": kind, "id": ids, "price": values}) for kind, ids, values in (
        ("item_cap", items, duals.item_cap), ("item_floor", items, duals.item_floor),
        ("creator_likes", creators, duals.creator_likes), ("creator_cap", creators, duals.creator_cap),
        ("exposure_budget", np.zeros(1, dtype=np.int64), np.array([duals.budget])))]
    return pd.concat(parts, ignore_index=True).assign(run_id=rid)


def explanation_frame(frames: ProblemFrames, result: AllocationResult, selected: np.ndarray,
                      rid: str) -> pd.DataFrame:
    """Every candidate pair's score at the solver's prices, the slot price it faced and the verdict
    (allocation/explain.py): what `fairshot explain` and the explanation views read."""
    problem = frames.problem
    duals = result.duals if result.duals is not None else Duals.zeros(problem.n_items, problem.n_creators)
    why = explain_pairs(problem, result.x, duals, **tolerances(result.solver))
    item, creator = problem.pair_item, problem.item_creator[problem.pair_item]
    return frames.pairs[["user_id", "item_id", "creator_id", "p_available", "user_value", "p_like"]].assign(
        run_id=rid, x=result.x, selected=selected, value_term=why.user_value, creator_term=why.creator_value,
        item_term=why.item_price, score=why.score, slot_price=why.slot_price, reduced_cost=why.reduced_cost,
        reason=why.reason, cap_price=duals.item_cap[item], floor_price=duals.item_floor[item],
        like_price=duals.creator_likes[creator])


def run(config: Config, ds: str, spark: SparkSession | None = None) -> StepOutput:
    spark = spark or get_spark(config)
    frames = load_problem(config, ds, spark)
    warm_start = previous_duals(config, ds, spark, frames)
    solver = solver_from_config(config, frames.problem.n_pairs)
    rid = plan_run_id(config, ds, inputs_fingerprint(frames, warm_start if solver.uses_warm_start else None))
    result = solver.solve(frames.problem, warm_start)
    problem = frames.problem
    group, group_cap = problem.pair_groups()
    selected = systematic_rounding(problem.pair_user, result.x, problem.n_users, rounding_seed(config, ds),
                                   pair_group=group)
    checks = [
        invariants.probability_range(result.x),
        invariants.user_capacity(problem.pair_user, result.x, problem.user_capacity),
        invariants.item_cap(problem.pair_item, problem.pair_expected_exposure(result.x), problem.item_cap),
        invariants.selected_within_capacity(problem.pair_user, selected, problem.user_capacity),
        invariants.optional_constraints(problem, result.x),
        invariants.selected_within_capacity(group, selected, group_cap, "selected per user and category <= cap"),
    ]
    max_violation = max(c.max_violation for c in checks)
    tables = result_frames(frames, result, selected, rid)
    record = run_record(config, rid, frames, result, max_violation)
    record["message"] = degenerate_warning(frames)
    if record["message"]:
        LOG.warning("allocate ds=%s: %s", ds, record["message"])
    tables["allocation_runs"] = pd.DataFrame([record])
    output = StepOutput("allocate", ds)
    trace = pd.DataFrame([{**point.__dict__, "run_id": rid, "solver": result.solver} for point in result.trace])
    if result.duals is not None:
        output.versions["audit.solver_duals"] = io.write_partition(
            spark, config, "audit.solver_duals",
            io.frame_from_pandas(spark, "audit.solver_duals", duals_frame(frames, result.duals, rid)), ds=ds, run_id=rid)
    output.versions["audit.allocation_explanations"] = io.write_partition(
        spark, config, "audit.allocation_explanations",
        io.frame_from_pandas(spark, "audit.allocation_explanations", explanation_frame(frames, result, selected, rid)),
        ds=ds, run_id=rid)
    output.versions["audit.solver_trace"] = io.write_partition(
        spark, config, "audit.solver_trace", io.frame_from_pandas(spark, "audit.solver_trace", trace), ds=ds, run_id=rid)
    for name, frame in tables.items():
        key = f"staging.{name}"
        output.versions[key] = io.write_partition(spark, config, key, io.frame_from_pandas(spark, key, frame),
                                                  ds=ds, run_id=rid)
    output.figures.update({k: v for k, v in tables["allocation_runs"].iloc[0].items()
                           if k in ("solver", "objective", "n_pairs", "n_items", "solve_seconds", "exposure_gini",
                                    "new_item_coverage", "creators_with_like_share", "max_violation")})
    LOG.info("allocate ds=%s: %s", ds, output.figures)
    return output
