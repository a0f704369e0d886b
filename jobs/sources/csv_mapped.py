"""Bring your own data: an interactions CSV and an item -> creator CSV, with a column mapping.

`source.csv.columns` maps each fairshot column to a column of your files. Five are required
(user_id, item_id and the timestamp in the interactions; creator_id and category in the items);
the rest are optional in the mapping: set one to "" and the source has no such column (flags 0,
watch time unknown). A mapped name the file lacks stops the day naming the mapping key, since a
renamed export would otherwise read every click as 0. Creators and users are derived from what is
there: a creator is born at their first item, a user at their first interaction; an item's
`created_at` may be a date or an ISO time; an item without one is born at its first interaction,
or, never shown, at the last logged moment (a new item waiting for its first audience).

Ids may be anything: integers are kept, any other text (a director's name, a UUID) becomes
`xxhash64(text)` with the sign bit cleared -- stable across runs and machines, and computable in
Spark SQL (`xxhash64('Jane Campion') & 9223372036854775807`) to find an id again. `raw_id_map`
hands ingest every text id beside its integer (`bronze.id_map`), so the plan goes back out in
the source's own ids and a collision is refused instead of merging two users. A column whose
values are mostly integers is an integer column: a value there that is not one (`12.7`, `abc`,
`-5`) is rejected under its rule, not hashed into a new user.

The files are read once per process (a catch-up of many days reads them once), as RFC 4180 CSV
(quoted fields may hold commas, quotes and newlines) in `source.csv.encoding`. Each row keeps its
file and record number, which `bronze.events_rejected` shows for a rejected row.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from typing import TYPE_CHECKING

from pyspark.sql import Column
from pyspark.sql import functions as F

from features.contracts import ENCODING_ERROR
from features.errors import DataContractError
from features.events import PLAUSIBLE_FROM, PLAUSIBLE_UNTIL

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.config import Config

LOG = logging.getLogger(__name__)
FLAGS = ("is_click", "is_long_view", "is_like", "is_follow", "is_share", "is_comment", "is_hate")
STAMP = "yyyy-MM-dd HH:mm:ss"
REQUIRED = {"interactions": ("user_id", "item_id", "ts"), "items": ("item_id", "creator_id", "category")}
OPTIONAL = {"interactions": (*FLAGS, "watch_time_ms"), "items": ("created_at",)}
# seconds since the epoch, by unit: the magnitudes of timestamps between 2000 and 2100
UNIT_SCALE = {"s": 1.0, "ms": 1e3, "us": 1e6}
_READ_CACHE: dict[tuple, DataFrame] = {}
_KINDS: dict[tuple, dict[str, bool]] = {}


INTEGER_ID = r"^[0-9]{1,18}$"
# A value that reads as a whole number (any sign, any length) is a number, never a name: `-5` is a
# negative id and `1` followed by 400 zeros an id out of range, each rejected under its own rule.
NUMBER_LIKE = r"^[+-]?[0-9]+$"


def stable_id(raw: Column, *, integer_column: bool = False) -> Column:
    """Integer ids as they are; other text as a non-negative 64-bit hash (null stays null).

    In an `integer_column` (one whose values are mostly plain integers: `id_kinds`) nothing is
    hashed: a value there that is not an integer (`12.7`, `abc`) is a bad row, not a new user, and
    ingest rejects it under `parses as bigint`."""
    text = F.trim(raw)
    hashed = F.xxhash64(text).bitwiseAND(F.lit(0x7FFFFFFFFFFFFFFF)).cast("string")
    kept = text.rlike(NUMBER_LIKE) | text.contains(ENCODING_ERROR)   # misread text stays, to be rejected
    if integer_column:
        kept = F.lit(True)
    return (F.when(text.isNull() | (text == ""), F.lit(None).cast("string"))
            .when(kept, text)
            .otherwise(hashed))


def is_internal_id(column: Column) -> Column:
    """An id that made it to a usable integer: a hash has up to 19 digits (below 2^63), so a digit
    count cannot tell; the cast can."""
    as_long = F.trim(column).try_cast("bigint")
    return as_long.isNotNull() & (as_long >= 0) & F.trim(column).rlike(r"^[0-9]+$")


def id_kinds(frame: DataFrame, columns: dict[str, str]) -> dict[str, bool]:
    """Per fairshot id column (mapped to a column of `frame`): whether it is an integer column,
    i.e. more than half of its non-empty values are plain non-negative integers. One pass."""
    counts = frame.agg(*[
        F.sum(F.when(F.trim(F.col(name)).rlike(INTEGER_ID), 1).otherwise(0)).alias(f"{key}_int")
        for key, name in columns.items()], *[
        F.count(F.when(F.trim(F.col(name)) != "", 1)).alias(f"{key}_all") for key, name in columns.items()]).first()
    return {key: 2 * (counts[f"{key}_int"] or 0) > (counts[f"{key}_all"] or 0) for key in columns}


def read_csv_records(spark: SparkSession, path: str, table: str, encoding: str) -> DataFrame:
    """Every column as a string plus `source_file` and `source_line` (the record number, 1 = the
    first row under the header); cached, so a catch-up reads each file once. An empty file, or one
    with a header and no rows, stops here naming the file."""
    if not os.path.exists(path):
        raise DataContractError(table, "*", "source file exists", f"no file at {path}")
    stat = os.stat(path)
    key = (spark.sparkContext.applicationId, path, stat.st_mtime_ns, stat.st_size, encoding)
    if key in _READ_CACHE:
        return _READ_CACHE[key]
    frame = (spark.read.option("header", True).option("inferSchema", False).option("multiLine", True)
             .option("escape", '"').option("encoding", encoding).option("mode", "PERMISSIVE").csv(path))
    if not frame.columns or frame.limit(1).count() == 0:
        raise DataContractError(table, "*", "file has data rows", f"{path} has no rows under its header")
    names = frame.columns
    numbered = frame.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1] + 1))
    records = spark.createDataFrame(numbered, frame.schema.add("source_line", "long")).withColumn(
        "source_file", F.lit(path)).select(*names, "source_line", "source_file").cache()
    _READ_CACHE[key] = records
    return records


def as_timestamp_text(raw: Column) -> Column:
    """A time written as the catalogue's 'YYYY-MM-DD HH:MM:SS', from that, an ISO 'T' form (with
    an optional trailing Z) or a date alone (midnight UTC); any other text stays as it is, so
    ingest rejects it under `parses as timestamp`."""
    text = F.regexp_replace(F.trim(raw), "Z$", "")
    parsed = F.coalesce(F.try_to_timestamp(text, F.lit(STAMP)), F.try_to_timestamp(text, F.lit("yyyy-MM-dd'T'HH:mm:ss")),
                        F.try_to_timestamp(text, F.lit("yyyy-MM-dd")))
    return F.coalesce(F.date_format(parsed, STAMP), raw)


def _parsed() -> Column:
    """The events' `ts` (text 'YYYY-MM-DD HH:MM:SS', UTC) as a timestamp; null when it is not one."""
    return F.try_to_timestamp(F.col("ts"), F.lit(STAMP))


