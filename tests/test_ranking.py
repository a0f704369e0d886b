"""Ranking heads: they learn a real signal, skip degenerate labels, and keep optimism for new items."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import Row

from allocation import metrics
from features.ranking import FEATURES, fit_heads, with_head_predictions
from jobs.steps.candidates.ranking import apply_heads

WEIGHTS = {"click": 0.1, "long_view": 1.0, "like": 2.0, "follow": 3.0, "skip": -0.5}


def synthetic_pairs(spark, n, seed, likes_follow_signal=True):
    """Pairs whose true like probability rises with logit_like; follows never happen."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(0, 1.5, n)
    p_like = 1 / (1 + np.exp(-(signal - 1.0)))
    rows = []
    for k in range(n):
        features = {name: float(rng.normal()) for name in FEATURES}
        features["logit_like"] = float(signal[k]) if likes_follow_signal else float(rng.normal())
        rows.append(Row(user_id=k, item_id=k, **features, is_click=int(rng.random() < 0.4),
                        is_long_view=int(rng.random() < 0.3), is_like=int(rng.random() < p_like[k]), is_follow=0))
    return spark.createDataFrame(rows), p_like


def test_heads_learn_the_signal_and_skip_constant_labels(spark):
    training, _ = synthetic_pairs(spark, 1500, seed=1)
    models = fit_heads(training, reg_param=0.01)
    assert "follow" not in models            # no follow ever happened: nothing to learn
    assert {"click", "long_view", "like", "skip"} <= set(models)
    test, true_p = synthetic_pairs(spark, 1000, seed=2)
    predicted = with_head_predictions(test, models).select("item_id", "p_like").toPandas().sort_values("item_id")
    assert metrics.auc(predicted["p_like"].to_numpy(), true_p > np.median(true_p)) > 0.9
    # calibrated: mean prediction close to the true mean rate
    assert abs(predicted["p_like"].mean() - true_p.mean()) < 0.05
    # the same bits on every run, however Spark partitions the rows
    again = fit_heads(training.repartition(3), reg_param=0.01)
    for head, model in models.items():
        assert again[head].coefficients.tolist() == model.coefficients.tolist()
        assert again[head].intercept == model.intercept


