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

import logging
from collections.abc import Mapping

from pyspark.ml.recommendation import ALS
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.users import is_skip

LOG = logging.getLogger(__name__)
FEEDBACK_WEIGHTS = {"is_click": 0.5, "is_long_view": 1.0, "is_like": 2.0, "is_follow": 3.0, "skip": -1.0}


def implicit_ratings(events: DataFrame, weights: Mapping[str, float] = FEEDBACK_WEIGHTS) -> DataFrame:
    """One rating per (user, item): the weighted sum of what the user did with it, skips negative."""
    score = sum(F.lit(float(w)) * (is_skip().cast("double") if name == "skip" else F.col(name).cast("double"))
                for name, w in weights.items())
    return events.groupBy("user_id", "item_id").agg(F.sum(score).alias("rating"))


def fit_embeddings(ratings: DataFrame, *, rank: int, reg_param: float, alpha: float, max_iter: int,
                   seed: int) -> tuple[DataFrame, DataFrame]:
    """(user_factors: user_id, factors), (item_factors: item_id, factors).

    Spark's ALS wants int ids, so the fit runs on dense positions and maps back (source ids may be
    64-bit hashes). Data too small or too degenerate for the rank (ALS then fails to factor a
    singular matrix) is fitted again at half the rank, down to 1; if even that fails the factors
    are empty, every item takes the cold-start path and the heads read no ALS score -- with a
    warning, not a crash."""
    from pyspark.sql import Window

    spark = ratings.sparkSession
    empty = (spark.createDataFrame([], "user_id long, factors array<float>"),
             spark.createDataFrame([], "item_id long, factors array<float>"))
    stats = ratings.agg(F.countDistinct("user_id").alias("n_users"), F.countDistinct("item_id").alias("n_items"),
                        F.least(F.min("user_id"), F.min("item_id")).alias("low"),
                        F.greatest(F.max("user_id"), F.max("item_id")).alias("high")).first()
    n_users, n_items = stats["n_users"], stats["n_items"]
    if min(n_users, n_items) < 2:
        LOG.warning("ALS: %d users x %d items is too little to factor; no embeddings", n_users, n_items)
        return empty
    user_pos = item_pos = None
    if 0 <= stats["low"] and stats["high"] < 2**31:      # ids ALS can take as they are
        dense = ratings.select(F.col("user_id").cast("int"), F.col("item_id").cast("int"), "rating")
    else:                                                  # hashed text ids: fit on dense positions
        user_pos = ratings.select("user_id").distinct().withColumn(
            "_u", F.row_number().over(Window.orderBy("user_id")) - 1)
        item_pos = ratings.select("item_id").distinct().withColumn(
            "_i", F.row_number().over(Window.orderBy("item_id")) - 1)
        dense = (ratings.join(user_pos, "user_id").join(item_pos, "item_id")
                 .select(F.col("_u").cast("int").alias("user_id"), F.col("_i").cast("int").alias("item_id"), "rating")
                 ).localCheckpoint()
    rank_now = max(1, min(rank, n_users, n_items))
    while True:
        # One block each: ALS sums Gram matrices across blocks in task-completion order, which makes
        # factors differ in the last bits between identical runs; one block keeps reruns identical.
        als = ALS(rank=rank_now, maxIter=max_iter, regParam=reg_param, alpha=alpha, implicitPrefs=True,
                  userCol="user_id", itemCol="item_id", ratingCol="rating", seed=seed, nonnegative=False,
                  coldStartStrategy="drop", numUserBlocks=1, numItemBlocks=1)
        try:
            model = als.fit(dense)
            break
        except Exception as error:  # noqa: BLE001 - Spark raises its JVM errors (SingularMatrixException) as generic ones
            message = str(error).strip().splitlines()[0][:200]
            if rank_now == 1:
                LOG.warning("ALS failed even at rank 1 (%s); no embeddings, cold-start and affinity only", message)
                return empty
            LOG.warning("ALS at rank %d failed (%s); retrying at rank %d", rank_now, message, rank_now // 2)
            rank_now //= 2
    pad = [F.lit(0.0).cast("float")] * (rank - rank_now)
    factors = F.concat(F.col("features"), F.array(*pad)) if pad else F.col("features")
    return (_source_ids(model.userFactors, user_pos, "user_id", "_u", factors),
            _source_ids(model.itemFactors, item_pos, "item_id", "_i", factors))


def _source_ids(fitted: DataFrame, positions: DataFrame | None, name: str, position: str,
                factors: Column) -> DataFrame:
    """ALS's factor rows under the source's ids: the ids themselves, or looked up by position."""
    if positions is None:
        return fitted.select(F.col("id").cast("long").alias(name), factors.alias("factors"))
    return fitted.join(positions, F.col("id") == F.col(position)).select(name, factors.alias("factors"))


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
