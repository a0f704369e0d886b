"""allocate with the pairs on the executors: for nights too large for the driver's memory.

The problem stays a DataFrame (`spark_problem`), the dual solver runs in its Spark mode
(`dual_on_spark`) with the driver holding O(items + creators), and the executors compute and write
the plan's per-pair tables. Each task takes whole users (a hash bucket of user ids), orders their
pairs, rounds their plan (systematic sampling; each user's offset is a function of the seed and
its id, so the picks do not depend on how users fall into buckets), ranks their pairs and explains
them at the solver's prices. What comes back to the driver is per item and per creator (quotas,
likes, each creator's chance of a like) and the worst violation of each invariant, summed on the
executors. The pair blocks live under `storage.scratch` and are removed once the run is written.
"""
from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from allocation.dual import Duals, DualSolver
from allocation.explain import PairTerms, explain_block, tolerances
from allocation.problem import nested_groups
from allocation.rounding import systematic_rounding, user_offsets
from jobs.config import Config
from jobs.steps.allocate.dual_on_spark import PAIR_COLUMNS, SparkDualResult, solve_on_spark
from jobs.steps.allocate.executor_audit import user_excess
from jobs.steps.allocate.problem import digest_warm_start, user_ranks
from jobs.steps.allocate.spark_problem import SparkProblem, load_spark_problem
from jobs.steps.allocate.staged_plan import (
    StagedPlan,
    duals_frame,
    ledger_message,
    previous_duals,
    rounding_seed,
    run_record,
    trace_frame,
    write_staged,
)
from jobs.steps.common import StepOutput, plan_run_id
from jobs.warehouse import storage

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LOG = logging.getLogger("jobs.steps.allocate")

SOLVER = "dual:executors"
PAIRS_PER_BUCKET = 200_000      # a task's pandas frame: whole users, about this many pairs

DETAIL_COLUMNS = (
    ("user_id", "bigint"), ("item_id", "bigint"), ("creator_id", "bigint"), ("item", "bigint"),
    ("p_available", "double"), ("user_value", "double"), ("p_like", "double"), ("x", "double"),
    ("selected", "boolean"), ("user_rank", "int"), ("expected_exposure", "double"), ("expected_likes", "double"),
    ("value_term", "double"), ("creator_term", "double"), ("item_term", "double"), ("score", "double"),
    ("slot_price", "double"), ("reduced_cost", "double"), ("reason", "string"), ("cap_price", "double"),
    ("floor_price", "double"), ("like_price", "double"), ("capacity", "double"), ("category", "bigint"),
    ("category_cap", "double"),
)


def dual_settings(config: Config) -> DualSolver:
    a = config["allocation"]
    return DualSolver(gap_tolerance=a["dual_gap_tolerance"], max_iterations=a["dual_max_iterations"],
                      time_limit_seconds=a["time_limit_seconds"])


def scratch_uri(config: Config) -> str:
    """Where working files every executor reads go: `storage.scratch`, or under the warehouse."""
    return config["storage"]["scratch"] or storage.join(config["storage"]["warehouse"], "_scratch")