def test_a_head_is_the_model_spark_ml_fits_and_reads_back_from_its_table(spark):
    """The driver's fit minimises Spark ML's objective (standardised L2, intercept free): on the same
    rows Spark ML's LogisticRegression predicts the same probabilities. And the heads written as
    rows (silver.ranking_heads) read back to the same predictions."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StandardScaler, VectorAssembler
    from pyspark.ml.functions import vector_to_array

    from features.ranking import heads_from_table, heads_table

    training, _ = synthetic_pairs(spark, 1200, seed=5)
    ours = fit_heads(training, reg_param=0.05)
    labelled = training.withColumn("label", training["is_like"].cast("double"))
    spark_ml = Pipeline(stages=[
        VectorAssembler(inputCols=list(FEATURES), outputCol="_raw"),
        StandardScaler(inputCol="_raw", outputCol="_features", withMean=True, withStd=True),
        LogisticRegression(featuresCol="_features", labelCol="label", regParam=0.05, maxIter=500, tol=1e-12,
                           probabilityCol="_probability")]).fit(labelled)
    test, _ = synthetic_pairs(spark, 300, seed=6)
    theirs = (spark_ml.transform(test).select("item_id", vector_to_array("_probability")[1].alias("p"))
              .toPandas().sort_values("item_id")["p"].to_numpy())
    mine = with_head_predictions(test, {"like": ours["like"]}).toPandas().sort_values("item_id")["p_like"].to_numpy()
    np.testing.assert_allclose(mine, theirs, atol=2e-4)
    back = heads_from_table(heads_table(ours))
    assert set(back) == set(ours)
    again = with_head_predictions(test, back).toPandas().sort_values("item_id")
    for head in ours:
        np.testing.assert_allclose(again[f"p_{head}"].to_numpy(),
                                   with_head_predictions(test, {head: ours[head]}).toPandas()
                                   .sort_values("item_id")[f"p_{head}"].to_numpy(), rtol=1e-12)


def test_apply_heads_keeps_optimism_for_new_items_and_recomputes_value(spark):
    training, _ = synthetic_pairs(spark, 800, seed=3)
    models = fit_heads(training, reg_param=0.01)
    candidates = spark.createDataFrame([
        Row(user_id=1, item_id=1, p_click=0.4, p_long_view=0.3, p_like=0.1, p_follow=0.01, p_skip=0.5),
        Row(user_id=1, item_id=2, p_click=0.4, p_long_view=0.3, p_like=0.1, p_follow=0.01, p_skip=0.5)])
    items = spark.createDataFrame([
        Row(item_id=1, creator_id=5, category="A", item_type="video", exposures=0, is_new=True, like_alpha=2.0,
            like_beta=18.0, like_rate=0.1),
        Row(item_id=2, creator_id=5, category="A", item_type="video", exposures=0, is_new=False, like_alpha=2.0,
            like_beta=18.0, like_rate=0.1)])
    context = {
        "item_features": items,
        "affinity": spark.createDataFrame([Row(user_id=1, category="A", affinity=0.1, video_affinity=0.2)]),
        "user_features": spark.createDataFrame([Row(user_id=1, exposures_28=50, skip_rate_28=0.4)]),
        "creator_features": spark.createDataFrame([Row(creator_id=5, trailing_likes=3)]),
        "user_factors": spark.createDataFrame([Row(user_id=1, factors=[0.5, 0.5])]),
        "item_factors": spark.createDataFrame([Row(item_id=i, factors=[1.0, 0.0]) for i in (1, 2)]),
    }
    rows = {r.item_id: r for r in apply_heads(candidates, models, context, optimism_z=1.28,
                                               value_weights=WEIGHTS).collect()}
    sd = (2 * 18 / (20 ** 2 * 21)) ** 0.5
    assert rows[1].p_like == pytest.approx(rows[2].p_like * (0.1 + 1.28 * sd) / 0.1)
    for row in rows.values():
        assert row.user_value == pytest.approx(sum(WEIGHTS[h] * getattr(row, f"p_{h}") for h in WEIGHTS))


def _overconfident_rows(spark, n, seed):
    """A head trained on a feed's own choices, shown elsewhere: it predicts p, the truth is
    sigmoid(0.6 logit(p) - 1.5), much rarer, as KuaiRand's likes on random exposures are."""
    rng = np.random.default_rng(seed)
    predicted = 1 / (1 + np.exp(-rng.normal(-1.0, 1.2, n)))
    truth = 1 / (1 + np.exp(-(0.6 * np.log(predicted / (1 - predicted)) - 1.5)))
    rows = [Row(item_id=k, model_like=float(predicted[k]), is_like=int(rng.random() < truth[k]))
            for k in range(n)]
    return spark.createDataFrame(rows), truth


def test_a_platt_map_fitted_on_held_out_rows_calibrates_new_ones(spark):
    from features.ranking import platt_map, with_calibration

    def fit_calibration(rows):     # the backtest collects its held-out rows, then fits
        collected = rows.select("model_like", "is_like").toPandas()
        return platt_map(collected["model_like"].to_numpy(float), collected["is_like"].to_numpy(float))

    held_out, _ = _overconfident_rows(spark, 4000, seed=3)
    slope, intercept = fit_calibration(held_out)
    assert slope == pytest.approx(0.6, abs=0.15) and intercept == pytest.approx(-1.5, abs=0.3)
    assert fit_calibration(held_out) == (slope, intercept)   # the same on a rerun

    fresh, truth = _overconfident_rows(spark, 4000, seed=4)
    scored = (with_calibration(fresh.withColumn("p_like", fresh["model_like"]), {"like": (slope, intercept)})
              .orderBy("item_id").toPandas())
    raw, calibrated, y = scored["model_like"].to_numpy(), scored["p_like"].to_numpy(), scored["is_like"].to_numpy()
    assert raw.mean() > 2 * y.mean()                                  # as trained: far too high
    assert calibrated.mean() == pytest.approx(truth.mean(), rel=0.1)   # through the map: the true level
    assert metrics.log_loss(calibrated, y) < metrics.log_loss(raw, y)
    assert metrics.auc(calibrated, y) == pytest.approx(metrics.auc(raw, y))   # monotone: the ranking stays
    # too few positives to fit two parameters: no map rather than a wild one
    three_likes = held_out.where("is_like = 0").union(held_out.where("is_like = 1").orderBy("item_id").limit(3))
    assert fit_calibration(three_likes) is None
