"""Multi-objective ranking heads: calibrated p_click, p_long_view, p_like, p_follow, p_skip.

Each head is a logistic regression (Spark ML) over pair features known *before* the exposure: the
retrieval-side estimates (item rates lifted by the user's category engagement, as log-odds), the
user's category affinity, how much the item and the user have been seen, the user's skip rate,
and whether the item is a live stream. Training pairs are one day's exposures scored with the
features of the day before, so no label leaks into its own features. Logistic regression is
calibrated by construction on its training distribution; evaluation reports calibration error
to check that this holds on the next day. It does not always: trained on the logging feed's own
choices, the heads learn that feed's like rate, not the rate of an item shown to someone the feed
would not have picked (KuaiRand: 1.5% on all rows, 0.4% on its random exposures). So each night's
backtest also fits a Platt map (`fit_calibration`) on the held-out day, and the next night's
scores pass through it (`with_calibration`).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.embeddings import dot
from features.users import is_skip

HEADS = ("click", "long_view", "like", "follow", "skip")
LOG = logging.getLogger(__name__)
# A head needs this many rows of each label before it may replace the heuristic.
MIN_CLASS_ROWS = 5
FEATURES = ("logit_click", "logit_long_view", "logit_like", "logit_follow", "logit_skip", "affinity_feature",
            "video_affinity_feature", "als_score", "log_item_exposures", "log_user_exposures", "user_skip_rate",
            "log_creator_likes", "is_live_feature")


def head_label(head: str) -> Column:
    return (is_skip() if head == "skip" else F.col(f"is_{head}") > 0).cast("double")


def _logit(column: str) -> Column:
    p = F.least(F.greatest(F.col(column), F.lit(1e-4)), F.lit(1 - 1e-4))
    return F.log(p / (1 - p))


def with_ranking_features(scored_pairs: DataFrame, context: Mapping[str, DataFrame]) -> DataFrame:
    """`scored_pairs` come from `score_candidates` (heuristic p_* per pair); adds FEATURES from
    `context`: item_features, affinity, user_features, creator_features, user_factors and
    item_factors (ALS, cold-start completed), all as of one day."""
    items = context["item_features"].select("item_id", "category", "item_type", F.col("creator_id").alias("_creator"),
                                            F.col("exposures").alias("_item_exposures"))
    users = context["user_features"].select("user_id", F.col("exposures_28").alias("_user_exposures"),
                                            F.col("skip_rate_28").alias("_user_skip_rate"))
    creators = context["creator_features"].select(F.col("creator_id").alias("_creator"),
                                                  F.col("trailing_likes").alias("_creator_likes"))
    affinity = context["affinity"].select("user_id", "category", F.col("affinity").alias("_affinity"),
                                          F.col("video_affinity").alias("_video_affinity"))
    return (scored_pairs.join(items, "item_id", "left")
            .join(affinity, ["user_id", "category"], "left")
            .join(users, "user_id", "left")
            .join(creators, "_creator", "left")
            .join(context["user_factors"].select("user_id", F.col("factors").alias("_user_factors")), "user_id", "left")
            .join(context["item_factors"].select("item_id", F.col("factors").alias("_item_factors")), "item_id", "left")
            .select("*", *[_logit(f"p_{h}").alias(f"logit_{h}") for h in HEADS],
                    F.coalesce("_affinity", F.lit(0.0)).alias("affinity_feature"),
                    F.coalesce("_video_affinity", "_affinity", F.lit(0.0)).alias("video_affinity_feature"),
                    F.coalesce(dot("_user_factors", "_item_factors"), F.lit(0.0)).alias("als_score"),
                    F.log1p(F.coalesce("_item_exposures", F.lit(0))).alias("log_item_exposures"),
                    F.log1p(F.coalesce("_user_exposures", F.lit(0))).alias("log_user_exposures"),
                    F.coalesce("_user_skip_rate", F.lit(0.5)).alias("user_skip_rate"),
                    F.log1p(F.coalesce("_creator_likes", F.lit(0))).alias("log_creator_likes"),
                    (F.col("item_type") == "live").cast("double").alias("is_live_feature"))
            .drop("_creator", "_item_exposures", "_affinity", "_video_affinity", "_user_exposures",
                  "_user_skip_rate", "_creator_likes", "_user_factors", "_item_factors"))


def fit_heads(training: DataFrame, *, reg_param: float) -> dict[str, PipelineModel]:
    """One model per head; a head whose labels are all one value is skipped (nothing to learn).

    Fitting makes several passes per head, so the training frame is materialised once first
    (a local checkpoint also cuts the long feature lineage out of every pass)."""
    # One partition in a fixed row order: Spark merges per-partition sums in task-completion order,
    # and rows arrive from a shuffle in fetch order, so either makes every fit differ in the last
    # bits from run to run (and the LP turns that into a different vertex); both fixed, reruns agree.
    labels = [f"_y_{h}" for h in HEADS]
    training = (training.select(*FEATURES, *[head_label(h).alias(f"_y_{h}") for h in HEADS])
                .coalesce(1).sortWithinPartitions(*FEATURES, *labels).localCheckpoint())
    positives = training.agg(*[F.sum(f"_y_{h}").alias(h) for h in HEADS], F.count(F.lit(1)).alias("_n")).first()

    def fit(head: str) -> PipelineModel | None:
        positive, rows = positives[head] or 0, positives["_n"]
        if min(positive, rows - positive) < MIN_CLASS_ROWS:
            if rows:
                LOG.warning("ranking head %s: %d of %d training rows positive, too few to learn from; "
                            "the heuristic scores this objective", head, positive, rows)
            return None
        labelled = training.withColumn("label", F.col(f"_y_{head}"))
        stages = [VectorAssembler(inputCols=list(FEATURES), outputCol="_raw_features"),
                  StandardScaler(inputCol="_raw_features", outputCol="_features", withMean=True, withStd=True),
                  LogisticRegression(featuresCol="_features", labelCol="label", regParam=reg_param, maxIter=100,
                                     probabilityCol="_probability", rawPredictionCol="_raw",
                                     predictionCol="_predicted")]
        try:
            return Pipeline(stages=stages).fit(labelled)
        except Exception as error:  # noqa: BLE001 - Spark ML raises JVM errors as generic ones
            LOG.warning("ranking head %s could not be fitted (%s); the heuristic scores this objective", head,
                        str(error).strip().splitlines()[0][:200])
            return None

    # The heads are independent and each fit is a chain of small Spark jobs (one per iteration),
    # so they are fitted side by side: the scheduler overlaps one head's job with another's.
    # Each fit still reads one partition in one order, so its result does not depend on the others.
    with ThreadPoolExecutor(max_workers=len(HEADS), thread_name_prefix="ranking-head") as pool:
        fitted = dict(zip(HEADS, pool.map(fit, HEADS)))
    return {head: model for head, model in fitted.items() if model is not None}


def with_head_predictions(pairs: DataFrame, models: dict[str, PipelineModel], prefix: str = "p_") -> DataFrame:
    """Replace each p_<head> by its model's probability (heads without a model keep the heuristic)."""
    out = pairs
    for head, model in models.items():
        out = (model.transform(out).withColumn(f"{prefix}{head}", vector_to_array("_probability")[1])
               .drop("_raw_features", "_features", "_raw", "_probability", "_predicted"))
    return out


