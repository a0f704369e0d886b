"""User activity and category affinity, skips counted as negative feedback.

A skip (an exposure with neither click nor long view) is the most common thing a short-video user
does, and it says something: the user saw the item and swiped it away. So affinity is the smoothed
positive rate minus the smoothed skip rate, and a category a user keeps skipping sinks below one
they have never seen (which sits at the prior).
"""
from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.columns import require_columns

HOURS = list(range(24))


def is_skip() -> Column:
    return (F.col("is_click") == 0) & (F.col("is_long_view") == 0)


def is_positive() -> Column:
    return F.greatest("is_long_view", "is_like", "is_follow") > 0


def with_age_days(ds: str) -> Callable[[DataFrame], DataFrame]:
    """Adds `age_days`: whole days between the event's partition and ds (0 = ds itself)."""
    def transform(events: DataFrame) -> DataFrame:
        return events.withColumn("age_days", F.datediff(F.lit(ds).cast("date"), F.col("ds").cast("date")))
    return transform


def build_user_features(users: DataFrame, events: DataFrame, *, ds: str) -> DataFrame:
    """Activity over 1/7/28 days, skip rate, recency and hourly profile for every known user."""
    require_columns(events, "bronze.events", ["user_id", "ds", "ts", "is_click", "is_long_view", "is_like", "is_follow"])
    aged = events.transform(with_age_days(ds))

    def within(days: int, value: Column) -> Column:
        return F.when(F.col("age_days") < days, value)

    activity = aged.groupBy("user_id").agg(
        *[F.countDistinct(within(d, F.col("ds"))).alias(f"active_days_{d}") for d in (1, 7, 28)],
        *[F.count(within(d, F.lit(1))).alias(f"exposures_{d}") for d in (1, 7, 28)],
        F.sum(within(28, F.col("is_click"))).cast("long").alias("clicks_28"),
        F.sum(within(28, F.col("is_long_view"))).cast("long").alias("long_views_28"),
        F.sum(within(28, F.col("is_like"))).cast("long").alias("likes_28"),
        F.sum(within(28, F.col("is_follow"))).cast("long").alias("follows_28"),
        F.count(within(28, F.when(is_skip(), 1))).alias("skips_28"),
        F.min("age_days").alias("days_since_active"),
    )
    hourly = (aged.withColumn("hour", F.hour("ts")).groupBy("user_id").pivot("hour", HOURS).count()
              .na.fill(0, [str(h) for h in HOURS]))
    total = sum(F.col(str(h)) for h in HOURS)
    hourly = hourly.select("user_id", F.array(*[F.col(str(h)) / total for h in HOURS]).alias("hourly_profile"))
    counts = [c for c in activity.columns if c not in ("user_id", "days_since_active")]
    return (users.select("user_id").distinct()
            .join(activity, "user_id", "left").join(hourly, "user_id", "left")
            .na.fill(0, counts)
            .withColumn("skip_rate_28", F.when(F.col("exposures_28") > 0, F.col("skips_28") / F.col("exposures_28"))))


def build_user_category_affinity(events: DataFrame, items: DataFrame, *, prior_strength: float) -> DataFrame:
    """Per (user, category): counts, smoothed positive and skip rates, and affinity = their difference.

    Rates shrink towards the global rates with `prior_strength` pseudo-exposures, so five skips
    move a user's affinity a lot, and one lucky like does not.
    """
    require_columns(items, "bronze.items", ["item_id", "category"])
    labelled = events.join(items.select("item_id", "category"), "item_id").select(
        "user_id", "category", is_positive().cast("long").alias("positive"), is_skip().cast("long").alias("skip"))
    counts = labelled.groupBy("user_id", "category").agg(
        F.count(F.lit(1)).alias("exposures"), F.sum("positive").alias("positives"), F.sum("skip").alias("skips"))
    overall = labelled.agg((F.sum("positive") / F.count(F.lit(1))).alias("_global_positive"),
                           (F.sum("skip") / F.count(F.lit(1))).alias("_global_skip"))
    m = float(prior_strength)
    return (counts.crossJoin(F.broadcast(overall))
            .withColumn("positive_rate", (F.col("positives") + m * F.col("_global_positive")) / (F.col("exposures") + m))
            .withColumn("skip_rate", (F.col("skips") + m * F.col("_global_skip")) / (F.col("exposures") + m))
            .withColumn("affinity", F.col("positive_rate") - F.col("skip_rate"))
            .drop("_global_positive", "_global_skip"))
