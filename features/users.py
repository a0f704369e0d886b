"""User activity and category affinity, skips counted as negative feedback.

A skip (an exposure with neither click nor long view) is the most common thing a short-video user
does, and it says something: the user saw the item and swiped it away. So affinity is the smoothed
positive rate minus the smoothed skip rate, and a category a user keeps skipping sinks below one
they have never seen (which sits at the prior).
"""
from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.columns import require_columns

HOURS = list(range(24))
SESSION_GAP_SECONDS = 30 * 60  # a pause this long ends a burst of requests


def with_session_start(events: DataFrame) -> DataFrame:
    """Adds `session_start` = 1 where a user's request opens a burst (first ever, or after a long pause)."""
    previous = F.lag("ts").over(Window.partitionBy("user_id").orderBy("ts"))
    gap = F.unix_timestamp("ts") - F.unix_timestamp(previous)
    return events.withColumn("session_start", F.when(previous.isNull() | (gap > SESSION_GAP_SECONDS), 1).otherwise(0))


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
    aged = events.transform(with_age_days(ds)).transform(with_session_start)

    def within(days: int, value: Column) -> Column:
        return F.when(F.col("age_days") < days, value)

    activity = aged.groupBy("user_id").agg(
        *[F.countDistinct(within(d, F.col("ds"))).alias(f"active_days_{d}") for d in (1, 7, 28)],
        *[F.count(within(d, F.lit(1))).alias(f"exposures_{d}") for d in (1, 7, 28)],
        *[F.sum(within(d, F.col("session_start"))).cast("long").alias(f"sessions_{d}") for d in (7, 28)],
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


def _category_rates(labelled: DataFrame, prior_strength: float, prefix: str = "") -> DataFrame:
    counts = labelled.groupBy("user_id", "category").agg(
        F.count(F.lit(1)).alias(f"{prefix}exposures"), F.sum("positive").alias(f"{prefix}positives"),
        F.sum("skip").alias(f"{prefix}skips"))
    overall = labelled.agg((F.sum("positive") / F.count(F.lit(1))).alias("_global_positive"),
                           (F.sum("skip") / F.count(F.lit(1))).alias("_global_skip"))
    m = float(prior_strength)
    smoothed = lambda column, rate: ((F.col(f"{prefix}{column}") + m * F.col(rate))  # noqa: E731
                                     / (F.col(f"{prefix}exposures") + m))
    return (counts.crossJoin(F.broadcast(overall))
            .withColumn(f"{prefix}positive_rate", smoothed("positives", "_global_positive"))
            .withColumn(f"{prefix}skip_rate", smoothed("skips", "_global_skip"))
            .withColumn(f"{prefix}affinity", F.col(f"{prefix}positive_rate") - F.col(f"{prefix}skip_rate"))
            .drop("_global_positive", "_global_skip"))


def build_user_category_affinity(events: DataFrame, items: DataFrame, *, prior_strength: float) -> DataFrame:
    """Per (user, category): counts, smoothed positive and skip rates, and affinity = their difference.

    Rates shrink towards the global rates with `prior_strength` pseudo-exposures, so five skips
    move a user's affinity a lot, and one lucky like does not. `video_affinity` is the same from
    short videos only: live streams get far less feedback than short videos, so (as Moment&Cross
    argues) a user's short-video interests are the better guide to which live streams fit them.
    """
    require_columns(items, "bronze.items", ["item_id", "category"])
    labelled = events.join(items.select("item_id", "category"), "item_id").select(
        "user_id", "category", "surface", is_positive().cast("long").alias("positive"),
        is_skip().cast("long").alias("skip"))
    every_surface = _category_rates(labelled, prior_strength)
    video = _category_rates(labelled.where(F.col("surface") == "video"), prior_strength, prefix="_video_")
    return every_surface.join(video.select("user_id", "category", F.col("_video_affinity").alias("video_affinity")),
                              ["user_id", "category"], "left")


def logged_outcomes_per_item(events: DataFrame, users: DataFrame) -> DataFrame:
    """Per item, what one day's logged exposures to `users` brought: exposures and how many of them
    were clicked, long-viewed, liked, followed from and skipped. What the logging feed really did
    with a plan's users, as an evaluation control; an item's rows are summed so nothing per
    exposure reaches the driver."""
    return (events.join(users.select("user_id").distinct(), "user_id")
            .groupBy("item_id")
            .agg(F.count(F.lit(1)).alias("exposures"),
                 *[F.sum(F.col(f"is_{name}").cast("double")).alias(name)
                   for name in ("click", "long_view", "like", "follow")],
                 F.sum(is_skip().cast("double")).alias("skip")))
