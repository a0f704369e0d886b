"""Rules for raw exposure events, beyond their types: what makes a logged row usable."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features import schemas
from features.contracts import Rule, parse_against_schema

SURFACES = ("video", "live")
# Outside these a timestamp is a unit or clock error, not an event of any day (UTC, [from, until)).
PLAUSIBLE_FROM, PLAUSIBLE_UNTIL = "2000-01-01 00:00:00", "2100-01-01 00:00:00"


def parse_events(raw: DataFrame, known_items: DataFrame, ds: str, day_timezone: str = "UTC") -> DataFrame:
    """Typed events with `_violation` set for rows that break a rule. `known_items` is the
    item catalogue as of ds; an event for an item nobody has heard of cannot be allocated against."""
    known = known_items.select(F.col("item_id").alias("_known_item"), F.lit(True).alias("_is_known")).distinct()
    rules: tuple[Rule, ...] = (
        ("user_id", "user_id >= 0", lambda: F.col("user_id") < 0),
        ("item_id", "item_id >= 0", lambda: F.col("item_id") < 0),
        ("ts", f"within the plausible years {PLAUSIBLE_FROM[:4]}..{PLAUSIBLE_UNTIL[:4]}",
         lambda: (F.col("ts") < F.lit(PLAUSIBLE_FROM).cast("timestamp"))
         | (F.col("ts") >= F.lit(PLAUSIBLE_UNTIL).cast("timestamp"))),
        ("ts", f"falls on ds ({day_timezone})",
         lambda: F.to_date(F.from_utc_timestamp("ts", day_timezone)) != F.lit(ds).cast("date")),
        ("surface", f"one of {', '.join(SURFACES)}", lambda: ~F.col("surface").isin(*SURFACES)),
        *((flag, "0 or 1", lambda f=flag: ~F.col(f).isin(0, 1)) for flag in schemas.FLAG_COLUMNS),
        ("watch_time_ms", "watch_time_ms >= 0", lambda: F.col("watch_time_ms") < 0),
        ("item_id", "item_id in bronze.items", lambda: F.col("_is_known").isNull()),
    )
    parsed = parse_against_schema(raw, "bronze.events", schemas.EVENTS,
                                  required=("user_id", "item_id", "ts", "surface", *schemas.FLAG_COLUMNS),
                                  passthrough=("source_file", "source_line"))
    with_known = parsed.join(known, parsed["item_id"] == known["_known_item"], "left")
    # Type rules first (already in _violation), then the content rules in order.
    content = F.coalesce(*[F.when(condition(), F.lit(f"{column}|{rule}")) for column, rule, condition in rules])
    return with_known.withColumn("_violation", F.coalesce(F.col("_violation"), content)).drop(
        "_known_item", "_is_known")
