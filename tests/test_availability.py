"""The availability model against the truth of the synthetic world, and its metrics by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from allocation import metrics
from features.availability import (
    MODEL_FEATURES,
    availability_features,
    fit_if_possible,
    training_anchors,
    with_next_day_label,
    with_p_active,
)
from features.sampling import keep_user_sample
from jobs.sources.synthetic import WorldParams, generate_world
from tests.conftest import make_config


def test_metrics_on_hand_computed_examples():
    assert metrics.auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert metrics.auc(np.array([0.5, 0.5]), np.array([0, 1])) == pytest.approx(0.5)
    assert metrics.log_loss(np.array([0.5, 0.5]), np.array([0, 1])) == pytest.approx(np.log(2))
    # two bins: predictions 0.2 (observed 0.5) and 0.9 (observed 1.0): |0.2-0.5|/2 + |0.9-1|/2
    assert metrics.calibration_error(np.array([0.2, 0.2, 0.9, 0.9]), np.array([0, 1, 1, 1])) == pytest.approx(0.2)
    assert metrics.hit_rate(np.array([0.9, 0.7, 0.2]), np.array([1, 0, 1])) == pytest.approx(0.5)


def test_uac_model_beats_the_smoothed_frequency_on_the_true_next_day(spark, tmp_path):
    config = make_config(str(tmp_path), "sample.n_users=1500", "sample.n_days=21", "sample.n_creators=20")
    world = generate_world(WorldParams.from_config(config))
    truth = world.truth_activity
    days = sorted(truth["ds"].unique())
    ds, tomorrow = days[-2], days[-1]                      # plan for the last simulated day
    logged = truth[truth["active"] & (truth["ds"] <= ds)][["user_id", "ds", "requests"]]
    activity = spark.createDataFrame(logged)
    users = spark.createDataFrame(world.users)
    settings = dict(lookback_days=28, prior_days=2.0, half_life_days=7.0)
    training = with_next_day_label(availability_features(users, activity, training_anchors(ds, 14), **settings),
                                   activity)
    model = fit_if_possible(training, reg_param=0.01)
    assert model is not None
    scored = with_p_active(availability_features(users, activity, [ds], **settings), model,
                           min_history_days=3).toPandas()
    came = truth[truth["ds"] == tomorrow].set_index("user_id")["active"]
    y = came.loc[scored["user_id"]].to_numpy(float)
    model_auc, baseline_auc = metrics.auc(scored["p_active"], y), metrics.auc(scored["smoothed_rate"], y)
    assert model_auc > baseline_auc
    assert metrics.log_loss(scored["p_active"], y) < metrics.log_loss(scored["smoothed_rate"], y)
    assert metrics.calibration_error(scored["p_active"], y) < 0.1


def test_availability_features_have_the_same_bits_however_the_activity_is_partitioned(spark, tmp_path):
    """A standalone cluster fetches shuffle blocks in another order than local mode. The features
    (and so the model and every p_active) must not move by a bit: the same activity in another row
    order and partitioning gives identical features."""
    config = make_config(str(tmp_path), "sample.n_users=400", "sample.n_days=21", "sample.n_creators=20")
    world = generate_world(WorldParams.from_config(config))
    truth = world.truth_activity
    ds = sorted(truth["ds"].unique())[-2]
    logged = truth[truth["active"] & (truth["ds"] <= ds)][["user_id", "ds", "requests"]].reset_index(drop=True)
    users = spark.createDataFrame(world.users)
    settings = dict(lookback_days=28, prior_days=2.0, half_life_days=7.0)
    anchors = training_anchors(ds, 7)
    frames = []
    for order, partitions in ((logged, 1), (logged.sample(frac=1.0, random_state=7), 5)):
        activity = spark.createDataFrame(order).repartition(partitions)
        frames.append(availability_features(users, activity, anchors, **settings).toPandas()
                      .sort_values(["user_id", "anchor"]).reset_index(drop=True))
    assert len(frames[0]) > 1000
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)


def _training_frame(spark, n_users: int):
    config = make_config("unused", f"sample.n_users={n_users}", "sample.n_days=21", "sample.n_creators=20")
    world = generate_world(WorldParams.from_config(config))
    truth = world.truth_activity
    ds = sorted(truth["ds"].unique())[-2]
    logged = truth[truth["active"] & (truth["ds"] <= ds)][["user_id", "ds", "requests"]]
    activity = spark.createDataFrame(logged)
    users = spark.createDataFrame(world.users)
    settings = dict(lookback_days=28, prior_days=2.0, half_life_days=7.0)
    return with_next_day_label(availability_features(users, activity, training_anchors(ds, 14), **settings), activity)


def test_the_driver_fit_is_spark_mls_logistic_regression(spark):
    """The availability model moved from Spark ML to the driver (features.logistic): the same
    objective, so Spark ML's fit on the same rows gives the same coefficients, to its own tolerance."""
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StandardScaler, VectorAssembler

    training = _training_frame(spark, 600).cache()
    ours = fit_if_possible(training, reg_param=0.01)
    assembled = VectorAssembler(inputCols=list(MODEL_FEATURES), outputCol="_raw").transform(training)
    scaled = StandardScaler(inputCol="_raw", outputCol="_z", withMean=True, withStd=True).fit(assembled).transform(assembled)
    theirs = LogisticRegression(featuresCol="_z", labelCol="label", regParam=0.01, maxIter=200, tol=1e-10).fit(scaled)
    assert ours.n_rows == training.count() > 5000
    np.testing.assert_allclose(ours.coefficients, theirs.coefficients.toArray(), atol=2e-3)
    assert ours.intercept == pytest.approx(theirs.intercept, abs=2e-3)


def test_above_max_rows_the_model_learns_from_a_seeded_sample_of_whole_users(spark):
    """Above `features.availability_max_rows` a seeded sample of users: every anchor of a kept
    user, the same rows for the same seed, other rows for another, and about max_rows of them."""
    training = _training_frame(spark, 600).cache()
    n = training.count()
    half = fit_if_possible(training, reg_param=0.01, max_rows=n // 2, seed=1)
    again = fit_if_possible(training, reg_param=0.01, max_rows=n // 2, seed=1)
    other = fit_if_possible(training, reg_param=0.01, max_rows=n // 2, seed=2)
    assert 0.35 * n < half.n_rows < 0.65 * n
    np.testing.assert_array_equal(half.coefficients, again.coefficients)
    assert half.n_rows != other.n_rows or not np.array_equal(half.coefficients, other.coefficients)
    kept = keep_user_sample(training, 1, (n // 2) / n).groupBy("user_id").count().toPandas()
    per_user = training.groupBy("user_id").count().toPandas().set_index("user_id")["count"]
    assert (kept.set_index("user_id")["count"] == per_user.loc[kept["user_id"]].to_numpy()).all()
    assert kept["count"].sum() == half.n_rows


def test_a_training_feature_that_is_missing_leaves_the_smoothed_frequency(spark):
    """A null feature would make every coefficient NaN (numpy does not refuse it as Spark ML's
    assembler did): no model, and every user keeps the smoothed frequency."""
    training = _training_frame(spark, 300)
    assert fit_if_possible(training, reg_param=0.01) is not None
    broken = training.withColumn("recency", F.when(F.col("user_id") % 7 == 0, F.lit(None)).otherwise(F.col("recency")))
    assert fit_if_possible(broken, reg_param=0.01) is None
