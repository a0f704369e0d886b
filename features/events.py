"""Rules for raw exposure events, beyond their types: what makes a logged row usable."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from features import schemas
from features.contracts import Rule, parse_against_schema

SURFACES = ("video", "live")
# Outside these a timestamp is a unit or clock error, not an event of any day (UTC, [from, until)).
PLAUSIBLE_FROM, PLAUSIBLE_UNTIL = "2000-01-01 00:00:00", "2100-01-01 00:00:00"


def parse_events(raw: DataFrame, items: DataFrame, ds: str | Column, day_timezone: str = "UTC") -> DataFrame:
    """Typed events with `_violation` set for rows that break a rule. `ds` is the day the rows were
    read for: one date, or a column of them (`raw`'s `ds`, when many days are read in one pass; it
    stays in the result). `items` is the item catalogue with `created_at`, at most one row per
    item: an event for an item not created by the end of its day cannot be allocated against."""
    day = F.lit(ds) if isinstance(ds, str) else ds
    day_end = F.to_utc_timestamp(F.date_add(day.cast("date"), 1).cast("timestamp"), day_timezone)
    known = items.select(F.col("item_id").alias("_known_item"), F.col("created_at").alias("_known_created"))
    rules: tuple[Rule, ...] = (
        ("user_id", "user_id >= 0", lambda: F.col("user_id") < 0),
        ("item_id", "item_id >= 0", lambda: F.col("item_id") < 0),
        ("ts", f"within the plausible years {PLAUSIBLE_FROM[:4]}..{PLAUSIBLE_UNTIL[:4]}",
         lambda: (F.col("ts") < F.lit(PLAUSIBLE_FROM).cast("timestamp"))
         | (F.col("ts") >= F.lit(PLAUSIBLE_UNTIL).cast("timestamp"))),
        ("ts", f"falls on ds ({day_timezone})",
         lambda: F.to_date(F.from_utc_timestamp("ts", day_timezone)) != day.cast("date")),
        ("surface", f"one of {', '.join(SURFACES)}", lambda: ~F.col("surface").isin(*SURFACES)),
        *((flag, "0 or 1", lambda f=flag: ~F.col(f).isin(0, 1)) for flag in schemas.FLAG_COLUMNS),
        ("watch_time_ms", "watch_time_ms >= 0", lambda: F.col("watch_time_ms") < 0),
        ("item_id", "item_id in bronze.items", lambda: F.col("_known_created").isNull()
         | ~(F.col("_known_created") < day_end)),
    )
    parsed = parse_against_schema(raw, "bronze.events", schemas.EVENTS,
                                  required=("user_id", "item_id", "ts", "surface", *schemas.FLAG_COLUMNS),
                                  passthrough=("source_file", "source_line", "ds"))
    with_known = parsed.join(known, parsed["item_id"] == known["_known_item"], "left")
    # Type rules first (already in _violation), then the content rules in order.
    content = F.coalesce(*[F.when(condition(), F.lit(f"{column}|{rule}")) for column, rule, condition in rules])
    return with_known.withColumn("_violation", F.coalesce(F.col("_violation"), content)).drop(
        "_known_item", "_known_created")
