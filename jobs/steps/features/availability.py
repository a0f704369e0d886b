"""The UAC part of the features step: fit, predict tomorrow's availability, and backtest.

Each run also predicts ds from ds-1 with a model trained only on what was known at ds-1 and scores
it against who really came on ds, next to the smoothed-frequency baseline; the figures go to
`audit.availability_evaluation` and the log.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from allocation import metrics
from features.availability import (
    availability_features,
    build_user_availability,
    fit_if_possible,
    training_anchors,
    with_next_day_label,
    with_p_active,
)
from jobs.config import Config
from jobs.dates import shift

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

LOG = logging.getLogger(__name__)


def _settings(config: Config) -> dict[str, object]:
    f = config["features"]
    return {"lookback_days": f["lookback_days"], "prior_days": f["availability_prior_days"],
            "half_life_days": f["availability_half_life_days"]}


def predict_availability(config: Config, users: DataFrame, activity: DataFrame, ds: str) -> DataFrame:
    """p_active for ds+1 for every user of the snapshot, with expected requests and slot capacity."""
    f = config["features"]
    anchors = training_anchors(ds, f["availability_training_days"])
    training = with_next_day_label(availability_features(users, activity, anchors, **_settings(config)), activity)
    model = fit_if_possible(training, reg_param=f["availability_reg_param"], max_rows=f["availability_max_rows"],
                            seed=config["seed"])
    today = availability_features(users, activity, [ds], **_settings(config))
    scored = with_p_active(today, model, min_history_days=f["availability_min_history_days"])
    return build_user_availability(scored, slot_share=f["slot_share"], max_slots=f["max_slots"])


def backtest_availability(config: Config, users: DataFrame, activity: DataFrame, ds: str) -> pd.DataFrame:
    """Predict ds from ds-1 (model trained on anchors before ds-1) and score model and baseline."""
    f = config["features"]
    yesterday = shift(ds, -1)
    anchors = training_anchors(yesterday, f["availability_training_days"])
    training = with_next_day_label(availability_features(users, activity, anchors, **_settings(config)), activity)
    model = fit_if_possible(training, reg_param=f["availability_reg_param"], max_rows=f["availability_max_rows"],
                            seed=config["seed"])
    features = with_next_day_label(availability_features(users, activity, [yesterday], **_settings(config)), activity)
    scored = with_p_active(features, model, min_history_days=f["availability_min_history_days"])
    frame = scored.select("p_active", "smoothed_rate", "label").toPandas()
    rows = []
    for estimator, column in (("uac_model", "p_active"), ("smoothed_frequency", "smoothed_rate")):
        p, y = frame[column].to_numpy(float), frame["label"].to_numpy(float)
        rows.append({"predicted_for": ds, "estimator": estimator, "n_users": len(frame),
                     "base_rate": float(y.mean()) if len(y) else float("nan"),
                     "auc": metrics.auc(p, y), "log_loss": metrics.log_loss(p, y),
                     "calibration_error": metrics.calibration_error(p, y), "hit_rate": metrics.hit_rate(p, y)})
        LOG.info("availability backtest for %s, %s: %s", ds, estimator,
                 {k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()})
    return pd.DataFrame(rows)

