"""KuaiRand (Kuaishou's public logs) as a fairshot source.

Accepts the official file and column names (`log_*.csv` with `video_id`, `time_ms`,
`play_time_ms`, `is_forward`, ...) and the renamed single-file samples (`interactions.csv` with
`item_id`, `event_time_ms`). Optional columns may be absent: a missing flag is 0, a missing watch
time is unknown (null). Days are cut in Asia/Shanghai time, as KuaiRand's own `date` column is.

What KuaiRand does not have is derived, and said so here: creators are the videos' authors, born at
their first upload; a user's registration is `register_days` before the last logged day.
"""
from __future__ import annotations

import glob
import os
from typing import TYPE_CHECKING

from pyspark.sql import Column
from pyspark.sql import functions as F

from features.columns import require_columns
from features.errors import DataContractError
from jobs.sources.landing import read_csv_strings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.config import Config

ALIASES = {"video_id": "item_id", "time_ms": "event_time_ms", "play_time_ms": "watch_time_ms",
           "is_forward": "is_share", "long_view": "is_long_view", "author_id": "creator_id"}
FLAGS = ("is_click", "is_long_view", "is_like", "is_follow", "is_share", "is_comment", "is_hate")
STAMP = "yyyy-MM-dd HH:mm:ss"


def _renamed(frame: DataFrame) -> DataFrame:
    for old, new in ALIASES.items():
        if old in frame.columns and new not in frame.columns:
            frame = frame.withColumnRenamed(old, new)
    return frame


def _optional(frame: DataFrame, column: str, default: str | None) -> Column:
    return F.col(column) if column in frame.columns else F.lit(default).cast("string")


class KuaiRandSource:
    name = "kuairand"

    def __init__(self, config: Config) -> None:
        self.root = os.path.abspath(config["source"]["path"] or "")
        self.day_timezone = config["source"]["timezone"] or "Asia/Shanghai"
        self._days: list[str] | None = None
        if not os.path.isdir(self.root):
            raise DataContractError("source kuairand", "source.path", "a folder of KuaiRand files",
                                    f"{self.root!r} is not a folder")

    def _files(self, patterns: tuple[str, ...], what: str) -> list[str]:
        found = sorted({p for pattern in patterns for p in glob.glob(os.path.join(self.root, pattern))})
        if not found:
            raise DataContractError(f"source kuairand {what}", "*", "source file exists",
                                    f"none of {patterns} in {self.root}")
        return found

    def _logs(self, spark: SparkSession) -> DataFrame:
        frames = []
        for path in self._files(("interactions.csv", "log_*.csv"), "logs"):
            raw = _renamed(read_csv_strings(spark, path, "bronze.events"))
            require_columns(raw, f"source kuairand {os.path.basename(path)}", ["user_id", "item_id", "event_time_ms"])
            random_log = "1" if "random" in os.path.basename(path) else "0"
            ms = F.col("event_time_ms").try_cast("long")
            frames.append(raw.select(
                "user_id", "item_id", "event_time_ms",
                # an unparsable time keeps its raw text, so the ts rule rejects it visibly
                F.coalesce(F.date_format(F.timestamp_millis(ms), STAMP), F.col("event_time_ms")).alias("ts"),
                F.lit("video").alias("surface"),
                *[_optional(raw, flag, "0").alias(flag) for flag in FLAGS],
                _optional(raw, "watch_time_ms", None).alias("watch_time_ms"),
                _optional(raw, "is_rand", random_log).alias("is_rand"),
                F.lit(path).alias("source_file"),
            ))
        logs = frames[0]
        for frame in frames[1:]:
            logs = logs.unionByName(frame)
        return logs

    def _local_day(self, ms: Column) -> Column:
        return F.date_format(F.from_utc_timestamp(F.timestamp_millis(ms), self.day_timezone), "yyyy-MM-dd")

    def raw_events(self, spark: SparkSession, ds: str) -> DataFrame:
        logs = self._logs(spark)
        ms = F.col("event_time_ms").try_cast("long")
        return logs.where((self._local_day(ms) == ds) | ms.isNull()).drop("event_time_ms")

    def raw_events_days(self, spark: SparkSession, days: list[str]) -> DataFrame:
        """The logs read once for many days, each row with its day (`ds`); a row with no readable
        time comes once, with the first of them."""
        ms = F.col("event_time_ms").try_cast("long")
        day = F.when(ms.isNull(), F.lit(min(days))).otherwise(self._local_day(ms))
        return self._logs(spark).withColumn("ds", day).where(F.col("ds").isin(*days)).drop("event_time_ms")

    def available_days(self, spark: SparkSession) -> list[str]:
        if self._days is None:
            day = self._local_day(F.col("event_time_ms").try_cast("long"))
            self._days = sorted(r.day for r in self._logs(spark).select(day.alias("day")).distinct().collect()
                                if r.day is not None)
        return self._days

    def last_day(self, spark: SparkSession) -> str:
        return self.available_days(spark)[-1]

    def raw_catalogue(self, spark: SparkSession, name: str) -> DataFrame:
        if name == "users":
            raw = read_csv_strings(spark, self._files(("user_features*.csv",), "users")[0], "bronze.users")
            require_columns(raw, "source kuairand user_features", ["user_id", "register_days"])
            registered = F.date_sub(F.lit(self.last_day(spark)).cast("date"), F.col("register_days").try_cast("int"))
            return raw.select("user_id", F.date_format(
                F.to_utc_timestamp(registered.cast("timestamp"), self.day_timezone), STAMP).alias("registered_at"))
        raw = _renamed(read_csv_strings(spark, self._files(("video_features_basic*.csv",), "items")[0], "bronze.items"))
        require_columns(raw, "source kuairand video_features_basic", ["item_id", "creator_id", "upload_dt"])
        uploaded = F.date_format(F.to_utc_timestamp(F.col("upload_dt").cast("timestamp"), self.day_timezone), STAMP)
        if name == "creators":
            return raw.groupBy("creator_id").agg(F.min(uploaded).alias("created_at")).withColumn(
                "followers", F.lit(None).cast("string"))
        duration = (F.col("video_duration").try_cast("double") / 1000).cast("string") \
            if "video_duration" in raw.columns else F.lit(None).cast("string")
        return raw.select(
            "item_id", "creator_id",
            F.coalesce(F.col("tag"), F.lit("unknown")).alias("category") if "tag" in raw.columns
            else F.lit("unknown").alias("category"),
            F.lit("video").alias("item_type"), uploaded.alias("created_at"), duration.alias("duration_s"),
            F.lit(None).cast("string").alias("live_start"), F.lit(None).cast("string").alias("live_end"))
