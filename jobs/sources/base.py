"""What a data source hands to ingest: raw rows as strings, in fairshot's column names.

Sources only rename, reshape and cut days; they never judge rows. Typing and every rule live in
one place (`features.contracts` / `features.events`), so a bad row from any source is reported the
same way, with the rule it broke.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class Source(Protocol):
    name: str
    day_timezone: str  # the zone whose calendar days the source's ds partitions follow

    def raw_events(self, spark: SparkSession, ds: str) -> DataFrame:
        """String columns named as in `features.schemas.EVENTS` plus `source_file`."""
        ...

    def raw_catalogue(self, spark: SparkSession, name: str) -> DataFrame:
        """String columns named as in the bronze catalogue `name` (items, creators, users): the whole
        catalogue, every row with its creation time; ingest cuts each day's snapshot from it."""
        ...

    def available_days(self, spark: SparkSession) -> list[str]:
        """The days (in `day_timezone`) the source has events for."""
        ...


def raw_events_of_days(source: Source, spark: SparkSession, days: list[str]) -> DataFrame:
    """The raw events of several days in one frame, each row with the day it was read for (`ds`):
    what ingest checks and writes in one pass. A source that reads one file for every day offers
    `raw_events_days` to read it once; otherwise this is the union of its days."""
    from functools import reduce

    from pyspark.sql import functions as F

    if hasattr(source, "raw_events_days"):
        return source.raw_events_days(spark, days)
    frames = [source.raw_events(spark, day).withColumn("ds", F.lit(day)) for day in days]
    return reduce(lambda left, right: left.unionByName(right), frames)


def make_source(config) -> Source:  # noqa: ANN001 - Config, imported lazily to keep this light
    kind = config["source"]["kind"]
    if kind == "synthetic":
        from jobs.sources.synthetic import SyntheticSource

        return SyntheticSource(config)
    if kind == "kuairand":
        from jobs.sources.kuairand import KuaiRandSource

        return KuaiRandSource(config)
    from jobs.sources.csv_mapped import MappedCsvSource

    return MappedCsvSource(config)


def source_root(config) -> str:  # noqa: ANN001 - Config, imported lazily to keep this light
    """The folder the configured source reads (synthetic: its landing area under the warehouse)."""
    import os

    if config["source"]["kind"] == "synthetic":
        from jobs.sources.synthetic import landing_root

        return landing_root(config)
    return os.path.abspath(config["source"]["path"])
