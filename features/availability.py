"""User availability (DualRec's UAC): will the user come tomorrow, and how many creator-side items
can they absorb if they do?

A creator-side match is wasted on a user who does not return, so every pair's value is weighted
by p_active. Two estimates, on the same per-day activity:
- the smoothed frequency: active days weighted 0.5^(age / half_life), shrunk towards the
  population's active rate with `prior_days` pseudo-days (the fallback, and the baseline);
- a logistic regression trained on the history itself: for every anchor day t of the training
  window, features of days <= t and the label 'active on t+1'. Yesterday matters more than a fixed
  half-life admits, weekends differ, and heavy users come back; the model learns how much. Users
  with too little history keep the smoothed frequency.

The regression has nine coefficients, so it is fitted on the driver (`features.logistic`, as the
ranking heads are) from the training rows collected once, a seeded sample of users above
`features.availability_max_rows`. Spark ML ran one Spark job per L-BFGS iteration: 50 jobs a
fit, two fits a night (the prediction and the backtest), about half of the features step's jobs.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features.logistic import LogisticModel, fit_logistic, probability_column
from features.sampling import keep_user_sample

MODEL_FEATURES = ("share_active_1", "share_active_3", "share_active_7", "share_active_28", "smoothed_rate",
                  "recency", "log_requests", "next_is_weekend", "log_observable_days")


LOG = logging.getLogger(__name__)
MIN_CLASS_ROWS = 5  # rows of each label (active / not active next day) before the model may be fitted


def daily_activity(events: DataFrame) -> DataFrame:
    """One row per (user, active day) with the day's requests (exposures)."""
    return events.groupBy("user_id", "ds").agg(F.count(F.lit(1)).alias("requests"))


def exact_sum(terms: Column) -> Column:
    """A sum of doubles that does not depend on the order rows arrive in.

    Spark adds doubles in arrival order, and that order follows the partitioning: a standalone
    cluster's shuffle fetches blocks in another order than local mode, so the last bits of a double
    sum differ. Here they fed the availability model, which moved every user's p_active by ~1e-13
    and the LP to another of its equally good plans. Each term rounded to 18 decimals and summed as
    a decimal is exact, so every partitioning gives the same bits."""
    return F.sum(terms.cast("decimal(38,18)")).cast("double")


def _decay(half_life_days: float) -> float:
    return 0.5 ** (1.0 / half_life_days)


def availability_features(users: DataFrame, activity: DataFrame, anchors: list[str], *, lookback_days: int,
                          prior_days: float, half_life_days: float) -> DataFrame:
    """Per (user, anchor day t): activity features over [t - lookback + 1, t], for users registered by t.

    `smoothed_rate` is the smoothed-frequency estimate itself, so the model starts from the
    baseline and can only add to it."""
    spark = users.sparkSession
    decay = _decay(half_life_days)
    anchor_frame = spark.createDataFrame([(a,) for a in anchors], "anchor string")
    base = (users.select("user_id", F.to_date("registered_at").alias("_registered")).crossJoin(anchor_frame)
            .withColumn("_anchor", F.col("anchor").cast("date"))
            .where(F.col("_registered") <= F.col("_anchor"))
            .withColumn("observable_days", F.least(F.lit(lookback_days),
                                                   F.datediff("_anchor", "_registered") + 1)))
    joined = base.join(activity.withColumnRenamed("ds", "_day"), "user_id", "left").withColumn(
        "_age", F.datediff(F.col("_anchor"), F.col("_day").cast("date")))
    inside = (F.col("_age") >= 0) & (F.col("_age") < F.col("observable_days"))

    def active_within(days: int) -> Column:
        return F.sum(F.when(inside & (F.col("_age") < days), 1).otherwise(0))

    per_anchor = joined.groupBy("user_id", "anchor", "observable_days").agg(
        *[active_within(d).alias(f"_active_{d}") for d in (1, 3, 7, 28)],
        exact_sum(F.when(inside, F.pow(F.lit(decay), F.col("_age"))).otherwise(0.0)).alias("_weighted_active"),
        F.sum(F.when(inside, F.col("requests")).otherwise(0)).alias("_requests"),
        F.min(F.when(inside, F.col("_age"))).alias("_days_since"),
    )
    population = per_anchor.groupBy("anchor").agg(
        (F.sum("_active_28") / F.sum("observable_days")).alias("_population_rate"),
        (F.sum("_requests") / F.greatest(F.sum("_active_28"), F.lit(1))).alias("_population_requests"))
    weighted_days = (1 - F.pow(F.lit(decay), F.col("observable_days"))) / (1 - decay)
    next_day = F.date_add(F.col("anchor").cast("date"), 1)
    return (per_anchor.join(F.broadcast(population), "anchor")
            .select(
                "user_id", "anchor", "observable_days",
                *[(F.col(f"_active_{d}") / F.least(F.lit(d), F.col("observable_days"))).alias(f"share_active_{d}")
                  for d in (1, 3, 7, 28)],
                ((F.col("_weighted_active") + prior_days * F.col("_population_rate"))
                 / (weighted_days + prior_days)).alias("smoothed_rate"),
                (1.0 / (1.0 + F.coalesce(F.col("_days_since"), F.col("observable_days")))).alias("recency"),
                F.log1p(F.when(F.col("_active_28") > 0, F.col("_requests") / F.col("_active_28"))
                        .otherwise(F.col("_population_requests"))).alias("log_requests"),
                F.when(F.col("_active_28") > 0, F.col("_requests") / F.col("_active_28"))
                .otherwise(F.col("_population_requests")).alias("requests_if_active"),
                F.dayofweek(next_day).isin(1, 7).cast("double").alias("next_is_weekend"),
                F.log1p(F.col("observable_days").cast("double")).alias("log_observable_days"),
            ))


