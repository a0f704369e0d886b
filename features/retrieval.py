"""Creator-side retrieval and first scores: for each eligible item, the users it fits best.

DualRec turns user-side retrieval around: start from the item and look for its audience. This
first retriever ranks users by their affinity to the item's category (skips pulling it down),
keeps only users likely to show up tomorrow with room for a creator-side slot, and never offers a
user an item they have already seen. Scores are the item's smoothed rates lifted by how much more
(or less) than average the user engages with the category.
"""
from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from features.columns import require_columns

SOURCE = "category_affinity"
LIFT_RANGE = (0.1, 10.0)


def eligible_items(item_features: DataFrame, *, ds: str) -> DataFrame:
    """New videos, and new live streams that air tomorrow (ds + 1)."""
    tomorrow = F.date_add(F.lit(ds).cast("date"), 1)
    return item_features.where(
        F.col("is_new") & ((F.col("item_type") == "video")
                           | ((F.col("item_type") == "live") & (F.to_date("live_start") == tomorrow))))


def _lift(rate: str, global_rate: str):  # noqa: ANN202 - a Column
    low, high = LIFT_RANGE
    return F.least(F.lit(high), F.greatest(F.lit(low), F.col(rate) / F.col(global_rate)))


def build_candidates(item_features: DataFrame, affinity: DataFrame, availability: DataFrame,
                     seen_pairs: DataFrame, *, ds: str, users_per_item: int, min_p_active: float,
                     value_weights: Mapping[str, float]) -> DataFrame:
    require_columns(affinity, "silver.user_category_affinity",
                    ["user_id", "category", "exposures", "positives", "skips", "positive_rate", "skip_rate", "affinity"])
    require_columns(availability, "silver.user_availability", ["user_id", "p_active", "slot_capacity"])
    items = eligible_items(item_features, ds=ds).select(
        "item_id", "creator_id", "category", "click_rate", "long_view_rate", "like_rate", "follow_rate",
        F.col("skip_rate").alias("item_skip_rate"))
    overall = affinity.agg((F.sum("positives") / F.sum("exposures")).alias("_global_positive"),
                           (F.sum("skips") / F.sum("exposures")).alias("_global_skip"))
    available = availability.where((F.col("p_active") >= min_p_active) & (F.col("slot_capacity") > 0)).select("user_id")
    seen = seen_pairs.select("user_id", "item_id").distinct()
    by_fit = Window.partitionBy("item_id").orderBy(F.desc("affinity"), F.asc("user_id"))
    pairs = (items.join(affinity.select("user_id", "category", "affinity", "positive_rate", "skip_rate"), "category")
             .join(available, "user_id")
             .join(seen, ["user_id", "item_id"], "left_anti")
             .withColumn("_rank", F.row_number().over(by_fit))
             .where(F.col("_rank") <= users_per_item)
             .crossJoin(F.broadcast(overall)))
    positive_lift = _lift("positive_rate", "_global_positive")
    scored = pairs.select(
        "user_id", "item_id", "creator_id",
        F.lit(SOURCE).alias("source"), F.col("affinity").alias("retrieval_score"), F.lit(1).alias("tier"),
        *[F.least(F.lit(1.0), F.col(f"{name}_rate") * positive_lift).alias(f"p_{name}")
          for name in ("click", "long_view", "like", "follow")],
        F.least(F.lit(1.0), F.col("item_skip_rate") * _lift("skip_rate", "_global_skip")).alias("p_skip"),
    )
    value = sum(F.lit(float(value_weights[name])) * F.col(f"p_{name}")
                for name in ("click", "long_view", "like", "follow", "skip"))
    return scored.withColumn("user_value", value)
