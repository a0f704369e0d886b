"""A first run's history: the days ingested one at a time against all of them in one pass.

    .venv/bin/python benchmarks/ingest_days.py                      # the demo's world (2,000 users, 14 days)
    .venv/bin/python benchmarks/ingest_days.py --users 20000 --repeats 3
    .venv/bin/python benchmarks/ingest_days.py --by-day-only        # what an older checkout can run

One Spark session, one synthetic world under --workdir; for each repeat a fresh warehouse is filled
both ways (day by day with `ingest.run`, then in one pass with `ingest.run_days`, the order
alternating between repeats), and the seconds of each are printed with their median and the ratio.
Both must leave the same rows (the test suite checks that on bad input too); this prints times.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--by-day-only", action="store_true", help="time only the day-by-day loop")
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.WARNING)
    from jobs.config import load_config
    from jobs.sources.synthetic import WorldParams, generate_landing
    from jobs.steps import ingest
    from jobs.warehouse.spark import get_spark

    workdir = args.workdir or tempfile.mkdtemp(prefix="fairshot-ingest-")
    landing = os.path.join(workdir, "landing")
    base = load_config("local", [f"sample.n_users={args.users}", f"sample.n_creators={max(args.users // 5, 1)}",
                                 f"source.path={landing}"])
    summary = generate_landing(WorldParams.from_config(base), landing)
    days = summary["days"]
    spark = get_spark(base)
    print(f"world: {summary['users']} users, {summary['events']} events over {len(days)} days; "
          f"engine {base['storage']['engine']}")

    def timed(kind: str, repeat: int) -> float:
        warehouse = os.path.join(workdir, f"{kind}-{repeat}")
        config = base.with_overrides([f"storage.warehouse={warehouse}"])
        started = time.perf_counter()
        if kind == "by_day":
            for day in days:
                ingest.run(config, day, spark)
        else:
            ingest.run_days(config, days, spark)
        seconds = time.perf_counter() - started
        shutil.rmtree(warehouse)
        return seconds

    kinds = ["by_day"] if args.by_day_only else ["by_day", "one_pass"]
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    for repeat in range(args.repeats):
        for kind in kinds if repeat % 2 == 0 else kinds[::-1]:
            seconds[kind].append(timed(kind, repeat))
            print(f"repeat {repeat}: {kind} {seconds[kind][-1]:.1f} s", flush=True)
    for kind, values in seconds.items():
        print(f"{kind:9} median {statistics.median(values):6.1f} s  ({', '.join(f'{v:.1f}' for v in values)})")
    if len(kinds) == 2:
        ratios = [a / b for a, b in zip(seconds["by_day"], seconds["one_pass"])]
        print(f"by_day / one_pass: median {statistics.median(ratios):.2f}x")
    if not args.workdir:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
