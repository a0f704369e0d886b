"""User and item embeddings from the logs (Spark ML ALS, implicit feedback), skips included.

The skip-feedback paper's point, in ALS terms: a swipe-away is not missing data. Each (user, item)
gets a preference score from what the user did: long views, likes and follows push it up, a skip
pushes it below zero. Spark's implicit ALS reads a negative rating as confidence that the
preference is zero, so a skipped item is actively fitted away from the user instead of being
left as unobserved.

A brand-new item has no factors. It borrows them from what is known: the mean of its creator's
other items, else the mean of its category's items (for live streams: the category's short videos,
the cross-domain transfer of Moment&Cross), so it can still find an audience on its first day.
"""
from __future__ import annotations

from collections.abc import Mapping

from pyspark.ml.recommendation import ALS
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.users import is_skip

FEEDBACK_WEIGHTS = {"is_click": 0.5, "is_long_view": 1.0, "is_like": 2.0, "is_follow": 3.0, "skip": -1.0}


def implicit_ratings(events: DataFrame, weights: Mapping[str, float] = FEEDBACK_WEIGHTS) -> DataFrame:
    """One rating per (user, item): the weighted sum of what the user did with it, skips negative."""
    score = sum(F.lit(float(w)) * (is_skip().cast("double") if name == "skip" else F.col(name).cast("double"))
                for name, w in weights.items())
    return events.groupBy("user_id", "item_id").agg(F.sum(score).alias("rating"))


def fit_embeddings(ratings: DataFrame, *, rank: int, reg_param: float, alpha: float, max_iter: int,
                   seed: int) -> tuple[DataFrame, DataFrame]:
    """(user_factors: user_id, factors), (item_factors: item_id, factors)."""
    # One block each: ALS sums Gram matrices across blocks in task-completion order, which makes
    # factors differ in the last bits between identical runs; one block keeps reruns identical.
    als = ALS(rank=rank, maxIter=max_iter, regParam=reg_param, alpha=alpha, implicitPrefs=True,
              userCol="user_id", itemCol="item_id", ratingCol="rating", seed=seed, nonnegative=False,
              coldStartStrategy="drop", numUserBlocks=1, numItemBlocks=1)
    model = als.fit(ratings.withColumn("user_id", F.col("user_id").cast("int"))
                    .withColumn("item_id", F.col("item_id").cast("int")))
    users = model.userFactors.select(F.col("id").cast("long").alias("user_id"), F.col("features").alias("factors"))
    items = model.itemFactors.select(F.col("id").cast("long").alias("item_id"), F.col("features").alias("factors"))
    return users, items


def _mean_vector(column: str, rank: int) -> Column:
    return F.array(*[F.avg(F.element_at(column, k + 1)) for k in range(rank)])


def with_cold_start_factors(items: DataFrame, item_factors: DataFrame, *, rank: int) -> DataFrame:
    """Every item of `items` (item_id, creator_id, category, item_type) with `factors` and where they
    came from: 'als', 'creator' (mean of the creator's items), 'category' (mean of the category's
    short videos) or null when nothing is known."""
    known = items.join(item_factors, "item_id")
    creator_mean = known.groupBy("creator_id").agg(_mean_vector("factors", rank).alias("_creator_factors"))
    category_mean = (known.where(F.col("item_type") == "video").groupBy("category")
                     .agg(_mean_vector("factors", rank).alias("_category_factors")))
    out = (items.join(item_factors, "item_id", "left").join(creator_mean, "creator_id", "left")
           .join(category_mean, "category", "left"))
    return (out.withColumn("factor_source", F.when(F.col("factors").isNotNull(), "als")
                           .when(F.col("_creator_factors").isNotNull(), "creator")
                           .when(F.col("_category_factors").isNotNull(), "category"))
            .withColumn("factors", F.coalesce("factors", "_creator_factors", "_category_factors"))
            .drop("_creator_factors", "_category_factors"))


def dot(left: str, right: str) -> Column:
    return F.aggregate(F.zip_with(left, right, lambda a, b: a * b), F.lit(0.0), lambda acc, v: acc + v)
