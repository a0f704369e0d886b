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


def backfill(config: Config, start: str, end: str, spark: SparkSession | None = None,
             steps: tuple[str, ...] = tuple(STEPS)) -> list[StepOutput]:
    """Every day in order; each day's steps are idempotent, so a backfill can be rerun safely."""
    spark = spark or get_spark(config)
    return [output for ds in day_range(start, end) for output in run_day(config, ds, spark, steps)]
