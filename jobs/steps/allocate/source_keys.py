"""The source's own ids beside the internal integers in what the night publishes.

A CSV's text ids (names, UUIDs) become integers at ingest (`bronze.id_map`); the feed and an
analyst need them back. Each gold output gets `<user|item|creator>_key`: the source's text where
the map has it, the integer as text where the source's ids were integers. Looked up in the driver
for a plan solved there, joined on the executors for one solved on them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Union

import pandas as pd

from jobs.config import Config
from jobs.warehouse import io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

Frame = Union[pd.DataFrame, "DataFrame"]
KEYS = {"user_id": ("user", "user_key"), "item_id": ("item", "item_key"), "creator_id": ("creator", "creator_key")}


def source_ids(config: Config, spark: SparkSession, ds: str) -> pd.DataFrame:
    """ds's `bronze.id_map` (kind, source_id, internal_id); no rows for a source with integer ids."""
    return (io.read_table(spark, config, "bronze.id_map", ds=ds)
            .select("kind", "source_id", "internal_id").toPandas())


def with_source_keys(frame: Frame, ids: pd.DataFrame, wanted: tuple[str, ...], spark: SparkSession) -> Frame:
    """`frame` with the key column of each of its id columns that the table wants (`wanted`)."""
    columns = frame.columns
    pairs = [(column, kind, key) for column, (kind, key) in KEYS.items() if column in columns and key in wanted]
    if isinstance(frame, pd.DataFrame):
        out = frame.copy()
        for column, kind, key in pairs:
            known = ids[ids["kind"] == kind].set_index("internal_id")["source_id"]
            as_text = out[column].astype("int64").astype(str)
            out[key] = out[column].map(known).fillna(as_text).astype(str) if len(known) else as_text
        return out
    from pyspark.sql import functions as F

    out = frame
    for column, kind, key in pairs:
        known = ids[ids["kind"] == kind]
        if known.empty:
            out = out.withColumn(key, F.col(column).cast("string"))
            continue
        lookup = spark.createDataFrame(known[["internal_id", "source_id"]]).withColumnRenamed("internal_id", column)
        out = (out.join(F.broadcast(lookup.withColumnRenamed("source_id", f"_{key}")), column, "left")
               .withColumn(key, F.coalesce(F.col(f"_{key}"), F.col(column).cast("string"))).drop(f"_{key}"))
    return out
