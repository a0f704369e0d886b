"""Typed parsing of raw (all-string) source rows against a table schema, with named rules.

A bad row is never dropped silently: every row either parses and passes every rule, or carries the
first (column, rule) it broke, so ingest can file it in `events_rejected` or stop with a clear
error. Spark 4 runs in ANSI mode, where a plain cast of 'abc' to a number raises mid-job; the
try_ functions turn that into a rule violation instead.
"""
from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, StructType, TimestampType

from features.columns import require_columns
from features.errors import DataContractError

TIMESTAMP_FORMAT = "yyyy-MM-dd HH:mm:ss"
VIOLATION = "_violation"
ENCODING_ERROR = "\ufffd"

Rule = tuple[str, str, Callable[[], Column]]  # (column, rule, condition that marks a violation)


def _parse(column: str, dtype: DataType) -> Column:
    raw = F.trim(F.col(column))
    if isinstance(dtype, TimestampType):
        return F.try_to_timestamp(raw, F.lit(TIMESTAMP_FORMAT))
    return raw.try_cast(dtype)


def parse_against_schema(raw: DataFrame, table: str, schema: StructType, required: tuple[str, ...],
                         extra_rules: tuple[Rule, ...] = (), passthrough: tuple[str, ...] = ()) -> DataFrame:
    """Return the typed columns of `schema` (minus ds), the raw row as JSON in `raw`, and
    `_violation` = 'column|rule' of the first broken rule (null when the row is fine)."""
    columns = [f for f in schema.fields if f.name != "ds"]
    require_columns(raw, table, [f.name for f in columns])
    typed = raw.select(
        F.to_json(F.struct(*[F.col(f.name) for f in columns])).alias("raw"),
        *[_parse(f.name, f.dataType).alias(f.name) for f in columns],
        *[F.col(f.name).alias(f"_raw_{f.name}") for f in columns],
        *[F.col(name) for name in passthrough if name in raw.columns],
    )
    # A reader replaces bytes that are invalid in the file's encoding by U+FFFD: such a row was
    # misread, whatever its columns now parse as.
    rules: list[Rule] = [("raw", "valid text in the file's encoding", lambda: F.col("raw").contains(ENCODING_ERROR))]
    for f in columns:
        if f.name in required:
            rules.append((f.name, "not null", lambda n=f.name: F.col(f"_raw_{n}").isNull()))
        kind = "timestamp 'YYYY-MM-DD HH:MM:SS'" if isinstance(f.dataType, TimestampType) else f.dataType.simpleString()
        rules.append((f.name, f"parses as {kind}",
                      lambda n=f.name: F.col(f"_raw_{n}").isNotNull() & F.col(n).isNull()))
    rules.extend(extra_rules)
    violation = F.coalesce(*[F.when(condition(), F.lit(f"{column}|{rule}")) for column, rule, condition in rules])
    return typed.withColumn(VIOLATION, violation).drop(*[f"_raw_{f.name}" for f in columns])


def split_violations(parsed: DataFrame, keep: tuple[str, ...] = ()) -> tuple[DataFrame, DataFrame]:
    """(good rows without helper columns, bad rows as raw/column/rule and source_file if known,
    plus the columns `keep` names: the day a many-day pass read each row for)."""
    good = parsed.where(F.col(VIOLATION).isNull()).drop(VIOLATION, "raw")
    origin = F.col("source_file") if "source_file" in parsed.columns else F.lit(None).cast("string")
    line = F.col("source_line") if "source_line" in parsed.columns else F.lit(None).cast("long")
    good = good.drop("source_line")
    bad = parsed.where(F.col(VIOLATION).isNotNull()).select(
        "raw", origin.alias("source_file"),
        F.split(VIOLATION, r"\|").getItem(0).alias("column"),
        F.split(VIOLATION, r"\|").getItem(1).alias("rule"),
        line.cast("long").alias("source_line"),
        *keep,
    )
    return good, bad


def raise_on_violations(parsed: DataFrame, table: str) -> DataFrame:
    """For inputs where any bad row is fatal (catalogues): fail naming the first broken rule, how
    many rows break it, and where the first one came from."""
    broken = parsed.where(F.col(VIOLATION).isNotNull())
    first = broken.select("raw", VIOLATION, *[c for c in ("source_file", "source_line") if c in parsed.columns]).first()
    if first is not None:
        row = first.asDict()
        column, rule = row[VIOLATION].split("|", 1)
        where = ""
        if row.get("source_file"):
            where = f" in {row['source_file']}" + (f" (record {row['source_line']})" if row.get("source_line") else "")
        count = broken.count()
        raise DataContractError(table, column, rule, f"{count} row(s) break it; the first{where}: {first['raw']}")
    return parsed.drop(VIOLATION, "raw", "source_line").drop("source_file")
