"""The landing area, where sources' files arrive: reading them as strings, and the watermark that
says which days are complete.

Kept apart from `base` (which names the sources and builds the configured one) so that the
sources can use these without importing what imports them.
"""
from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

from features.errors import DataContractError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# The landing area's completeness contract: whoever drops a day's logs writes this file last,
# holding the last day (YYYY-MM-DD, in the source's day zone) whose logs are all there. The
# scheduler waits on it without starting Spark; "some row of the day exists" says nothing about
# whether the day is complete.
WATERMARK_FILE = "_COMPLETE_THROUGH"


def read_csv_strings(spark: SparkSession, path: str, table: str) -> DataFrame:
    """A CSV with a header, every column a string: typing happens under named rules later."""
    if not os.path.exists(path):
        raise DataContractError(table, "*", "source file exists", f"no file at {path}")
    return spark.read.option("header", True).option("inferSchema", False).csv(path)


def complete_through(root: str) -> str | None:
    """The last complete day the landing area declares, or None if it declares none."""
    path = os.path.join(root, WATERMARK_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip() or None


def mark_complete_through(root: str, ds: str) -> None:
    """Declare the logs complete through `ds` (atomically: a reader sees the old day or the new)."""
    os.makedirs(root, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=root, prefix=".watermark-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(ds + "\n")
    os.chmod(temporary, 0o644)
    os.replace(temporary, os.path.join(root, WATERMARK_FILE))
