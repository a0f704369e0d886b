"""ingest: a day of source data -> bronze.

Catalogue snapshots (items, creators, users as known at the end of ds) must be entirely valid: a
broken catalogue row stops the run naming table, column and rule. Event rows that break a rule go
to `events_rejected` with the rule; if more than `source.max_rejected_share` of the day is
rejected, the source is broken rather than noisy, and nothing is written to `events`.
"""
from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from features import schemas
from features.contracts import parse_against_schema, raise_on_violations, split_violations
from features.errors import DataContractError
from features.events import parse_events
from jobs import io
from jobs.config import Config
from jobs.dates import shift
from jobs.sources.synthetic import landing_root
from jobs.spark import get_spark
from jobs.steps import StepOutput, run_id

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LOG = logging.getLogger(__name__)

CATALOGUES = {
    "items": (schemas.ITEMS, ("item_id", "creator_id", "category", "item_type", "created_at"), "created_at"),
    "creators": (schemas.CREATORS, ("creator_id", "created_at"), "created_at"),
    "users": (schemas.USERS, ("user_id", "registered_at"), "registered_at"),
}


def _read_csv(spark: SparkSession, path: str, table: str) -> DataFrame:
    if not os.path.exists(path):
        raise DataContractError(table, "*", "source file exists", f"no file at {path}")
    # Everything as strings: typing happens under named rules, not inside the CSV reader.
    return spark.read.option("header", True).option("inferSchema", False).csv(path)


def read_catalogue(spark: SparkSession, root: str, name: str, ds: str) -> DataFrame:
    """The catalogue as known at the end of ds (rows created before ds+1)."""
    schema, required, created = CATALOGUES[name]
    table = f"bronze.{name}"
    rules = ()
    if name == "items":
        rules = (("item_type", "one of video, live", lambda: ~F.col("item_type").isin("video", "live")),)
    parsed = parse_against_schema(_read_csv(spark, os.path.join(root, f"{name}.csv"), table), table,
                                  schema, required=required, extra_rules=rules)
    valid = raise_on_violations(parsed, table)
    return valid.where(F.col(created) < F.lit(shift(ds, 1)).cast("timestamp"))


def run(config: Config, ds: str, spark: SparkSession | None = None) -> StepOutput:
    spark = spark or get_spark(config)
    root = landing_root(config)
    rid = run_id(config, ds)
    output = StepOutput("ingest", ds)
    catalogues = {name: read_catalogue(spark, root, name, ds).cache() for name in CATALOGUES}

    events_path = os.path.join(root, "events", f"ds={ds}", "events.csv")
    raw = _read_csv(spark, events_path, "bronze.events")
    parsed = parse_events(raw, catalogues["items"], ds).cache()
    good, bad = split_violations(parsed)
    total, rejected = parsed.count(), bad.count()
    share = rejected / total if total else 0.0
    bad = bad.withColumn("source_file", F.lit(events_path))
    output.versions["bronze.events_rejected"] = io.write_partition(
        spark, config, "bronze.events_rejected", bad, ds=ds, run_id=rid)
    if share > config["source"]["max_rejected_share"]:
        worst = bad.groupBy("column", "rule").count().orderBy(F.desc("count")).first()
        parsed.unpersist()
        raise DataContractError(
            "bronze.events", worst["column"], worst["rule"],
            f"{rejected} of {total} rows of {events_path} rejected ({share:.1%} > "
            f"source.max_rejected_share {config['source']['max_rejected_share']:.1%}); "
            f"see bronze.events_rejected ds={ds}. Nothing was written to bronze.events.")
    for name, frame in catalogues.items():
        output.versions[f"bronze.{name}"] = io.write_partition(spark, config, f"bronze.{name}", frame,
                                                                ds=ds, run_id=rid)
    output.versions["bronze.events"] = io.write_partition(spark, config, "bronze.events", good, ds=ds, run_id=rid)
    parsed.unpersist()
    for frame in catalogues.values():
        frame.unpersist()
    output.figures.update(events=total - rejected, rejected=rejected)
    LOG.info("ingest ds=%s: %d events, %d rejected", ds, total - rejected, rejected)
    return output
