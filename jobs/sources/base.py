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

    def raw_catalogue(self, spark: SparkSession, name: str, ds: str) -> DataFrame:
        """String columns named as in the bronze catalogue `name` (items, creators, users)."""
        ...

    def available_days(self, spark: SparkSession) -> list[str]:
        """The days (in `day_timezone`) the source has events for."""
        ...


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


def read_csv_strings(spark: SparkSession, path: str, table: str) -> DataFrame:
    """A CSV with a header, every column a string: typing happens under named rules later."""
    import os

    from features.errors import DataContractError

    if not os.path.exists(path):
        raise DataContractError(table, "*", "source file exists", f"no file at {path}")
    return spark.read.option("header", True).option("inferSchema", False).csv(path)


# The landing area's completeness contract: whoever drops a day's logs writes this file last,
# holding the last day (YYYY-MM-DD, in the source's day zone) whose logs are all there. The
# scheduler waits on it without starting Spark; "some row of the day exists" says nothing about
# whether the day is complete.
WATERMARK_FILE = "_COMPLETE_THROUGH"


def source_root(config) -> str:  # noqa: ANN001 - Config, imported lazily to keep this light
    """The folder the configured source reads (synthetic: its landing area under the warehouse)."""
    import os

    if config["source"]["kind"] == "synthetic":
        from jobs.sources.synthetic import landing_root

        return landing_root(config)
    return os.path.abspath(config["source"]["path"])


def complete_through(root: str) -> str | None:
    """The last complete day the landing area declares, or None if it declares none."""
    import os

    path = os.path.join(root, WATERMARK_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip() or None


def mark_complete_through(root: str, ds: str) -> None:
    """Declare the logs complete through `ds` (atomically: a reader sees the old day or the new)."""
    import os
    import tempfile

    os.makedirs(root, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=root, prefix=".watermark-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(ds + "\n")
    os.chmod(temporary, 0o644)
    os.replace(temporary, os.path.join(root, WATERMARK_FILE))
