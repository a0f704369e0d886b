"""The nightly run as an ordered list of idempotent steps, and backfills over many days."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from collections.abc import Callable

from jobs import allocate, build_candidates, build_features, ingest, publish
from jobs.config import Config
from jobs.dates import day_range
from jobs.spark import get_spark
from jobs.steps import StepOutput

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOG = logging.getLogger(__name__)

StepRun = Callable[[Config, str, "SparkSession | None"], StepOutput]
STEPS: dict[str, StepRun] = {
    "ingest": ingest.run,
    "features": build_features.run,
    "candidates": build_candidates.run,
    "allocate": allocate.run,
    "publish": publish.run,
}


def run_day(config: Config, ds: str, spark: SparkSession | None = None,
            steps: tuple[str, ...] = tuple(STEPS)) -> list[StepOutput]:
    spark = spark or get_spark(config)
    outputs = []
    for name in steps:
        LOG.info("step %s ds=%s", name, ds)
        outputs.append(STEPS[name](config, ds, spark))
    return outputs


def missing_input_days(config: Config, ds: str, spark: SparkSession) -> list[str]:
    """Days of ds's feature window that the source has but bronze.events lacks: a first run on a
    fresh warehouse ingests them before planning, instead of planning from one day of history."""
    from jobs import io
    from jobs.dates import shift
    from jobs.sources.base import make_source

    window = day_range(shift(ds, -(config["features"]["lookback_days"] - 1)), shift(ds, -1))
    have = {r.ds for r in io.read_table(spark, config, "bronze.events", since=window[0], until=ds)
            .select("ds").distinct().collect()}
    offered = set(make_source(config).available_days(spark))
    return [day for day in window if day in offered and day not in have]


def backfill(config: Config, start: str, end: str, spark: SparkSession | None = None,
             steps: tuple[str, ...] = tuple(STEPS)) -> list[StepOutput]:
    """Every day in order; each day's steps are idempotent, so a backfill can be rerun safely."""
    spark = spark or get_spark(config)
    return [output for ds in day_range(start, end) for output in run_day(config, ds, spark, steps)]
