"""ingest: days of source data -> bronze, in one pass over the source.

Catalogue snapshots (items, creators, users as known at the end of each day) must be entirely valid:
a broken catalogue row stops the run naming table, column and rule. Event rows that break a rule go
to `events_rejected` with the rule; if more than `source.max_rejected_share` of a day is rejected,
the source is broken rather than noisy, and nothing of that day is written to `events` (the other
days of the pass are).

A first run or a catch-up ingests many days: they are read, checked and written together (one
commit per table for all of them), because each day's own Spark jobs and commits cost far more
than its rows at any size a catch-up meets. A day's rows, rules and snapshots are exactly what
ingesting it alone gives.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyspark.sql import Column, Window
from pyspark.sql import functions as F

from features import schemas
from features.contracts import parse_against_schema, raise_on_violations, split_violations
from features.errors import DataContractError
from features.events import parse_events
from jobs.config import Config
from jobs.sources.base import Source, make_source, raw_events_of_days
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
DAY = "ds"


def day_end(day: str | Column, timezone: str) -> Column:
    """The first instant after `day` (a date string or a column of them) in the source's day zone, in UTC."""
    day = F.lit(day) if isinstance(day, str) else day
    return F.to_utc_timestamp(F.date_add(day.cast("date"), 1).cast("timestamp"), timezone)


def read_catalogue(spark: SparkSession, source: Source, name: str) -> DataFrame:
    """Every valid row of the source's catalogue `name`; a day's snapshot is its rows created
    before the day ended (`snapshots`)."""
    schema, required, _ = CATALOGUES[name]
    table = f"bronze.{name}"
    rules = ()
    if name == "items":
        rules = (("item_type", "one of video, live", lambda: ~F.col("item_type").isin("video", "live")),)
    parsed = parse_against_schema(source.raw_catalogue(spark, name), table, schema, required=required,
                                  extra_rules=rules, passthrough=("source_file", "source_line"))
    valid = raise_on_violations(parsed, table)
    return _one_creator_per_item(valid, table) if name == "items" else valid


def snapshots(spark: SparkSession, catalogue: DataFrame, name: str, days: list[str], timezone: str) -> DataFrame:
    """The catalogue as known at the end of each day: its rows created before the day ended, with `ds`."""
    created = CATALOGUES[name][2] if name in CATALOGUES else "first_seen"
    if len(days) == 1:  # the nightly case: a literal bound, as a day alone always had
        return catalogue.where(F.col(created) < day_end(days[0], timezone)).withColumn(DAY, F.lit(days[0]))
    frame = spark.createDataFrame([(day,) for day in days], f"{DAY} string")
    return catalogue.crossJoin(F.broadcast(frame)).where(F.col(created) < day_end(F.col(DAY), timezone))


def read_id_map(spark: SparkSession, source: Source) -> DataFrame | None:
    """The source's text ids and the integers they became (`bronze.id_map`), checked: every row
    typed, and no integer standing for two source ids (a hash collision, or a name beside a number
    that equals its hash), which would silently merge two users, items or creators."""
    raw = source.raw_id_map(spark) if hasattr(source, "raw_id_map") else None
    if raw is None:
        return None
    table = "bronze.id_map"
    ids = raise_on_violations(parse_against_schema(raw, table, schemas.ID_MAP, required=tuple(
        f.name for f in schemas.ID_MAP.fields if f.name != DAY)), table)
    clash = (ids.groupBy("kind", "internal_id").agg(F.countDistinct("source_id").alias("n"),
                                                    F.sort_array(F.collect_set("source_id")).alias("ids"))
             .where(F.col("n") > 1))
    first = clash.orderBy("kind", "internal_id").first()
    if first is not None:
        names = " and ".join(repr(name) for name in first["ids"])
        raise DataContractError(table, f"{first['kind']}_id", "one source id per internal id",
                                f"{clash.count()} clash(es); e.g. {first['kind']} ids {names} both map to "
                                f"{first['internal_id']}: rename one in the source")
    return ids


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
    """Ingest one day (the nightly step)."""
    return run_days(config, [ds], spark)[0]


