"""features: bronze -> silver user, availability, item and creator features for one ds."""
from __future__ import annotations

from typing import TYPE_CHECKING

from features.availability import build_user_availability
from features.items import build_creator_features, build_item_features
from features.users import build_user_category_affinity, build_user_features
from jobs import io
from jobs.config import Config
from jobs.dates import shift
from jobs.errors import DataContractError
from jobs.spark import get_spark
from jobs.steps import StepOutput, run_id

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def read_window(spark: SparkSession, config: Config, ds: str) -> dict[str, DataFrame]:
    """The bronze inputs of ds: catalogue snapshots of ds and the lookback window of events."""
    lookback = config["features"]["lookback_days"]
    inputs = {name: io.read_table(spark, config, f"bronze.{name}", ds=ds) for name in ("users", "items", "creators")}
    inputs["events"] = io.read_table(spark, config, "bronze.events", since=shift(ds, -(lookback - 1)), until=ds)
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
    outputs = {
        "silver.user_features": build_user_features(bronze["users"], events, ds=ds),
        "silver.user_category_affinity": build_user_category_affinity(
            events, bronze["items"], prior_strength=f["affinity_prior_strength"]),
        "silver.user_availability": build_user_availability(
            bronze["users"], events, ds=ds, lookback_days=f["lookback_days"],
            prior_days=f["availability_prior_days"], half_life_days=f["availability_half_life_days"],
            slot_share=f["slot_share"], max_slots=f["max_slots"]),
        "silver.item_features": build_item_features(
            bronze["items"], events, ds=ds, new_item_days=f["new_item_days"], prior_strength=f["like_prior_strength"]),
        "silver.creator_features": build_creator_features(
            bronze["creators"], bronze["items"], events, ds=ds, new_creator_days=f["new_creator_days"]),
    }
    output = StepOutput("features", ds)
    rid = run_id(config, ds)
    for key, frame in outputs.items():
        output.versions[key] = io.write_partition(spark, config, key, frame, ds=ds, run_id=rid)
    events.unpersist()
    return output
