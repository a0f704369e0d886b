"""Warm starts on consecutive days of the synthetic world: how many iterations yesterday's duals save.

    .venv/bin/python benchmarks/warm_start.py                       # the demo world, its last 4 days
    .venv/bin/python benchmarks/warm_start.py --days 5 --set allocation.max_category_share=0.5

Builds the demo world in a scratch warehouse (Spark local[2], local Delta tables), ingests its
days, then runs features, candidates and allocate with the dual solver on the last --days days, so
that each day stores its duals (audit.solver_duals) the way the nightly job does. For every day
after the first it then solves that day's problem twice more: cold, and warm from the previous
day's stored duals (matched by item and creator id; new items and creators start at 0). Prints
iterations, seconds, objective and certified gap of both. Figures, not assertions.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=4, help="consecutive planned days (the first is only stored)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--keep", action="store_true", help="keep the scratch warehouse")
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    logging.basicConfig(level=logging.WARNING)

    from allocation import DualSolver
    from jobs import pipeline
    from jobs.config import load_config
    from jobs.sources.synthetic import WorldParams, generate_world, landing_root, write_landing
    from jobs.steps import allocate
    from jobs.warehouse.spark import get_spark

    scratch = tempfile.mkdtemp(prefix="fairshot-warm-")
    config = load_config("local", [f"storage.warehouse={scratch}/warehouse", "allocation.solver=dual", *args.set])
    spark = get_spark(config)
    days = write_landing(generate_world(WorldParams.from_config(config)), landing_root(config))["days"]
    planned = days[-args.days:]
    for ds in days:
        pipeline.run_day(config, ds, spark, steps=("ingest",))
    for ds in planned:
        pipeline.run_day(config, ds, spark, steps=("features", "candidates", "allocate"))

    a = config["allocation"]
    settings = dict(gap_tolerance=a["dual_gap_tolerance"], max_iterations=a["dual_max_iterations"],
                    time_limit_seconds=a["time_limit_seconds"])
    print(f"{'ds':10} {'pairs':>7} {'items kept':>10} | {'cold it':>7} {'cold s':>6} {'cold gap':>8} | "
          f"{'warm it':>7} {'warm s':>6} {'warm gap':>8} | {'objective warm/cold':>19}")
    saved = []
    yesterday = allocate.load_problem(config, planned[0], spark).items["item_id"]
    for ds in planned[1:]:
        frames = allocate.load_problem(config, ds, spark)
        warm_duals = allocate.previous_duals(config, ds, spark, frames)
        kept = frames.items["item_id"].isin(yesterday).mean()
        yesterday = frames.items["item_id"]
        cold = DualSolver(**settings).solve(frames.problem)
        warm = DualSolver(**settings).solve(frames.problem, warm_start=warm_duals)
        saved.append(1 - warm.iterations / max(cold.iterations, 1))
        print(f"{ds:10} {frames.problem.n_pairs:>7} {kept:>10.0%} | {cold.iterations:>7} {cold.seconds:>6.2f} "
              f"{cold.gap:>8.1e} | {warm.iterations:>7} {warm.seconds:>6.2f} {warm.gap:>8.1e} | "
              f"{warm.objective / cold.objective:>19.5f}")
    print(f"median share of iterations saved by the warm start: {statistics.median(saved):.0%}")
    spark.stop()
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
