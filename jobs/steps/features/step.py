"""features: bronze -> silver user, availability, item and creator features for one ds, and the day's
ALS factors (jobs/steps/features/factors.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from features.availability import daily_activity
from features.items import PlanWindow, build_creator_features, build_item_features
from features.users import build_user_category_affinity, build_user_features
from jobs.config import Config
from jobs.dates import shift
from jobs.errors import DataContractError
from jobs.steps.common import StepOutput, job_id
from jobs.steps.features.availability import backtest_availability, predict_availability
from jobs.steps.features.factors import SILVER_FACTORS, fit_factors, reads_factors
from jobs.warehouse import io
from jobs.warehouse.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def read_window(spark: SparkSession, config: Config, ds: str) -> dict[str, DataFrame]:
    """The bronze inputs of ds: catalogue snapshots of ds, the lookback window of events, and the
    longer window of daily activity the availability model trains and backtests on."""
    f = config["features"]
    lookback = f["lookback_days"]
    inputs = {name: io.read_table(spark, config, f"bronze.{name}", ds=ds) for name in ("users", "items", "creators")}
    inputs["events"] = io.read_table(spark, config, "bronze.events", since=shift(ds, -(lookback - 1)), until=ds)
    history = lookback + f["availability_training_days"] + 1
    inputs["activity"] = daily_activity(io.read_table(spark, config, "bronze.events",
                                                      since=shift(ds, -(history - 1)), until=ds))
    for name in ("users", "items", "creators"):
        if inputs[name].isEmpty():
            raise DataContractError(f"bronze.{name}", "ds", "partition present",
                                    f"no rows for ds={ds}; run `fairshot ingest --ds {ds}` first")
    return inputs


def run(config: Config, ds: str, spark: SparkSession | None = None) -> StepOutput:
    spark = spark or get_spark(config)
    f = config["features"]
    bronze = read_window(spark, config, ds)
    events = bronze["events"].cache()
    activity = bronze["activity"].cache()
    outputs = {
        "silver.user_features": build_user_features(bronze["users"], events, ds=ds),
        "silver.user_category_affinity": build_user_category_affinity(
            events, bronze["items"], prior_strength=f["affinity_prior_strength"]),
        "silver.user_availability": predict_availability(config, bronze["users"], activity, ds),
        "silver.item_features": build_item_features(
            bronze["items"], events, ds=ds, new_item_days=f["new_item_days"], prior_strength=f["like_prior_strength"],
            plan=PlanWindow.from_features(f)),
        "silver.creator_features": build_creator_features(
            bronze["creators"], bronze["items"], events, ds=ds, new_creator_days=f["new_creator_days"]),
    }
    if reads_factors(config):
        outputs.update(zip(SILVER_FACTORS.values(), fit_factors(config, events)))
    output = StepOutput("features", ds)
    rid = job_id(config, ds)
    for key, frame in outputs.items():
        output.versions[key] = io.write_partition(spark, config, key, frame, ds=ds, run_id=rid)
    if f["backtests"]:
        evaluation = backtest_availability(config, bronze["users"], activity, ds)
        output.versions["audit.availability_evaluation"] = io.write_partition(
            spark, config, "audit.availability_evaluation",
            io.frame_from_pandas(spark, "audit.availability_evaluation", evaluation), ds=ds, run_id=rid)
        output.figures["availability_backtest"] = evaluation.set_index("estimator")[
            ["auc", "log_loss", "calibration_error", "hit_rate"]].round(4).to_dict("index")
    events.unpersist()
    activity.unpersist()
    return output
