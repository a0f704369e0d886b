"""The nightly job at growing sizes: seconds per step, peak memory, rows, and how each step grows.

    .venv/bin/python benchmarks/pipeline_scale.py                                  # 2k and 20k users
    .venv/bin/python benchmarks/pipeline_scale.py --users 2000 20000 200000 --driver-memory 8g
    .venv/bin/python benchmarks/pipeline_scale.py --users 20000 --compare-executors  # allocate both ways

For each size, in a fresh process and a fresh warehouse under --workdir: the synthetic world with
`sample.n_users = N` and `sample.n_creators = N / 5` (the demo's ratio), every logged day but the
last ingested and yesterday's features built (what a nightly run finds: the night before wrote
them; not its plan, so allocate starts cold), then the night for the last day, timed step by step
(ingest, features, candidates, allocate, publish, and `night`, their sum: what the feed waits for;
the backtests off unless --backtests, since they score, not plan), then evaluate and report of the
same day, which the DAG runs the night after (`whole DAG`: the night plus these two). The first two
are set-up, printed but not the night.
Prints per size the seconds of each step, the rows of the main tables, what the published plan reaches (users with candidates, new-item coverage,
creators with a like, exposure Gini, objective), and memory peaks: the world generator's (a process of its own), the night's
Python driver, and the Spark JVM's (its VmHWM; in local mode driver and executors in one). With
--compare-executors the night's allocate runs in the driver and then again with its
pairs on the executors (spark.allocate_on_executors), each timed. Between consecutive sizes it prints each
step's growth exponent, log(t2 / t1) / log(N2 / N1): 1 is linear. Figures, not assertions:
machines are shared and noisy, so read them as ratios within one run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NIGHT = ("features", "candidates", "allocate", "publish")
AFTER = ("evaluate", "report")      # the DAG's evaluate_previous_day and report_previous_day
WORKER = r"""
import json, logging, resource, sys, time
sys.path.insert(0, {root!r})
logging.basicConfig(level=logging.WARNING)
from deltalake import DeltaTable
from jobs import pipeline
from jobs.config import load_config
from jobs.sources.synthetic import WorldParams, generate_landing, landing_root
from jobs.warehouse import io
from jobs.warehouse.spark import get_spark

config = load_config("local", {overrides!r})


