"""Per-commit cost of the two storage engines: Spark's own Delta writer against delta-rs committing
Parquet that Spark wrote.

    .venv/bin/python benchmarks/storage_engines.py                 # 2,000 rows a partition, 8 commits
    .venv/bin/python benchmarks/storage_engines.py --rows 200000 --commits 5

In one Spark session (local[2], the installed Delta jars), writes `--commits` partitions of a
frame shaped like `silver.candidates` with each engine, in alternating rounds (the first round
warms the JVM and is left out), then reads each partition back. Prints the median seconds per
commit and per read of each engine and their ratio. Figures, not assertions: `make demo` makes
about 110 commits, so at the demo's sizes the engine's fixed cost per commit is what differs.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000, help="rows per partition")
    parser.add_argument("--commits", type=int, default=8, help="partitions written per engine and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per engine (the first is warm-up)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from pyspark.sql import functions as F

    from jobs.config import load_config
    from jobs.warehouse import io
    from jobs.warehouse.spark import get_spark
    from jobs.warehouse.tables import table

    scratch = tempfile.mkdtemp(prefix="fairshot-engines-")
    config = load_config("local", [f"storage.warehouse={scratch}"])
    spark = get_spark(config)
    if not io.delta_jars_available(spark):
        sys.exit("Delta's jars are not installed (make venv fetches them); nothing to compare")
    spec = table("silver.candidates")
    frame = spark.range(args.rows).select(*[
        (F.col("id") % 997).cast(field.dataType).alias(field.name) for field in spec.schema.fields if field.name != "ds"
    ]).cache()
    frame.count()
    seconds: dict[str, dict[str, list[float]]] = {e: {"commit": [], "read": []} for e in ("delta-spark", "delta-rs")}
    for round_ in range(args.rounds):
        for engine in seconds:
            tuned = config.with_overrides([f"storage.engine={engine}",
                                           f"storage.warehouse={scratch}/{engine}-{round_}"])
            for day in range(1, args.commits + 1):
                ds = f"2026-01-{day:02d}"
                started = time.perf_counter()
                io.write_partition(spark, tuned, "silver.candidates", frame, ds=ds, run_id="bench")
                wrote = time.perf_counter()
                io.read_table(spark, tuned, "silver.candidates", ds=ds).count()
                if round_:
                    seconds[engine]["commit"].append(wrote - started)
                    seconds[engine]["read"].append(time.perf_counter() - wrote)
    medians = {e: {k: statistics.median(v) for k, v in kinds.items()} for e, kinds in seconds.items()}
    print(f"{args.rows} rows a partition, {args.commits} commits x {args.rounds - 1} measured rounds per engine")
    for engine, figures in medians.items():
        print(f"  {engine:12} commit {figures['commit']:.3f} s   read {figures['read']:.3f} s   (medians)")
    for kind in ("commit", "read"):
        print(f"  Spark's writer / delta-rs, {kind}: {medians['delta-spark'][kind] / medians['delta-rs'][kind]:.1f}x")


if __name__ == "__main__":
    main()
