"""The nightly run as an ordered list of idempotent steps, and backfills over many days."""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from jobs.config import Config
from jobs.dates import day_range
from jobs.steps import allocate, candidates, evaluate, features, ingest, publish, report
from jobs.steps.common import StepOutput
from jobs.warehouse.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOG = logging.getLogger(__name__)

StepRun = Callable[[Config, str, "SparkSession | None"], StepOutput]
STEPS: dict[str, StepRun] = {
    "ingest": ingest.run,
    "features": features.run,
    "candidates": candidates.run,
    "allocate": allocate.run,
    "publish": publish.run,
    "evaluate": evaluate.run,
    "report": report.run,
}


def _record_timing(config: Config, ds: str, spark: SparkSession, step: str, seconds: float) -> None:
    """One row per step and ds in audit.step_timings (the report's run section)."""
    import pandas as pd

    from jobs.steps.common import job_id
    from jobs.warehouse import io

    key = "audit.step_timings"
    rid = job_id(config, ds)
    rows = io.read_table(spark, config, key, ds=ds).toPandas()
    rows = rows[~((rows["run_id"] == rid) & (rows["step"] == step))].drop(columns="ds")
    finished = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    rows = pd.concat([rows, pd.DataFrame([{"run_id": rid, "step": step, "seconds": seconds,
                                           "finished_at": finished}])], ignore_index=True)
    io.write_partition(spark, config, key, io.frame_from_pandas(spark, key, rows), ds=ds, run_id=rid)


def run_step(config: Config, name: str, ds: str, spark: SparkSession | None = None) -> StepOutput:
    """One step for ds, timed: what the CLI, run_day and the Airflow tasks all call."""
    spark = spark or get_spark(config)
    LOG.info("step %s ds=%s", name, ds)
    started = time.perf_counter()
    output = STEPS[name](config, ds, spark)
    output.figures["seconds"] = round(time.perf_counter() - started, 2)
    _record_timing(config, ds, spark, name, output.figures["seconds"])
    return output


def run_day(config: Config, ds: str, spark: SparkSession | None = None,
            steps: tuple[str, ...] = tuple(STEPS)) -> list[StepOutput]:
    spark = spark or get_spark(config)
    return [run_step(config, name, ds, spark) for name in steps]


def missing_input_days(config: Config, ds: str, spark: SparkSession) -> list[str]:
    """Days of ds's feature window that the source has but bronze.events lacks: a first run on a
    fresh warehouse ingests them before planning, instead of planning from one day of history."""
    from jobs.dates import shift
    from jobs.sources.base import make_source
    from jobs.warehouse import io

    window = day_range(shift(ds, -(config["features"]["lookback_days"] - 1)), shift(ds, -1))
    have = {r.ds for r in io.read_table(spark, config, "bronze.events", since=window[0], until=ds)
            .select("ds").distinct().collect()}
    offered = set(make_source(config).available_days(spark))
    return [day for day in window if day in offered and day not in have]


def ingest_days(config: Config, days: list[str], spark: SparkSession, *, timed_as: str) -> list[StepOutput]:
    """Ingest many days in one pass (one read of the source, one commit per table), timed as one
    row `catch-up` of day `timed_as` in audit.step_timings: a first run's fourteen or twenty-eight
    days cost about what two days ingested one by one cost."""
    if not days:
        return []
    started = time.perf_counter()
    outputs = ingest.run_days(config, days, spark)
    _record_timing(config, timed_as, spark, "catch-up", round(time.perf_counter() - started, 2))
    return outputs


def catch_up(config: Config, ds: str, spark: SparkSession) -> list[str]:
    """Ingest the missing days of ds's feature window (see `missing_input_days`) in one pass; returns them."""
    missing = missing_input_days(config, ds, spark)
    ingest_days(config, missing, spark, timed_as=ds)
    return missing


def has_plan(config: Config, ds: str) -> bool:
    """Whether some run planned ds (its rows are in gold.allocations); read from the Delta log alone."""
    from jobs.warehouse import io

    return bool(io.run_partitions(config, "gold.allocations", ds))


def backfill(config: Config, start: str, end: str, spark: SparkSession | None = None,
             steps: tuple[str, ...] = tuple(STEPS)) -> list[StepOutput]:
    """Every day in order; each day's steps are idempotent, so a backfill can be rerun safely."""
    spark = spark or get_spark(config)
    return [output for ds in day_range(start, end) for output in run_day(config, ds, spark, steps)]
