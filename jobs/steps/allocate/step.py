"""allocate: silver candidates and features -> the optimised plan, written to staging.

Nothing here is visible to the feed: `publish` audits the staged plan and only then copies it to
gold. The run record (solver status, objective, bound, timings, fairness figures, config hash,
code version) is staged with it. A night too large for the driver is solved with its pairs on
the executors (`executors`, chosen by `spark.allocate_on_executors`).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from allocation import Duals, SolverChoice, choose_solver, invariants, make_solver, metrics, systematic_rounding
from allocation.explain import explain_pairs, tolerances
from features.retrieval import eligible_items
from features.sampling import keep_user_sample
from jobs.config import Config
from jobs.errors import ConfigError, FairshotError
from jobs.steps.allocate import executors
from jobs.steps.allocate.problem import (
    PLAN_ITEM_COLUMNS,
    ProblemFrames,
    assemble_problem,
    inputs_fingerprint,
    result_frames,
)
from jobs.steps.allocate.spark_problem import count_pairs
from jobs.steps.allocate.staged_plan import (
    StagedPlan,
    duals_frame,
    ledger_message,
    previous_duals,
    rounding_seed,
    run_record,
    solved_fields,
    trace_frame,
    write_staged,
)
from jobs.steps.common import StepOutput, plan_run_id
from jobs.warehouse import io
from jobs.warehouse.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from allocation import AllocationResult, Solver

LOG = logging.getLogger(__name__)


def load_problem(config: Config, ds: str, spark: SparkSession, user_share: float = 1.0) -> ProblemFrames:
    """ds's silver candidates, availability, eligible items and creators, as one problem.

    `user_share` < 1: only a seeded sample of about that share of the users (by a hash of user_id
    and the config's seed) leaves the executors, and the problem is scaled to it (see
    `assemble_problem`); its `user_share` is the share of the users with candidates it holds."""
    read = lambda key: io.read_table(spark, config, key, ds=ds)  # noqa: E731
    candidates, availability = read("silver.candidates"), read("silver.user_availability")
    if user_share < 1.0:
        n_users = candidates.select("user_id").distinct().count()
        candidates = keep_user_sample(candidates, config["seed"], user_share)
        availability = keep_user_sample(availability, config["seed"], user_share)
    candidates, availability = candidates.toPandas(), availability.toPandas()
    eligible = eligible_items(read("silver.item_features"), ds=ds).select(
        *PLAN_ITEM_COLUMNS).toPandas()
    creators = read("silver.creator_features").select(
        "creator_id", "trailing_likes", "is_new_creator").toPandas()
    if user_share < 1.0:
        held = candidates["user_id"].nunique()
        if held == 0:
            raise FairshotError(f"silver.candidates (ds={ds}): a {user_share:.2%} sample of its {n_users} users "
                                "holds none; raise evaluation.max_pairs")
        user_share = held / n_users
    return assemble_problem(config, candidates, availability, eligible, creators, user_share=user_share)


def solver_choice(config: Config, n_pairs: int) -> SolverChoice:
    a = config["allocation"]
    return choose_solver(a["solver"], n_pairs, a["dual_above_pairs"])


def solver_from_config(config: Config, n_pairs: int) -> Solver:
    return solver_named(config, solver_choice(config, n_pairs).name)


def solver_named(config: Config, name: str) -> Solver:
    if name == "dual":
        return executors.dual_settings(config)
    a = config["allocation"]
    return make_solver(name, backend=a["lp_backend"], time_limit_seconds=a["time_limit_seconds"])


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


def on_executors(config: Config, ds: str, spark: SparkSession) -> bool:
    """Whether tonight's pairs stay on the executors: `spark.allocate_on_executors` always/never, or
    auto: on a cluster, when the dual solver is chosen because the night has more than
    `dual_above_pairs` pairs. In local mode auto keeps the night in the driver: the executors are
    the same machine, and each of the solver's passes as a Spark job costs more than it saves
    (20k users, 265k pairs on local[2]: 46 s in the driver, 600 s on the executors)."""
    mode, solver = config["spark"]["allocate_on_executors"], config["allocation"]["solver"]
    if mode == "never":
        return False
    if mode == "always":
        if solver == "exact":
            raise ConfigError("config 'spark.allocate_on_executors' is always, but 'allocation.solver' is exact: "
                              "only the dual solver runs with its pairs on the executors (set solver to dual or auto)")
        return True
    if solver == "exact" or spark.sparkContext.master.startswith("local"):
        return False
    return count_pairs(config, ds, spark) > config["allocation"]["dual_above_pairs"]


def run(config: Config, ds: str, spark: SparkSession | None = None) -> StepOutput:
    spark = spark or get_spark(config)
    if on_executors(config, ds, spark):
        return executors.run(config, ds, spark)
    return write_staged(config, ds, spark, solve_in_driver(config, ds, spark))


def solve_in_driver(config: Config, ds: str, spark: SparkSession) -> StagedPlan:
    frames = load_problem(config, ds, spark)
    warm_start = previous_duals(config, ds, spark, frames)
    choice = solver_choice(config, frames.problem.n_pairs)
    solver = solver_named(config, choice.name)
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
    pair_likes = problem.pair_expected_exposure(result.x) * problem.pair_like
    liked = metrics.chance_of_at_least_one(pair_likes, problem.item_creator[problem.pair_item], problem.n_creators)
    solved = solved_fields(result, problem)
    record = run_record(config, rid, solved, frames.items, frames.creators, result.item_exposure, liked, max_violation)
    record["solver_reason"] = choice.reason
    record["message"] = ledger_message(
        solved, gap_tolerance=config["allocation"]["dual_gap_tolerance"], item_exposure=result.item_exposure,
        item_floor=problem.item_floor, slots=float((problem.user_capacity * problem.user_availability).sum()),
        items_with_candidates=int(np.unique(problem.pair_item).size))
    if record["message"]:
        LOG.warning("allocate ds=%s: %s", ds, record["message"])
    return StagedPlan(rid, record, result_frames(frames, result, selected, rid),
                      explanation_frame(frames, result, selected, rid), trace_frame(result.trace, rid, result.solver),
                      duals_frame(frames, result.duals, rid) if result.duals is not None else None)