@dataclass(frozen=True)
class _Prices:
    """What a bucket's task needs besides its pairs (broadcast)."""

    duals: Duals
    item_creator: np.ndarray
    seed: int
    score_scale: float
    has_category_caps: bool
    tolerances: dict[str, float]


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows within a Spark group come in no fixed order: fix one, so rounding is reproducible."""
    return frame.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)


def _terms(frame: pd.DataFrame, prices: _Prices) -> PairTerms:
    item = frame["item"].to_numpy(np.int64)
    return PairTerms.at(frame["base"].to_numpy(float), frame["a"].to_numpy(float), frame["like"].to_numpy(float),
                        item, prices.item_creator[item], prices.duals)


def _largest_score(batches, prices: _Prices):  # noqa: ANN001, ANN202 - mapInPandas' iterators
    largest = 0.0
    for frame in batches:
        largest = max(largest, float(np.abs(_terms(frame, prices).score).max(initial=0.0)))
    yield pd.DataFrame({"largest": [largest]})


def _details(frame: pd.DataFrame, prices: _Prices) -> pd.DataFrame:
    """One bucket of whole users: rounding, ranks, explanations and expected figures per pair."""
    frame = _ordered(frame)
    users, user = np.unique(frame["user_id"].to_numpy(np.int64), return_inverse=True)
    user = user.astype(np.int64)
    x = frame["x"].to_numpy(float)
    capacity = np.zeros(users.size)
    capacity[user] = frame["capacity"].to_numpy(float)
    group = group_cap = None
    if prices.has_category_caps:
        group, group_cap = nested_groups(user, frame["category"].to_numpy(np.int64),
                                         frame["category_cap"].to_numpy(float))
    selected = systematic_rounding(user, x, users.size, prices.seed, pair_group=group,
                                   user_shift=user_offsets(users, prices.seed))
    why = explain_block(_terms(frame, prices), x, user, capacity, group, group_cap, **prices.tolerances,
                        score_scale=prices.score_scale)
    item = frame["item"].to_numpy(np.int64)
    creator = prices.item_creator[item]
    exposure = frame["p_available"].to_numpy(float) * x
    duals = prices.duals
    out = frame.assign(
        selected=selected, user_rank=user_ranks(frame["user_id"], frame["item_id"], x, frame["user_value"]),
        expected_exposure=exposure, expected_likes=exposure * frame["p_like"].to_numpy(float),
        value_term=why.user_value, creator_term=why.creator_value, item_term=why.item_price, score=why.score,
        slot_price=why.slot_price, reduced_cost=why.reduced_cost, reason=why.reason,
        cap_price=duals.item_cap[item], floor_price=duals.item_floor[item], like_price=duals.creator_likes[creator])
    return out[[name for name, _ in DETAIL_COLUMNS]]


def pair_details(spark: SparkSession, problem: SparkProblem, solved: SparkDualResult, seed: int) -> DataFrame:
    """Every pair with its x, pick, rank, expected figures and explanation, computed on the executors."""
    from pyspark.sql import functions as F

    priced = problem.pairs.join(solved.plan, ["user_id", "item"])
    base = _Prices(solved.outcome.duals, problem.sides.item_creator, seed, 0.0, problem.has_category_caps,
                   tolerances(SOLVER))
    shared = spark.sparkContext.broadcast(base)
    largest = priced.select("base", "a", "like", "item").mapInPandas(
        lambda batches: _largest_score(batches, shared.value), "largest double").agg(F.max("largest")).first()[0]
    shared.destroy()
    prices = spark.sparkContext.broadcast(_Prices(**{**base.__dict__, "score_scale": float(largest or 0.0)}))
    n_buckets = max(spark.sparkContext.defaultParallelism, math.ceil(problem.n_pairs / PAIRS_PER_BUCKET))
    schema = ", ".join(f"{name} {kind}" for name, kind in DETAIL_COLUMNS)
    return (priced.withColumn("bucket", F.pmod(F.xxhash64("user_id"), F.lit(n_buckets)))
            .groupBy("bucket").applyInPandas(lambda frame: _details(frame, prices.value), schema))


@dataclass(frozen=True)
class _Sums:
    """What the driver collects from the plan: per item, per creator, and the worst violations."""

    quota: np.ndarray
    item_likes: np.ndarray
    creator_likes: np.ndarray
    creator_liked: np.ndarray
    user_value: float
    max_violation: float


def plan_sums(details: DataFrame, problem: SparkProblem, category_share: float) -> _Sums:
    from pyspark.sql import functions as F

    n_items, n_creators = len(problem.items), len(problem.creators)
    per_item = details.groupBy("item").agg(F.sum("expected_exposure").alias("exposure"),
                                           F.sum("expected_likes").alias("likes")).toPandas()
    quota, item_likes = np.zeros(n_items), np.zeros(n_items)
    quota[per_item["item"].to_numpy(np.int64)] = per_item["exposure"].to_numpy(float)
    item_likes[per_item["item"].to_numpy(np.int64)] = per_item["likes"].to_numpy(float)
    no_like = F.log1p(-F.least(F.col("expected_likes"), F.lit(1.0 - 1e-12)))
    per_creator = details.groupBy("creator_id").agg(F.sum("expected_likes").alias("likes"),
                                                    F.sum(no_like).alias("log_no_like")).toPandas()
    where = pd.Index(problem.creators["creator_id"]).get_indexer(per_creator["creator_id"])
    creator_likes, log_no_like = np.zeros(n_creators), np.zeros(n_creators)
    creator_likes[where] = per_creator["likes"].to_numpy(float)
    log_no_like[where] = per_creator["log_no_like"].to_numpy(float)

    excess = user_excess(details.withColumnRenamed("capacity", "slot_capacity"), category_share)
    user_value = details.agg(F.sum(F.col("expected_exposure") * F.col("user_value"))).first()[0]
    violation = max(*excess, problem.sides.exposure_excess(quota))
    return _Sums(quota, item_likes, creator_likes, 1.0 - np.exp(log_no_like), float(user_value or 0.0), violation)


def staged_plan(config: Config, problem: SparkProblem, solved: SparkDualResult, details: DataFrame,
                rid: str) -> StagedPlan:
    from pyspark.sql import functions as F

    outcome, sums = solved.outcome, plan_sums(details, problem, config["allocation"]["max_category_share"])
    items, creators, curve = problem.items, problem.creators, problem.curve
    base_likes = creators["trailing_likes"].to_numpy(float)
    gain = curve.value(base_likes + sums.creator_likes) - curve.value(base_likes)
    floor = items["floor"].to_numpy(float)
    shortfall = np.where(floor > 0, np.maximum(floor - sums.quota, 0.0), 0.0)
    solved_fields = {
        "solver": SOLVER, "objective": outcome.objective, "bound": outcome.bound, "gap": outcome.gap,
        "true_objective": sums.user_value + problem.creator_weight * float(gain.sum())
        - problem.sides.floor_penalty * float(shortfall.sum()),
        "iterations": outcome.iterations, "solve_seconds": outcome.seconds, "n_pairs": problem.n_pairs,
        "n_users": problem.n_users, "n_items": len(items), "n_creators": len(creators)}
    record = run_record(config, rid, solved_fields, items, creators, sums.quota, sums.creator_liked,
                        sums.max_violation)
    record["solver_reason"] = ("spark.allocate_on_executors=always"
                               if config["spark"]["allocate_on_executors"] == "always" else
                               f"auto on a cluster: {problem.n_pairs:,} pairs, above allocation.dual_above_pairs="
                               f"{config['allocation']['dual_above_pairs']:,}")
    record["message"] = ledger_message(
        solved_fields, gap_tolerance=config["allocation"]["dual_gap_tolerance"], item_exposure=sums.quota,
        item_floor=floor, slots=problem.slots, items_with_candidates=int((items["n_candidates"].to_numpy() > 0).sum()))
    if record["message"]:
        LOG.warning("allocate: %s", record["message"])
    with_run = details.withColumn("run_id", F.lit(rid))
    tables = {
        "allocations": with_run,
        "item_quotas": items[["item_id", "creator_id", "is_new", "plan_stage", "cap", "floor", "n_candidates"]].assign(
            run_id=rid, quota=sums.quota, floor_shortfall=shortfall, shadow_price=outcome.duals.item_cap,
            expected_likes=sums.item_likes),
        "creator_outcomes": creators[["creator_id", "is_new_creator"]].assign(
            run_id=rid, trailing_likes=base_likes, expected_new_likes=sums.creator_likes, happiness_gain=gain,
            marginal_value=problem.creator_weight * curve.derivative(base_likes + sums.creator_likes)),
    }
    return StagedPlan(rid, record, tables, with_run, trace_frame(outcome.trace, rid, SOLVER),
                      duals_frame(problem, outcome.duals, rid))


def run(config: Config, ds: str, spark: SparkSession) -> StepOutput:
    problem = load_spark_problem(config, ds, spark)
    warm = previous_duals(config, ds, spark, problem)
    digest = hashlib.sha256(problem.fingerprint.encode())
    digest_warm_start(digest, warm)
    rid = plan_run_id(config, ds, digest.hexdigest())
    workdir = storage.join(scratch_uri(config), "allocate", f"ds={ds}", rid)
    details = None
    try:
        solved = solve_on_spark(spark, problem.pairs.select(*PAIR_COLUMNS), problem.sides, dual_settings(config),
                                workdir, warm_start=warm)
        details = pair_details(spark, problem, solved, rounding_seed(config, ds)).persist()
        return write_staged(config, ds, spark, staged_plan(config, problem, solved, details, rid))
    finally:
        if details is not None:
            details.unpersist()
        problem.pairs.unpersist()
        storage.remove_tree(workdir)
