"""Solver benchmark: exact LP (GLOP, HiGHS) vs the dual-decomposition solver on realistic instances.

    .venv/bin/python benchmarks/solvers.py                 # 100k and 1M pairs
    .venv/bin/python benchmarks/solvers.py --sizes 100000 1000000 10000000 --repeats 3
    .venv/bin/python benchmarks/solvers.py --sizes 10000000 --solvers spark --repeats 1   # pairs on Spark

Prints, per size and solver: median wall time over the repeats, objective, relative gap to the
best exact optimum (or, where no exact solve finished, the dual solver's own certified gap to its
bound), max constraint violation, iterations and peak memory (RSS high-water mark of a fresh
process per solve, so one solver's garbage never counts against the next). `spark` is the dual
solver with its pairs on Spark local[2] (`jobs.steps.allocate.dual_on_spark`): its time includes writing the pair
blocks, its peak is the Python driver's only (the JVM and Python workers are other processes), its
violation is the one certified by its last check, and it also prints the Spark passes and the
median cost of one. `--constrained` adds docs/DESIGN.md's optional constraints (diversity caps, creator
caps, a budget), tight enough to bind; the violation then covers them too. `--shape audience`
solves nights shaped like the affinity retriever's instead (`allocation.instances.audience_problem`:
groups of items sharing one audience, every item floored), where the working set once cycled. Figures, not
assertions: machines are shared and noisy, so read them as medians and ratios within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from allocation.instances import audience_problem, realistic_problem
from allocation import LPSolver, DualSolver
n, solver, seed, limit, tol, constrained = {n}, {solver!r}, {seed}, {limit}, {tol}, {constrained}
problem = (audience_problem(n, seed=seed) if {shape!r} == "audience"
           else realistic_problem(n, seed=seed, constrained=constrained))
started = time.perf_counter()
extra = {{}}
if solver == "spark":
    import os, tempfile
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from allocation.dual import Sides
    from jobs.config import load_config
    from jobs.steps.allocate.dual_on_spark import pairs_frame, solve_on_spark
    from jobs.warehouse.spark import get_spark
    work = tempfile.mkdtemp(prefix="fairshot-bench-")
    spark = get_spark(load_config(env="local", overrides=["spark.driver_memory=8g"]))
    frame = pairs_frame(spark, problem)
    started = time.perf_counter()
    solved = solve_on_spark(spark, frame, Sides.of(problem), DualSolver(gap_tolerance=tol, time_limit_seconds=limit,
                            max_iterations=100000), work)
    seconds = time.perf_counter() - started
    out = solved.outcome
    print(json.dumps(dict(pairs=problem.n_pairs, seconds=seconds, objective=out.objective, bound=out.bound,
                          status=out.status.value, iterations=out.iterations, violation=out.trace[-1].max_violation,
                          peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          note=f"{{solved.passes}} Spark passes, {{solved.seconds_per_pass:.3f}} s per pass")))
    sys.exit(0)
if solver == "dual":
    result = DualSolver(gap_tolerance=tol, time_limit_seconds=limit, max_iterations=100000).solve(problem)
else:
    result = LPSolver(backend=solver, time_limit_seconds=limit).solve(problem)
seconds = time.perf_counter() - started
violation = problem.max_violation(result.x)
print(json.dumps(dict(pairs=problem.n_pairs, seconds=seconds, objective=result.objective, bound=result.bound,
                      status=result.status.value, iterations=result.iterations, violation=violation,
                      peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def run_once(n: int, solver: str, seed: int, limit: float, tol: float, constrained: bool,
             shape: str = "realistic") -> dict | None:
    code = WORKER.format(root=ROOT, n=n, solver=solver, seed=seed, limit=limit, tol=tol, constrained=constrained,
                         shape=shape)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=limit + 300)
    except subprocess.TimeoutExpired:
        return None
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        print(f"  {solver} at {n}: failed ({out.stderr.strip().splitlines()[-1:] or out.returncode})")
        return None
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--solvers", nargs="+", default=["GLOP", "HIGHS_LP", "dual"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=600.0, help="per exact solve, seconds")
    parser.add_argument("--gap", type=float, default=1e-3, help="the dual solver's target gap")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--constrained", action="store_true",
                        help="add the optional constraints (diversity caps, creator caps, a budget), binding")
    parser.add_argument("--shape", choices=["realistic", "audience"], default="realistic",
                        help="pairs scattered at random, or items in groups sharing one audience (not with --constrained)")
    args = parser.parse_args()
    if args.shape == "audience" and args.constrained:
        parser.error("--constrained applies to the realistic shape only")
    print(f"{'pairs':>10} {'solver':>9} {'median s':>9} {'objective':>14} {'gap to opt':>11} "
          f"{'dual gap':>9} {'max viol':>9} {'iters':>7} {'peak MB':>8} status")
    for n in args.sizes:
        results: dict[str, list[dict]] = {}
        for solver in args.solvers:
            runs = [r for r in (run_once(n, solver, args.seed, args.time_limit, args.gap, args.constrained, args.shape)
                                for _ in range(args.repeats)) if r]
            if runs:
                results[solver] = runs
        exact = [r[0]["objective"] for s, r in results.items() if s not in ("dual", "spark") and r[0]["status"] == "optimal"]
        optimum = max(exact) if exact else None
        for solver, runs in results.items():
            first = runs[0]
            to_optimum = (optimum - first["objective"]) / abs(optimum) if optimum else float("nan")
            own_gap = (first["bound"] - first["objective"]) / max(1.0, abs(first["bound"]))
            print(f"{first['pairs']:>10} {solver:>9} {statistics.median(r['seconds'] for r in runs):>9.2f} "
                  f"{first['objective']:>14.6f} {to_optimum:>11.2e} {own_gap:>9.2e} {first['violation']:>9.1e} "
                  f"{first['iterations']:>7} {max(r['peak_mb'] for r in runs):>8.0f} {first['status']}"
                  + (f" ({first['note']})" if "note" in first else ""))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
