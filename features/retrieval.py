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

LIFT_RANGE = (0.1, 10.0)
WINDOW_PRIOR_EXPOSURES = 24.0  # pseudo-exposures spread evenly over the day in the hourly profile


def live_window_share(prior_exposures: float = WINDOW_PRIOR_EXPOSURES):  # noqa: ANN201 - a Column
    """P(the user is on during the live window | they come that day), from their hourly profile.

    A live stream is only worth a slot if the user shows up while it airs. The profile's share of
    the window's hours is shrunk towards the window's share of the day (hours/24) with
    `prior_exposures` pseudo-exposures, so a user seen twice is not ruled out of the evening."""
    start_hour = F.hour("live_start")
    hours = F.greatest(F.lit(1), F.ceil((F.unix_timestamp("live_end") - F.unix_timestamp("live_start")) / 3600.0)
                       ).cast("int")
    in_profile = F.aggregate(
        F.sequence(F.lit(0), hours - 1), F.lit(0.0),
        lambda total, h: total + F.coalesce(
            F.element_at("hourly_profile", (((start_hour + h) % 24) + 1).cast("int")), F.lit(0.0)))
    seen = F.coalesce(F.col("exposures_28"), F.lit(0)).cast("double")
    share = (in_profile * seen + hours / 24.0 * prior_exposures) / (seen + prior_exposures)
    return F.least(F.lit(1.0), share)


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
                     user_features: DataFrame, seen_pairs: DataFrame, *, ds: str, users_per_item: int,
                     min_p_active: float, value_weights: Mapping[str, float]) -> DataFrame:
    """Top-N users per eligible item by fit; `p_available` is the chance the user is there to be
    shown it (p_active, times the live-window share for live streams)."""
    require_columns(affinity, "silver.user_category_affinity",
                    ["user_id", "category", "exposures", "positives", "skips", "positive_rate", "skip_rate",
                     "affinity", "video_affinity"])
    require_columns(availability, "silver.user_availability", ["user_id", "p_active", "slot_capacity"])
    require_columns(user_features, "silver.user_features", ["user_id", "hourly_profile", "exposures_28"])
    items = eligible_items(item_features, ds=ds).select(
        "item_id", "creator_id", "category", "item_type", "live_start", "live_end", "click_rate", "long_view_rate",
        "like_rate", "follow_rate", F.col("skip_rate").alias("item_skip_rate"))
    overall = affinity.agg((F.sum("positives") / F.sum("exposures")).alias("_global_positive"),
                           (F.sum("skips") / F.sum("exposures")).alias("_global_skip"))
    available = (availability.where((F.col("p_active") >= min_p_active) & (F.col("slot_capacity") > 0))
                 .select("user_id", "p_active"))
    seen = seen_pairs.select("user_id", "item_id").distinct()
    is_live = F.col("item_type") == "live"
    by_fit = Window.partitionBy("item_id").orderBy(F.desc("_fit"), F.asc("user_id"))
    pairs = (items.join(affinity.select("user_id", "category", "affinity", "video_affinity", "positive_rate",
                                        "skip_rate"), "category")
             .withColumn("_fit", F.when(is_live, F.coalesce("video_affinity", "affinity")).otherwise(F.col("affinity")))
             .join(available, "user_id")
             .join(seen, ["user_id", "item_id"], "left_anti")
             .withColumn("_rank", F.row_number().over(by_fit))
             .where(F.col("_rank") <= users_per_item)
             .join(user_features.select("user_id", "hourly_profile", "exposures_28"), "user_id", "left")
             .crossJoin(F.broadcast(overall)))
    positive_lift = _lift("positive_rate", "_global_positive")
    scored = pairs.select(
        "user_id", "item_id", "creator_id",
        F.when(is_live, F.lit("cross_domain_affinity")).otherwise(F.lit("category_affinity")).alias("source"),
        F.col("_fit").alias("retrieval_score"), F.lit(1).alias("tier"),
        (F.col("p_active") * F.when(is_live, live_window_share()).otherwise(F.lit(1.0))).alias("p_available"),
        *[F.least(F.lit(1.0), F.col(f"{name}_rate") * positive_lift).alias(f"p_{name}")
          for name in ("click", "long_view", "like", "follow")],
        F.least(F.lit(1.0), F.col("item_skip_rate") * _lift("skip_rate", "_global_skip")).alias("p_skip"),
    )
    value = sum(F.lit(float(value_weights[name])) * F.col(f"p_{name}")
                for name in ("click", "long_view", "like", "follow", "skip"))
    return scored.withColumn("user_value", value)
