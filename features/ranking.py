"""Multi-objective ranking heads: calibrated p_click, p_long_view, p_like, p_follow, p_skip.

Each head is a logistic regression over pair features known *before* the exposure: the
retrieval-side estimates (item rates lifted by the user's category engagement, as log-odds), the
user's category affinity, how much the item and the user have been seen, the user's skip rate,
and whether the item is a live stream. It is fitted on the driver from the day's collected
training rows (`features.logistic`: a dozen coefficients need no cluster) and applied in Spark as
one column expression per head. Training pairs are one day's exposures scored with the
features of the day before, so no label leaks into its own features. Logistic regression is
calibrated by construction on its training distribution; evaluation reports calibration error
to check that this holds on the next day. It does not always: trained on the logging feed's own
choices, the heads learn that feed's like rate, not the rate of an item shown to someone the feed
would not have picked (KuaiRand: 1.5% on all rows, 0.4% on its random exposures). So each night's
backtest also fits a Platt map (`platt_map`) on the held-out day, and the next night's
scores pass through it (`with_calibration`).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.embeddings import dot
from features.logistic import LogisticModel, fit_logistic, probability_column
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


def _sample(frame: DataFrame, max_rows: int, seed: int) -> DataFrame:
    """At most about `max_rows` rows, chosen by a seeded hash of the pair: the same rows however
    Spark partitions them (DataFrame.sample draws per partition)."""
    n = frame.count()
    if n <= max_rows:
        return frame
    bucket = F.abs(F.xxhash64("user_id", "item_id", F.lit(int(seed)))) % F.lit(1_000_000)
    return frame.where(bucket < F.lit(int(1_000_000 * max_rows / n)))


def fit_heads(training: DataFrame, *, reg_param: float, max_rows: int = 500_000,
              seed: int = 0) -> dict[str, LogisticModel]:
    """One logistic model per head, fitted on the driver (`features.logistic`); a head with fewer
    than MIN_CLASS_ROWS of either label is skipped (nothing to learn: the heuristic scores it).
    Above `max_rows` training rows, a seeded sample of about that many: a dozen coefficients are
    as well determined by half a million rows as by ten million."""
    labels = [head_label(h).alias(f"_y_{h}") for h in HEADS]
    rows = _sample(training, max_rows, seed).select(*FEATURES, *labels).toPandas()
    x = rows[list(FEATURES)].to_numpy(float)
    models = {}
    for head in HEADS:
        y = rows[f"_y_{head}"].to_numpy(float)
        positive = int(y.sum())
        if min(positive, len(y) - positive) < MIN_CLASS_ROWS:
            if len(y):
                LOG.warning("ranking head %s: %d of %d training rows positive, too few to learn from; "
                            "the heuristic scores this objective", head, positive, len(y))
            continue
        models[head] = fit_logistic(x, y, features=FEATURES, reg_param=reg_param)
    return models


def with_head_predictions(pairs: DataFrame, models: Mapping[str, LogisticModel], prefix: str = "p_") -> DataFrame:
    """Replace each p_<head> by its model's probability (heads without a model keep the heuristic):
    one projection, a column expression per head."""
    return pairs.withColumns({f"{prefix}{head}": probability_column(model) for head, model in models.items()})


def heads_table(models: Mapping[str, LogisticModel]) -> pd.DataFrame:
    """The heads as rows (one per head and feature; `feature` "" holds the intercept), for
    `silver.ranking_heads`: the next night's backtest reads them, an analyst sees what they weigh."""
    rows = []
    for head, model in sorted(models.items()):
        rows.append({"head": head, "feature": "", "mean": 0.0, "scale": 1.0, "coefficient": model.intercept,
                     "n_rows": model.n_rows})
        rows += [{"head": head, "feature": name, "mean": float(mean), "scale": float(scale),
                  "coefficient": float(weight), "n_rows": model.n_rows}
                 for name, mean, scale, weight in zip(model.features, model.mean, model.scale, model.coefficients)]
    return pd.DataFrame(rows, columns=["head", "feature", "mean", "scale", "coefficient", "n_rows"])


def heads_from_table(table: pd.DataFrame) -> dict[str, LogisticModel]:
    """`heads_table` read back (features in FEATURES order; a head missing any feature is left out)."""
    models = {}
    for head, rows in table.groupby("head"):
        by_feature = rows.set_index("feature")
        if "" not in by_feature.index or not set(FEATURES) <= set(by_feature.index):
            continue
        weights = by_feature.loc[list(FEATURES)]
        models[str(head)] = LogisticModel(FEATURES, weights["mean"].to_numpy(float), weights["scale"].to_numpy(float),
                                          weights["coefficient"].to_numpy(float),
                                          float(by_feature.loc["", "coefficient"]), int(rows["n_rows"].iloc[0]))
    return models


def platt_map(p: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """Platt scaling of one head on held-out rows (predictions p, outcomes y in 0/1, collected):
    P(y = 1 | p) = sigmoid(slope * logit(p) + intercept).

    Two parameters, so one day of held-out rows is enough (KuaiRand's ~800 random exposures a day);
    a monotone map keeps the head's ranking and moves only its level and spread. None when either
    label has too few rows to fit."""
    positive = int(y.sum())
    if min(positive, len(y) - positive) < MIN_CLASS_ROWS:
        return None
    clipped = np.clip(p, 1e-4, 1 - 1e-4)     # as `_logit`
    logit = np.log(clipped / (1 - clipped))[:, None]
    model = fit_logistic(logit, y, features=("_logit",), reg_param=0.0, standardize=False)
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