def _plausible() -> Column:
    """The events' time parses and lies in the plausible years (false, not null, otherwise)."""
    parsed = _parsed()
    return F.coalesce((parsed >= F.lit(PLAUSIBLE_FROM).cast("timestamp"))
                      & (parsed < F.lit(PLAUSIBLE_UNTIL).cast("timestamp")), F.lit(False))


def _first_plausible() -> Column:
    """The earliest plausible event time of a group, as catalogue text."""
    return F.date_format(F.min(F.when(_plausible(), _parsed())), STAMP)


class MappedCsvSource:
    name = "csv"

    def __init__(self, config: Config) -> None:
        settings = config["source"]["csv"]
        self.root = os.path.abspath(config["source"]["path"] or ".")
        self.day_timezone = config["source"]["timezone"] or "UTC"
        self.columns = dict(settings["columns"])
        self.time_unit = settings["time_unit"]
        self.encoding = settings["encoding"]
        self.files = {"interactions": os.path.join(self.root, settings["interactions_file"]),
                      "items": os.path.join(self.root, settings["items_file"])}
        unmapped = [key for keys in REQUIRED.values() for key in keys if not self.columns[key]]
        if unmapped:
            raise DataContractError("source csv", ", ".join(f"source.csv.columns.{k}" for k in unmapped),
                                    "mapped to a column", "these columns are required")

    # -- reading -------------------------------------------------------------------------------
    def _raw(self, spark: SparkSession, kind: str) -> DataFrame:
        path = self.files[kind]
        frame = read_csv_records(spark, path, f"source csv {os.path.basename(path)}", self.encoding)
        own = [name for name in frame.columns if name not in ("source_line", "source_file")]
        missing = [f"{key} (mapped to {self.columns[key]!r})" for key in REQUIRED[kind]
                   if self.columns[key] not in own]
        if missing:
            raise DataContractError(
                f"source csv {os.path.basename(path)}", ", ".join(missing), "required column present",
                f"the file has {own}; map yours with --set source.csv.columns.<fairshot column>=<your column>")
        # An optional column is optional in the mapping, not in the file: a mapped name the file lacks
        # is a typo or a renamed export, and reading every click as 0 would hide it.
        absent = [key for key in OPTIONAL[kind] if self.columns[key] and self.columns[key] not in own]
        if absent:
            raise DataContractError(
                f"source csv {os.path.basename(path)}",
                ", ".join(f"source.csv.columns.{key} (mapped to {self.columns[key]!r})" for key in absent),
                "mapped column present",
                f"the file has {own}; name the right column, or set "
                + " ".join(f'source.csv.columns.{key}=""' for key in absent) + " to go without")
        return frame

    def _column(self, frame: DataFrame, key: str, default: str | None) -> Column:
        name = self.columns[key]
        if not name:                         # mapped to "": the source has no such column
            return F.lit(default).cast("string").alias(key)
        return F.col(name).alias(key)

    def _integer_ids(self, spark: SparkSession) -> dict[str, bool]:
        """Which id columns hold integers (`id_kinds`): users and items from the interactions (the
        items file's ids must be the same kind to join), creators from the items file."""
        interactions, items = self._raw(spark, "interactions"), self._raw(spark, "items")
        stats = tuple((os.stat(path).st_mtime_ns, os.stat(path).st_size) for path in self.files.values())
        key = (spark.sparkContext.applicationId, "id kinds", tuple(self.files.values()), stats, self.encoding,
               tuple(sorted(self.columns.items())))
        if key not in _KINDS:
            _KINDS[key] = {**id_kinds(interactions, {k: self.columns[k] for k in ("user_id", "item_id")}),
                           **id_kinds(items, {"creator_id": self.columns["creator_id"]})}
        return _KINDS[key]

    def _seconds_scale(self, raw: DataFrame) -> float | None:
        """Seconds per unit of the numeric timestamps (None: ISO text). `auto` reads the median
        magnitude; a set unit is checked against it, so seconds read as ms stop with the fix named."""
        column = self.columns["ts"]
        numbers = raw.select(F.trim(F.col(column)).try_cast("double").alias("v")).where(F.col("v").isNotNull())
        median = numbers.agg(F.percentile_approx("v", 0.5).alias("m")).first()["m"]
        if median is None:
            if self.time_unit not in ("auto", "iso"):
                raise DataContractError(f"source csv {os.path.basename(self.files['interactions'])}", column,
                                        f"numeric timestamps in {self.time_unit}",
                                        "no value is a number; set source.csv.time_unit=iso for 'YYYY-MM-DD HH:MM:SS'")
            return None
        low = dt.datetime.fromisoformat(PLAUSIBLE_FROM).replace(tzinfo=dt.UTC).timestamp()
        high = dt.datetime.fromisoformat(PLAUSIBLE_UNTIL).replace(tzinfo=dt.UTC).timestamp()
        fits = [unit for unit, scale in UNIT_SCALE.items() if low <= median / scale < high]
        if self.time_unit == "auto":
            if not fits:
                raise DataContractError(f"source csv {os.path.basename(self.files['interactions'])}", column,
                                        f"timestamps between {PLAUSIBLE_FROM[:4]} and {PLAUSIBLE_UNTIL[:4]}",
                                        f"median value {median:.0f} fits no unit (s, ms, us)")
            return 1.0 / UNIT_SCALE[fits[0]]
        if self.time_unit == "iso" or self.time_unit not in fits:
            hint = f"; it looks like {fits[0]}: set source.csv.time_unit={fits[0]}" if fits else ""
            raise DataContractError(f"source csv {os.path.basename(self.files['interactions'])}", column,
                                    f"timestamps in {self.time_unit} between {PLAUSIBLE_FROM[:4]} and "
                                    f"{PLAUSIBLE_UNTIL[:4]}", f"median value {median:.0f}{hint}")
        return 1.0 / UNIT_SCALE[self.time_unit]

    def _events(self, spark: SparkSession) -> DataFrame:
        stat = os.stat(self.files["interactions"]) if os.path.exists(self.files["interactions"]) else None
        key = (spark.sparkContext.applicationId, "events", self.files["interactions"],
               stat and (stat.st_mtime_ns, stat.st_size), self.time_unit, self.encoding,
               tuple(sorted(self.columns.items())))
        if key in _READ_CACHE:
            return _READ_CACHE[key]
        raw = self._raw(spark, "interactions")
        integer = self._integer_ids(spark)
        scale = self._seconds_scale(raw)
        ts = F.col(self.columns["ts"])
        text = ts if scale is None else F.coalesce(
            F.date_format(F.timestamp_seconds(F.trim(ts).try_cast("double") * F.lit(scale)), STAMP), ts)
        events = raw.select(
            stable_id(F.col(self.columns["user_id"]), integer_column=integer["user_id"]).alias("user_id"),
            stable_id(F.col(self.columns["item_id"]), integer_column=integer["item_id"]).alias("item_id"),
            text.alias("ts"), F.lit("video").alias("surface"),
            *[self._column(raw, flag, "0") for flag in FLAGS],
            self._column(raw, "watch_time_ms", None),
            F.lit("0").alias("is_rand"), "source_file", "source_line").cache()
        _READ_CACHE[key] = events
        return events

    def _local_day(self) -> Column:
        """The events' `ts` as a day of the source's calendar."""
        return F.date_format(F.from_utc_timestamp(_parsed(), self.day_timezone), "yyyy-MM-dd")

    # -- the Source protocol -------------------------------------------------------------------
    def raw_events(self, spark: SparkSession, ds: str) -> DataFrame:
        """ds's rows, plus every row that belongs to no plausible day (unparsable or implausible
        time), so that ingest files each of those under its rule instead of losing it."""
        return self._events(spark).where((self._local_day() == ds) | ~_plausible())

    def raw_events_days(self, spark: SparkSession, days: list[str]) -> DataFrame:
        """The file read once for many days, each row with the day it falls on (`ds`). A row that
        falls on no plausible day comes once, with the first of them, so a catch-up files it under
        its rule once instead of on every day."""
        placed = F.when(_plausible(), self._local_day()).otherwise(F.lit(min(days)))
        return self._events(spark).withColumn("ds", placed).where(F.col("ds").isin(*days))

    def available_days(self, spark: SparkSession) -> list[str]:
        days = self._events(spark).where(_plausible()).select(self._local_day().alias("day")).distinct().collect()
        return sorted(r.day for r in days if r.day is not None)

    def raw_id_map(self, spark: SparkSession) -> DataFrame | None:
        """Every text id of the files (kind, source_id, internal_id, first_seen, as strings), for
        `bronze.id_map`; None when every id column holds integers. Only ids that mapped cleanly:
        a misread one is rejected at ingest, not remembered."""
        integer = self._integer_ids(spark)
        if all(integer.values()):
            return None
        events = self._events(spark)
        raw = self._raw(spark, "interactions")
        first = _first_plausible().alias("first_seen")
        # the source's text beside the id it became, row for row (the events keep the file's row number)
        texts = raw.select("source_line", *[F.trim(F.col(self.columns[k])).alias(f"_{k}") for k in ("user_id", "item_id")])
        with_text = events.join(texts, "source_line")
        parts = []
        for kind in ("user", "item"):
            if not integer[f"{kind}_id"]:
                parts.append(with_text.groupBy(F.col(f"_{kind}_id").alias("source_id"),
                                               F.col(f"{kind}_id").alias("internal_id")).agg(first)
                             .select(F.lit(kind).alias("kind"), "source_id", "internal_id", "first_seen"))
        catalogue = self.raw_catalogue(spark, "items").join(
            self._raw(spark, "items").select(
                "source_line", F.trim(F.col(self.columns["item_id"])).alias("_item"),
                F.trim(F.col(self.columns["creator_id"])).alias("_creator")), "source_line")
        if not integer["item_id"]:
            parts.append(catalogue.select(F.lit("item").alias("kind"), F.col("_item").alias("source_id"),
                                          F.col("item_id").alias("internal_id"), F.col("created_at").alias("first_seen")))
        if not integer["creator_id"]:
            parts.append(catalogue.groupBy(F.col("_creator").alias("source_id"), F.col("creator_id").alias("internal_id"))
                         .agg(F.min("created_at").alias("first_seen"))
                         .select(F.lit("creator").alias("kind"), "source_id", "internal_id", "first_seen"))
        union = parts[0]
        for part in parts[1:]:
            union = union.unionByName(part)
        clean = is_internal_id(F.col("internal_id")) & F.col("source_id").isNotNull() & (F.col("source_id") != "")
        return (union.where(clean).groupBy("kind", "source_id", "internal_id")
                .agg(F.min("first_seen").alias("first_seen")).where(F.col("first_seen").isNotNull()))

    def raw_catalogue(self, spark: SparkSession, name: str) -> DataFrame:
        events = self._events(spark)
        first_seen = _first_plausible()
        if name == "users":
            # users are derived from the interactions: only from ids that mapped cleanly (a misread
            # row is rejected at ingest; it must not invent a user, nor stop the day)
            return (events.where(is_internal_id(F.col("user_id"))).groupBy("user_id")
                    .agg(first_seen.alias("registered_at"))
                    .where(F.col("registered_at").isNotNull()))
        raw = self._raw(spark, "items")
        integer = self._integer_ids(spark)
        items = raw.select(stable_id(F.col(self.columns["item_id"]), integer_column=integer["item_id"]).alias("item_id"),
                           stable_id(F.col(self.columns["creator_id"]),
                                     integer_column=integer["creator_id"]).alias("creator_id"),
                           self._column(raw, "category", None),
                           as_timestamp_text(self._column(raw, "created_at", None)).alias("created_at"),
                           "source_file", "source_line")
        seen = events.groupBy("item_id").agg(first_seen.alias("_seen"))
        # An item nobody was shown and whose creation the file does not give is a new item still
        # waiting for its first audience: it is born at the log's last moment, so the last night plans it.
        end = events.agg(F.date_format(F.max(F.when(_plausible(), _parsed())), STAMP).alias("_end"))
        items = (items.join(seen, "item_id", "left").crossJoin(end)
                 .withColumn("created_at", F.coalesce(F.col("created_at"), F.col("_seen"), F.col("_end")))
                 .drop("_seen", "_end"))
        if name == "creators":
            return items.groupBy("creator_id").agg(F.min("created_at").alias("created_at")).withColumn(
                "followers", F.lit(None).cast("string"))
        return items.select("item_id", "creator_id", "category", F.lit("video").alias("item_type"), "created_at",
                            *[F.lit(None).cast("string").alias(c) for c in ("duration_s", "live_start", "live_end")],
                            "source_file", "source_line")
