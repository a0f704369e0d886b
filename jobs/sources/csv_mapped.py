"""Bring your own data: an interactions CSV and an item -> creator CSV, with a column mapping.

`source.csv.columns` maps each fairshot column to a column of your files ("" = you do not have it:
flags become 0, watch time unknown). Creators and users are derived from what is there: a
creator is born at its first item, a user at their first interaction.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pyspark.sql import Column
from pyspark.sql import functions as F

from features.columns import require_columns
from features.errors import DataContractError
from jobs.sources.base import read_csv_strings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.config import Config

FLAGS = ("is_click", "is_long_view", "is_like", "is_follow", "is_share", "is_comment", "is_hate")
STAMP = "yyyy-MM-dd HH:mm:ss"


class MappedCsvSource:
    name = "csv"

    def __init__(self, config: Config) -> None:
        settings = config["source"]["csv"]
        self.root = os.path.abspath(config["source"]["path"] or ".")
        self.day_timezone = config["source"]["timezone"] or "UTC"
        self.columns = dict(settings["columns"])
        self.time_unit = settings["time_unit"]
        self.interactions = os.path.join(self.root, settings["interactions_file"])
        self.items = os.path.join(self.root, settings["items_file"])
        for key in ("user_id", "item_id", "ts", "creator_id", "category"):
            if not self.columns[key]:
                raise DataContractError("source csv", f"source.csv.columns.{key}", "mapped to a column",
                                        "this column is required")

    def _column(self, frame: DataFrame, key: str, default: str | None, file: str) -> Column:
        name = self.columns[key]
        if not name:
            return F.lit(default).cast("string").alias(key)
        require_columns(frame, f"source csv {os.path.basename(file)}", [name])
        return F.col(name).alias(key)

    def _utc_text(self, raw: Column) -> Column:
        """The source's time as 'YYYY-MM-DD HH:MM:SS' UTC; unparsable values keep their text."""
        if self.time_unit == "iso":
            return raw
        seconds = raw.try_cast("double") / (1000.0 if self.time_unit == "ms" else 1.0)
        return F.coalesce(F.date_format(F.timestamp_seconds(seconds), STAMP), raw)

    def _events(self, spark: SparkSession) -> DataFrame:
        raw = read_csv_strings(spark, self.interactions, "bronze.events")
        return raw.select(
            self._column(raw, "user_id", None, self.interactions), self._column(raw, "item_id", None, self.interactions),
            self._utc_text(F.col(self.columns["ts"])).alias("ts") if self.columns["ts"] in raw.columns
            else self._column(raw, "ts", None, self.interactions),
            F.lit("video").alias("surface"),
            *[self._column(raw, flag, "0", self.interactions) for flag in FLAGS],
            self._column(raw, "watch_time_ms", None, self.interactions),
            F.lit("0").alias("is_rand"), F.lit(self.interactions).alias("source_file"))

    def raw_events(self, spark: SparkSession, ds: str) -> DataFrame:
        events = self._events(spark)
        parsed = F.try_to_timestamp(F.col("ts"), F.lit(STAMP))
        local_day = F.date_format(F.from_utc_timestamp(parsed, self.day_timezone), "yyyy-MM-dd")
        return events.where((local_day == ds) | parsed.isNull())

    def available_days(self, spark: SparkSession) -> list[str]:
        parsed = F.try_to_timestamp(F.col("ts"), F.lit(STAMP))
        day = F.date_format(F.from_utc_timestamp(parsed, self.day_timezone), "yyyy-MM-dd")
        return sorted(r.day for r in self._events(spark).select(day.alias("day")).distinct().collect()
                      if r.day is not None)

    def raw_catalogue(self, spark: SparkSession, name: str, ds: str) -> DataFrame:
        first_seen = F.date_format(F.min(F.try_to_timestamp(F.col("ts"), F.lit(STAMP))), STAMP)
        if name == "users":
            return self._events(spark).groupBy("user_id").agg(first_seen.alias("registered_at"))
        raw = read_csv_strings(spark, self.items, "bronze.items")
        items = raw.select(self._column(raw, "item_id", None, self.items),
                           self._column(raw, "creator_id", None, self.items),
                           self._column(raw, "category", None, self.items),
                           self._column(raw, "created_at", None, self.items))
        if not self.columns["created_at"]:
            seen = self._events(spark).groupBy("item_id").agg(first_seen.alias("_seen"))
            items = items.join(seen, "item_id", "left").withColumn("created_at", F.col("_seen")).drop("_seen")
        if name == "creators":
            return items.groupBy("creator_id").agg(F.min("created_at").alias("created_at")).withColumn(
                "followers", F.lit(None).cast("string"))
        return items.select("item_id", "creator_id", "category", F.lit("video").alias("item_type"), "created_at",
                            *[F.lit(None).cast("string").alias(c) for c in ("duration_s", "live_start", "live_end")])
