"""ingest: a day of source data -> bronze.

Catalogue snapshots (items, creators, users as known at the end of ds) must be entirely valid: a
broken catalogue row stops the run naming table, column and rule. Event rows that break a rule go
to `events_rejected` with the rule; if more than `source.max_rejected_share` of the day is
rejected, the source is broken rather than noisy, and nothing is written to `events`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from features import schemas
from features.contracts import parse_against_schema, raise_on_violations, split_violations
from features.errors import DataContractError
from features.events import parse_events
from jobs.config import Config
from jobs.dates import shift
from jobs.sources.base import Source, make_source
from jobs.steps.common import StepOutput, job_id
from jobs.warehouse import io
from jobs.warehouse.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LOG = logging.getLogger(__name__)

CATALOGUES = {
    "items": (schemas.ITEMS, ("item_id", "creator_id", "category", "item_type", "created_at"), "created_at"),
    "creators": (schemas.CREATORS, ("creator_id", "created_at"), "created_at"),
    "users": (schemas.USERS, ("user_id", "registered_at"), "registered_at"),
}


def read_catalogue(spark: SparkSession, source: Source, name: str, ds: str) -> DataFrame:
    """The catalogue as known at the end of ds (rows created before ds+1 in the source's day zone)."""
    schema, required, created = CATALOGUES[name]
    table = f"bronze.{name}"
    rules = ()
    if name == "items":
        rules = (("item_type", "one of video, live", lambda: ~F.col("item_type").isin("video", "live")),)
    parsed = parse_against_schema(source.raw_catalogue(spark, name, ds), table, schema, required=required,
                                  extra_rules=rules, passthrough=("source_file", "source_line"))
    valid = raise_on_violations(parsed, table)
    if name == "items":
        valid = _one_creator_per_item(valid, table)
    day_end = F.to_utc_timestamp(F.lit(shift(ds, 1)).cast("timestamp"), source.day_timezone)
    return valid.where(F.col(created) < day_end)


def _one_creator_per_item(items: DataFrame, table: str) -> DataFrame:
    """An item listed twice with different creators cannot be credited to either: stop, naming it."""
    clash = (items.groupBy("item_id").agg(F.countDistinct("creator_id").alias("n"),
                                          F.sort_array(F.collect_set("creator_id")).alias("creators"))
             .where(F.col("n") > 1))
    first = clash.orderBy("item_id").first()
    if first is not None:
        raise DataContractError(table, "creator_id", "one creator per item_id",
                                f"{clash.count()} item(s) have several; e.g. item_id {first['item_id']} -> "
                                f"creators {list(first['creators'])}")
    # the same item listed more than once (same creator): keep its earliest record
    earliest = F.row_number().over(Window.partitionBy("item_id").orderBy(F.col("created_at").asc_nulls_last()))
    return items.withColumn("_n", earliest).where(F.col("_n") == 1).drop("_n")


def run(config: Config, ds: str, spark: SparkSession | None = None) -> StepOutput:
    spark = spark or get_spark(config)
    source = make_source(config)
    rid = job_id(config, ds)
    output = StepOutput("ingest", ds)
    catalogues = {name: read_catalogue(spark, source, name, ds).cache() for name in CATALOGUES}

    raw = source.raw_events(spark, ds)
    parsed = parse_events(raw, catalogues["items"], ds, day_timezone=source.day_timezone).cache()
    good, bad = split_violations(parsed)
    by_rule = {f"{r['column']}: {r['rule']}": int(r["count"])
               for r in bad.groupBy("column", "rule").count().orderBy(F.desc("count"), "column").collect()}
    total, rejected = parsed.count(), sum(by_rule.values())
    share = rejected / total if total else 0.0
    origin = f"{source.name} source ({source.day_timezone} days)"
    output.versions["bronze.events_rejected"] = io.write_partition(
        spark, config, "bronze.events_rejected", bad, ds=ds, run_id=rid)
    if share > config["source"]["max_rejected_share"]:
        worst = bad.groupBy("column", "rule").count().orderBy(F.desc("count")).first()
        parsed.unpersist()
        raise DataContractError(
            "bronze.events", worst["column"], worst["rule"],
            f"{rejected} of {total} rows of ds={ds} from the {origin} rejected ({share:.1%} > "
            f"source.max_rejected_share {config['source']['max_rejected_share']:.1%}); "
            f"see bronze.events_rejected ds={ds}. Nothing was written to bronze.events.")
    for name, frame in catalogues.items():
        output.versions[f"bronze.{name}"] = io.write_partition(spark, config, f"bronze.{name}", frame,
                                                                ds=ds, run_id=rid)
    # An exact repeat of a logged row is a delivery artefact (a re-sent batch), not a second event.
    event_columns = [f.name for f in schemas.EVENTS.fields if f.name != "ds"]
    distinct = good.dropDuplicates(event_columns)
    kept = distinct.count()
    output.versions["bronze.events"] = io.write_partition(spark, config, "bronze.events", distinct, ds=ds,
                                                          run_id=rid)
    parsed.unpersist()
    for frame in catalogues.values():
        frame.unpersist()
    output.figures.update(events=kept, rejected=rejected, duplicates=total - rejected - kept,
                          rejected_by_rule=by_rule)
    LOG.info("ingest ds=%s: %d events, %d exact duplicates collapsed, %d rejected%s", ds, kept,
             total - rejected - kept, rejected,
             "".join(f"\n  rejected by {rule}: {count}" for rule, count in by_rule.items()))
    return output
