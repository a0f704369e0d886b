"""The night's allocation problem kept on the executors, for nights whose pairs the driver should not hold.

`problem.assemble_problem` collects the candidates into pandas. Above a size
(`spark.allocate_on_executors`) the pairs stay a DataFrame instead, in the layout the dual solver's
Spark mode reads (`dual_on_spark.PAIR_COLUMNS`), and only what the dual iteration itself holds
comes to the driver: the items, the creators and their happiness segments (`allocation.dual.Sides`),
plus a handful of sums over the users and pairs (the expected slots, the median pair value, each
creator's most possible likes). The rules are `assemble_problem`'s, shared through its helpers, and
a test checks that both build the same `Sides` for the same night.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from allocation import HappinessCurve
from allocation.dual import Sides
from allocation.happiness import creator_lambda_at
from features.retrieval import eligible_items
from jobs.config import Config
from jobs.steps.allocate.problem import (
    PLAN_ITEM_COLUMNS,
    OptionalLimits,
    digest_frames,
    happiness_curve,
    item_categories,
    plan_creators,
    plan_items,
    position,
)
from jobs.warehouse import io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ID_COLUMNS = ("item_id", "creator_id", "p_available", "p_like", "user_value")
"""Carried beside the solver's columns, for the plan's tables."""


@dataclass(frozen=True)
class SparkProblem:
    """One night's problem with its pairs on the executors. `items` and `creators` are the driver's
    O(items + creators) frames, in position order, as in `ProblemFrames`."""

    pairs: DataFrame          # dual_on_spark.PAIR_COLUMNS + ID_COLUMNS, one row per candidate pair
    items: pd.DataFrame       # item_id, creator_id, category, is_new, cap, floor, n_candidates
    creators: pd.DataFrame    # creator_id, trailing_likes, is_new_creator
    sides: Sides
    curve: HappinessCurve
    creator_weight: float     # lambda, as AllocationProblem.creator_weight
    has_category_caps: bool   # the users' caps are the pairs' category_cap column
    n_pairs: int
    n_users: int
    slots: float              # the users' creator-side slots, capacity x availability summed (the ledger's warnings)
    fingerprint: str          # of everything the solver sees, as problem.inputs_fingerprint


def count_pairs(config: Config, ds: str, spark: SparkSession) -> int:
    return io.read_table(spark, config, "silver.candidates", ds=ds).count()


def load_spark_problem(config: Config, ds: str, spark: SparkSession) -> SparkProblem:
    from pyspark.sql import functions as F

    read = lambda key: io.read_table(spark, config, key, ds=ds)  # noqa: E731
    a = config["allocation"]
    candidates = read("silver.candidates").select("user_id", *ID_COLUMNS)
    availability = read("silver.user_availability").select("user_id", "p_active", "slot_capacity")
    eligible = eligible_items(read("silver.item_features"), ds=ds).select(
        *PLAN_ITEM_COLUMNS).toPandas()
    n_candidates = candidates.groupBy("item_id").count().toPandas().set_index("item_id")["count"]
    items = plan_items(config, eligible, n_candidates)
    creators = plan_creators(read("silver.creator_features").select(
        "creator_id", "trailing_likes", "is_new_creator").toPandas(), items)

    item_table = F.broadcast(spark.createDataFrame(pd.DataFrame({
        "item_id": items["item_id"].to_numpy(np.int64), "item": np.arange(len(items), dtype=np.int64),
        "category": item_categories(items).astype(np.int64)})))
    users = availability.join(candidates.select("user_id").distinct(), "user_id", "left_semi")
    share = a["max_category_share"]
    category_cap = (F.greatest(F.lit(1.0), F.floor(F.lit(share) * F.col("slot_capacity"))).cast("double")
                    if share < 1.0 else F.lit(float("inf")))
    users = users.select("user_id", F.col("p_active"), F.col("slot_capacity").cast("double").alias("capacity"),
                         category_cap.alias("category_cap"))
    pairs = (candidates.join(item_table, "item_id", "left").join(users, "user_id", "left")
             .select("user_id", "item", F.col("p_available").alias("a"),
                     (F.col("p_available") * F.col("user_value")).alias("base"),
                     (F.col("p_available") * F.col("p_like")).alias("like"),
                     "capacity", "category", "category_cap", *ID_COLUMNS)).persist()   # read a few times over
    unknown = pairs.where(F.col("item").isNull() | F.col("capacity").isNull()).count()
    if unknown:
        raise ValueError("silver.candidates: user_id or item_id not among available users / eligible items "
                         f"({unknown} pairs)")

    totals = users.agg(F.sum(F.col("p_active") * F.col("capacity")).alias("slots"),
                       F.count("*").alias("n_users")).first()
    pair_totals = pairs.agg(F.count("*").alias("n"), F.expr("percentile(user_value, 0.5)").alias("median")).first()
    item_likes = pairs.groupBy("item").agg(F.sum("like").alias("likes")).toPandas()
    curve = happiness_curve(config)
    limits = OptionalLimits.of_slots(config, float(totals["slots"] or 0.0), None)
    lam = creator_lambda_at(a["creator_weight"], curve, float(pair_totals["median"] or 0.0))
    base = creators["trailing_likes"].to_numpy(float)
    item_creator = position(creators, "creator_id", items["creator_id"]).astype(np.int64)
    # as AllocationProblem.from_arrays: the likes a creator's items could earn if every pair were served
    most_likes = np.zeros(len(items))
    most_likes[item_likes["item"].to_numpy(np.int64)] = item_likes["likes"].to_numpy(float)
    width, slope = curve.segments(base, np.bincount(item_creator, weights=most_likes, minlength=len(creators)))
    sides = Sides(items["cap"].to_numpy(float), items["floor"].to_numpy(float), item_creator, lam * slope, width,
                  float(a["floor_penalty"]), np.full(len(creators), limits.creator_cap), float(limits.budget))
    return SparkProblem(pairs, items, creators, sides, curve, lam, share < 1.0, int(pair_totals["n"]),
                        int(totals["n_users"]), float(totals["slots"] or 0.0),
                        _fingerprint(pairs, availability, items, creators))


def _fingerprint(pairs: DataFrame, availability: DataFrame, items: pd.DataFrame, creators: pd.DataFrame) -> str:
    """A digest of the pairs (an order-free sum of row hashes, summed on the executors), the users
    and the driver's frames: equal digests under one config give equal plans."""
    from pyspark.sql import functions as F

    digest = hashlib.sha256(b"executors")
    for frame in (pairs, availability):
        row = F.xxhash64(*frame.columns)
        sums = frame.agg(F.count("*"), F.sum(row.bitwiseAND(0xFFFFFFFF)), F.sum(F.shiftrightunsigned(row, 32))).first()
        digest.update(",".join(frame.columns).encode() + repr(tuple(sums)).encode())
    digest_frames(digest, (items, creators))
    return digest.hexdigest()
