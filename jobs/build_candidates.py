"""candidates: silver features -> silver.candidates, the (user, item) pairs the optimiser may use."""
from __future__ import annotations

from typing import TYPE_CHECKING

from features.retrieval import build_candidates
from jobs import io
from jobs.config import Config
from jobs.dates import shift
from jobs.spark import get_spark
from jobs.steps import StepOutput, run_id

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def run(config: Config, ds: str, spark: SparkSession | None = None) -> StepOutput:
    spark = spark or get_spark(config)
    c = config["candidates"]
    read = lambda key: io.read_table(spark, config, key, ds=ds)  # noqa: E731
    seen = io.read_table(spark, config, "bronze.events",
                         since=shift(ds, -(config["features"]["lookback_days"] - 1)), until=ds)
    candidates = build_candidates(
        read("silver.item_features"), read("silver.user_category_affinity"), read("silver.user_availability"),
        read("silver.user_features"), seen, ds=ds, users_per_item=c["users_per_item"], min_p_active=c["min_p_active"],
        value_weights=config["allocation"]["value_weights"])
    output = StepOutput("candidates", ds)
    output.versions["silver.candidates"] = io.write_partition(spark, config, "silver.candidates", candidates,
                                                              ds=ds, run_id=run_id(config, ds))
    return output
