"""Item and creator features: engagement rates with their uncertainty, newness, trailing likes.

An item's like rate is a Beta posterior whose prior is its category's rate worth
`prior_strength` exposures: an item with 3 exposures says little, and its alpha/beta say how
little, which is what later optimism for new items needs.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.users import is_skip

RATES = ("click", "long_view", "like", "follow", "skip")


def _day_end(ds: str):  # noqa: ANN202 - a Column
    return F.date_add(F.lit(ds).cast("date"), 1).cast("timestamp")


def _engagement(events: DataFrame) -> DataFrame:
    return events.select("item_id", F.col("is_click").alias("click"), F.col("is_long_view").alias("long_view"),
                         F.col("is_like").alias("like"), F.col("is_follow").alias("follow"),
                         is_skip().cast("int").alias("skip"))


def build_item_features(items: DataFrame, events: DataFrame, *, ds: str, new_item_days: float,
                        prior_strength: float) -> DataFrame:
    engagement = _engagement(events)
    per_item = engagement.groupBy("item_id").agg(
        F.count(F.lit(1)).alias("exposures"), *[F.sum(r).cast("long").alias(f"{r}s") for r in RATES])
    by_category = engagement.join(items.select("item_id", "category"), "item_id").groupBy("category").agg(
        *[F.avg(r).alias(f"_prior_{r}") for r in RATES])
    overall = engagement.agg(*[F.avg(r).alias(f"_global_{r}") for r in RATES])
    m = float(prior_strength)
    out = (items.join(per_item, "item_id", "left").na.fill(0, ["exposures", *[f"{r}s" for r in RATES]])
           .join(by_category, "category", "left").crossJoin(F.broadcast(overall)))
    for r in RATES:
        prior = F.coalesce(F.col(f"_prior_{r}"), F.col(f"_global_{r}"), F.lit(0.0))
        out = out.withColumn(f"{r}_rate", (F.col(f"{r}s") + m * prior) / (F.col("exposures") + m))
    like_prior = F.coalesce(F.col("_prior_like"), F.col("_global_like"), F.lit(0.0))
    return (out
            .withColumn("like_alpha", F.col("likes") + m * like_prior)
            .withColumn("like_beta", F.col("exposures") - F.col("likes") + m * (1 - like_prior))
            .withColumn("age_days", (F.unix_timestamp(_day_end(ds)) - F.unix_timestamp("created_at")) / 86_400.0)
            .withColumn("is_new", F.col("age_days") < F.lit(float(new_item_days))))


def build_creator_features(creators: DataFrame, items: DataFrame, events: DataFrame, *, ds: str,
                           new_creator_days: float) -> DataFrame:
    """trailing_likes is L0, the point on the happiness curve each creator starts tomorrow from."""
    likes = (events.join(items.select("item_id", "creator_id"), "item_id")
             .groupBy("creator_id").agg(F.sum("is_like").cast("long").alias("trailing_likes")))
    n_items = items.groupBy("creator_id").agg(F.count(F.lit(1)).alias("n_items"))
    return (creators.join(n_items, "creator_id", "left").join(likes, "creator_id", "left")
            .na.fill(0, ["n_items", "trailing_likes"])
            .withColumn("age_days", (F.unix_timestamp(_day_end(ds)) - F.unix_timestamp("created_at")) / 86_400.0)
            .withColumn("is_new_creator", F.col("age_days") < F.lit(float(new_creator_days))))