def high_water(pid):   # the kernel's high-water mark of a process's resident memory, MB (Linux; else None)
    try:
        with open(f"/proc/{{pid}}/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return None


def reset_high_water(pid):
    try:
        with open(f"/proc/{{pid}}/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


if {phase!r} == "sample":
    started = time.perf_counter()
    summary = generate_landing(WorldParams.from_config(config), landing_root(config))
    print("RESULT " + json.dumps({{"seconds": time.perf_counter() - started, "days": summary["days"],
          "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
    sys.exit()
seconds = {{}}
spark = get_spark(config)
days = {days!r}
started = time.perf_counter()
for day in days[:-1]:
    pipeline.run_step(config, "ingest", day, spark)
seconds["ingest (earlier days)"] = time.perf_counter() - started
if len(days) > 1:  # what a nightly run finds: yesterday's night wrote yesterday's features
    started = time.perf_counter()
    pipeline.run_step(config, "features", days[-2], spark)
    seconds["yesterday's features"] = time.perf_counter() - started
for step in ("ingest", *{night!r}):
    started = time.perf_counter()
    pipeline.run_step(config, step, days[-1], spark)
    seconds[step] = time.perf_counter() - started
seconds["night"] = sum(seconds[step] for step in ("ingest", *{night!r}))
jvm = spark.sparkContext._gateway.proc.pid
peaks = {{"night_python_mb": high_water("self"), "night_jvm_mb": high_water(jvm)}}
reset_high_water("self"), reset_high_water(jvm)
for step in {after!r}:
    started = time.perf_counter()
    pipeline.run_step(config, step, days[-1], spark)
    seconds[step] = time.perf_counter() - started
seconds["whole DAG"] = seconds["night"] + sum(seconds[step] for step in {after!r})
peaks.update(after_python_mb=high_water("self"), after_jvm_mb=high_water(jvm))
if {compare!r}:
    for mode in ("never", "always"):
        started = time.perf_counter()
        pipeline.run_step(config.with_overrides([f"spark.allocate_on_executors={{mode}}"]), "allocate", days[-1], spark)
        seconds["allocate in the driver" if mode == "never" else "allocate on the executors"] = \
            time.perf_counter() - started
rows = {{}}
for key in ("bronze.events", "silver.user_features", "silver.candidates", "gold.allocations"):
    table = DeltaTable(io.table_uri(config, key))
    rows[key] = len(table.to_pyarrow_table(partitions=[("ds", "=", days[-1])], columns=["ds"]))
ledger = DeltaTable(io.table_uri(config, "gold.allocation_runs")).to_pandas(partitions=[("ds", "=", days[-1])])
published = ledger[ledger["status"] == "published"].iloc[0]
plan = {{key: float(published[key]) for key in ("n_users", "new_item_coverage", "creators_with_like_share",
                                                "exposure_gini", "objective")}}
spark.stop()
print("RESULT " + json.dumps({{"seconds": seconds, "rows": rows, "plan": plan, **peaks}}))
"""


def _worker(code: str, what: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "TZ": "UTC"})
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{what} failed:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def run_size(users: int, workdir: str, args: argparse.Namespace) -> dict:
    """The world is generated in a process of its own, so the night's peaks are the night's."""
    overrides = [f"storage.warehouse={os.path.join(workdir, f'wh-{users}')}", f"sample.n_users={users}",
                 f"sample.n_creators={max(1, users // 5)}", f"spark.driver_memory={args.driver_memory}",
                 f"features.backtests={str(args.backtests).lower()}",
                 f"candidates.backtests={str(args.backtests).lower()}", *args.set]
    sample = _worker(WORKER.format(root=ROOT, overrides=overrides, night=NIGHT, after=AFTER, phase="sample", days=[], compare=False),
                     f"the {users}-user world")
    night = _worker(WORKER.format(root=ROOT, overrides=overrides, night=NIGHT, after=AFTER, phase="night", days=sample["days"],
                                  compare=args.compare_executors),
                    f"the {users}-user night")
    night["seconds"] = {"sample": sample["seconds"], **night["seconds"]}
    night["peak_sample_mb"] = sample["peak_mb"]
    return night


def _megabytes(value: float | None) -> str:
    return "unknown (no /proc)" if value is None else f"{value:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--driver-memory", default="4g", help="spark.driver_memory (local mode: all of Spark)")
    parser.add_argument("--backtests", action="store_true", help="also run the nightly backtests")
    parser.add_argument("--compare-executors", action="store_true",
                        help="time allocate in the driver and with its pairs on the executors")
    parser.add_argument("--set", action="append", default=[], help="a config override, key=value (repeatable)")
    parser.add_argument("--workdir", help="where the warehouses go (default: a temporary folder)")
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix="fairshot-scale-")
    results = {}
    for users in sorted(args.users):
        results[users] = result = run_size(users, workdir, args)
        steps = ", ".join(f"{step} {s:.1f}s" for step, s in result["seconds"].items())
        rows = ", ".join(f"{key} {n:,}" for key, n in result["rows"].items())
        plan = result["plan"]
        print(f"{users:>8,} users: {steps}\n          rows (last day): {rows}\n"
              f"          peak: generating the world {result['peak_sample_mb']:.0f} MB; the night's Python "
              f"driver {_megabytes(result['night_python_mb'])}, the Spark JVM (driver and, in local mode, executors) "
              f"{_megabytes(result['night_jvm_mb'])}; evaluate and report: Python "
              f"{_megabytes(result['after_python_mb'])}, JVM {_megabytes(result['after_jvm_mb'])}\n"
              f"          plan: {plan['n_users']:,.0f} users with candidates, new-item coverage "
              f"{plan['new_item_coverage']:.1%}, creators with a like {plan['creators_with_like_share']:.1%}, "
              f"exposure Gini {plan['exposure_gini']:.3f}, objective {plan['objective']:,.1f}", flush=True)
    sizes = sorted(results)
    for small, large in zip(sizes, sizes[1:]):
        ratio = math.log(large / small)
        exponents = ", ".join(
            f"{step} {math.log(results[large]['seconds'][step] / results[small]['seconds'][step]) / ratio:.2f}"
            for step in results[small]["seconds"] if step in results[large]["seconds"])
        print(f"growth exponent {small:,} -> {large:,} users: {exponents}")


if __name__ == "__main__":
    main()