def with_next_day_label(features: DataFrame, activity: DataFrame) -> DataFrame:
    """label = 1 if the user was active on anchor + 1."""
    came = activity.select("user_id", F.date_format(F.date_sub(F.col("ds").cast("date"), 1), "yyyy-MM-dd")
                           .alias("anchor"), F.lit(1.0).alias("label"))
    return features.join(came, ["user_id", "anchor"], "left").na.fill(0.0, ["label"])


def fit_availability_model(rows: pd.DataFrame, *, reg_param: float) -> LogisticModel:
    """The model on collected training rows (MODEL_FEATURES and label); `fit_logistic` puts them
    in a canonical order first, so the fit has the same bits however Spark partitioned them."""
    return fit_logistic(rows[list(MODEL_FEATURES)].to_numpy(float), rows["label"].to_numpy(float),
                        features=MODEL_FEATURES, reg_param=reg_param)


def with_p_active(features: DataFrame, model: LogisticModel | None, *, min_history_days: int) -> DataFrame:
    """p_active from the model where the user has history enough, else the smoothed frequency."""
    if model is None:
        return features.withColumn("p_active", F.col("smoothed_rate")).withColumn("p_source", F.lit("smoothed"))
    enough = F.col("observable_days") >= min_history_days
    return (features.withColumn("p_active", F.when(enough, probability_column(model)).otherwise(F.col("smoothed_rate")))
            .withColumn("p_source", F.when(enough, F.lit("model")).otherwise(F.lit("smoothed"))))


def build_user_availability(scored: DataFrame, *, slot_share: float, max_slots: int) -> DataFrame:
    """From p_active to the table: expected requests tomorrow and the creator-side slot capacity
    (a share of the requests the user makes on a day they come, capped)."""
    return scored.select(
        "user_id", "p_active", (F.col("p_active") * F.col("requests_if_active")).alias("expected_requests"),
        F.least(F.lit(max_slots), F.round(slot_share * F.col("requests_if_active"))).cast("int").alias("slot_capacity"),
        "p_source")


def training_anchors(ds: str, training_days: int) -> list[str]:
    """The anchors whose next-day labels are known at ds: ds-training_days .. ds-1."""
    import datetime as dt

    day = dt.date.fromisoformat(ds)
    return [(day - dt.timedelta(days=k)).isoformat() for k in range(training_days, 0, -1)]


def fit_if_possible(training: DataFrame, *, reg_param: float, max_rows: int = 1_000_000,
                    seed: int = 0) -> LogisticModel | None:
    """A model needs both outcomes in its training set; a brand-new warehouse may not have them.

    The training rows (users x anchor days) are collected once. Above `max_rows`, a seeded sample
    of users keeps all of each kept user's anchors: nine coefficients are as well determined by a
    million rows as by a hundred million, and the driver holds 80 bytes a row."""
    training = training.select("user_id", *MODEL_FEATURES, "label").localCheckpoint()  # counted, then collected
    n = training.count()
    if n > max_rows:
        training = keep_user_sample(training, seed, max_rows / n)
    rows = training.drop("user_id").toPandas()
    if not np.isfinite(rows.to_numpy(float)).all():
        LOG.warning("availability model: a training feature is missing or infinite; p_active is the smoothed "
                    "frequency for every user")
        return None
    counts = rows["label"].value_counts().to_dict()
    if min(counts.get(0.0, 0), counts.get(1.0, 0)) < MIN_CLASS_ROWS:
        LOG.warning("availability model: %s rows per label, too few to learn from; p_active is the smoothed "
                    "frequency for every user", counts or "no")
        return None
    return fit_availability_model(rows, reg_param=reg_param)