def run_days(config: Config, days: list[str], spark: SparkSession | None = None) -> list[StepOutput]:
    """Ingest `days` in one pass; one StepOutput per day. A day over `source.max_rejected_share`
    writes only its rejected rows; the others are written whole, then the error names it."""
    spark = spark or get_spark(config)
    days = sorted(set(days))
    source = make_source(config)
    tz = source.day_timezone
    catalogues = {name: read_catalogue(spark, source, name).cache() for name in CATALOGUES}
    id_map = read_id_map(spark, source)

    raw = raw_events_of_days(source, spark, days)
    parsed = parse_events(raw, catalogues["items"], F.col(DAY), day_timezone=tz).cache()
    good, bad = split_violations(parsed, keep=(DAY,))
    by_day_rule = (bad.groupBy(DAY, "column", "rule").count().orderBy(DAY, F.desc("count"), "column").collect())
    totals = {r[DAY]: int(r["count"]) for r in parsed.groupBy(DAY).count().collect()}
    rejected_by_day: dict[str, dict[str, int]] = {day: {} for day in days}
    for r in by_day_rule:
        rejected_by_day[r[DAY]][f"{r['column']}: {r['rule']}"] = int(r["count"])
    rid = {day: job_id(config, day) for day in days}
    outputs = {day: StepOutput("ingest", day) for day in days}

    def write(key: str, frame: DataFrame, written_days: list[str]) -> None:
        if not written_days:
            return
        version = io.write_partitions(spark, config, key, frame, days=written_days, run_ids=rid)
        for day in written_days:
            outputs[day].versions[key] = version

    write("bronze.events_rejected", bad, days)
    limit = config["source"]["max_rejected_share"]
    broken = [day for day in days
              if totals.get(day) and sum(rejected_by_day[day].values()) / totals[day] > limit]
    kept_days = [day for day in days if day not in broken]
    for name, catalogue in catalogues.items():
        write(f"bronze.{name}", snapshots(spark, catalogue, name, kept_days, tz), kept_days)
    if id_map is not None:
        write("bronze.id_map", snapshots(spark, id_map, "id_map", kept_days, tz), kept_days)
    # An exact repeat of a logged row is a delivery artefact (a re-sent batch), not a second event.
    # Its day is left out of the comparison: two rows alike in every column fall on one day anyway,
    # and leaving it out keeps the hash partitioning, and so each day's files, as a day alone writes them.
    event_columns = [f.name for f in schemas.EVENTS.fields if f.name != DAY]
    distinct = good.where(F.col(DAY).isin(kept_days)).dropDuplicates(event_columns).cache()
    kept = {r[DAY]: int(r["count"]) for r in distinct.groupBy(DAY).count().collect()}
    write("bronze.events", distinct, kept_days)
    distinct.unpersist()
    parsed.unpersist()
    for frame in catalogues.values():
        frame.unpersist()
    for day in days:
        total, by_rule = totals.get(day, 0), rejected_by_day[day]
        rejected = sum(by_rule.values())
        outputs[day].figures.update(events=kept.get(day, 0), rejected=rejected,
                                    duplicates=total - rejected - kept.get(day, 0) if day in kept_days else 0,
                                    rejected_by_rule=by_rule)
        LOG.info("ingest ds=%s: %d events, %d exact duplicates collapsed, %d rejected%s", day,
                 outputs[day].figures["events"], outputs[day].figures["duplicates"], rejected,
                 "".join(f"\n  rejected by {rule}: {count}" for rule, count in by_rule.items()))
    if broken:
        day = broken[0]
        rule, _ = next(iter(rejected_by_day[day].items()))
        column, rule = rule.split(": ", 1)
        rejected = sum(rejected_by_day[day].values())
        origin = f"{source.name} source ({tz} days)"
        raise DataContractError(
            "bronze.events", column, rule,
            f"{rejected} of {totals[day]} rows of ds={day} from the {origin} rejected "
            f"({rejected / totals[day]:.1%} > source.max_rejected_share {limit:.1%}); "
            f"see bronze.events_rejected ds={day}. Nothing was written to bronze.events for ds={day}"
            + (f" (nor for {', '.join(broken[1:])}, over the share too)" if len(broken) > 1 else "")
            + (f"; the pass's other days were written ({', '.join(kept_days)})" if kept_days else "") + ".")
    return [outputs[day] for day in days]