def fit_calibration(scored: DataFrame, column: str, head: str) -> tuple[float, float] | None:
    """Platt scaling of one head on held-out rows: P(y = 1 | p) = sigmoid(slope * logit(p) + intercept).

    Two parameters, so one day of held-out rows is enough (KuaiRand's ~800 random exposures a day);
    a monotone map keeps the head's ranking and moves only its level and spread. None when either
    label has too few rows to fit."""
    rows = scored.select(_logit(column).alias("_logit"), head_label(head).alias("label"))
    counts = rows.agg(F.sum("label").alias("positive"), F.count(F.lit(1)).alias("n")).first()
    positive, n = counts["positive"] or 0, counts["n"]
    if min(positive, n - positive) < MIN_CLASS_ROWS:
        return None
    # one partition in a fixed order, as for the heads: the fit is the same on every rerun
    rows = rows.coalesce(1).sortWithinPartitions("_logit", "label")
    features = VectorAssembler(inputCols=["_logit"], outputCol="_x").transform(rows)
    model = LogisticRegression(featuresCol="_x", labelCol="label", regParam=0.0, standardization=False,
                               maxIter=100).fit(features)
    return float(model.coefficients[0]), float(model.intercept)


def with_calibration(pairs: DataFrame, maps: Mapping[str, tuple[float, float]], prefix: str = "p_") -> DataFrame:
    """Each head's probability through its Platt map (heads without a map are left as they are)."""
    out = pairs
    for head, (slope, intercept) in maps.items():
        column = f"{prefix}{head}"
        if column in out.columns:
            out = out.withColumn(column, F.lit(1.0) / (F.lit(1.0) + F.exp(-(F.lit(slope) * _logit(column)
                                                                             + F.lit(intercept)))))
    return out
