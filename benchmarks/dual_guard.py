"""The dual solver against a reference commit, paired on this machine: run it in any change to `allocation/`.

    .venv/bin/python benchmarks/dual_guard.py                       # against HEAD (the working tree's changes)
    .venv/bin/python benchmarks/dual_guard.py --against bfe3eac      # against any commit
    .venv/bin/python benchmarks/dual_guard.py --repeats 5 --instances random-1m

Each instance is solved in fresh processes, the change (this working tree) and the reference (a
`git worktree` of `--against`) in turn, A B A B ..., so a machine that drifts slows both; it
prints each side's median seconds and iterations, the median of the pairwise time ratios and the
two objectives. The last figures are kept in `benchmarks/figures/dual_guard.json` (date, machine,
commits) with `--record`: a ratio against a stored figure from another machine means nothing, so
the comparison is always re-measured here. A hot-path change lands with its ratio in the commit
message. Figures, not assertions.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES = os.path.join(ROOT, "benchmarks", "figures", "dual_guard.json")
# The instances that found the last regression: pairs scattered at random (1M, the size)
# and the affinity retriever's shape (groups of items sharing one audience, every item floored).
INSTANCES = {"random-1m": ("random", 1_000_000, 0), "audience-100k": ("audience", 100_000, 0)}
WORKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from allocation import DualSolver
from allocation.instances import audience_problem, realistic_problem
shape, n, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
problem = audience_problem(n, seed=seed) if shape == "audience" else realistic_problem(n, seed=seed)
started = time.perf_counter()
result = DualSolver().solve(problem)
print(json.dumps({"seconds": time.perf_counter() - started, "iterations": result.iterations,
                  "objective": result.objective, "status": result.status.value}))
"""


def solve_in(root: str, instance: str) -> dict:
    shape, n, seed = INSTANCES[instance]
    done = subprocess.run([sys.executable, "-c", WORKER, root, shape, str(n), str(seed)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def reference_tree(commit: str) -> str:
    folder = tempfile.mkdtemp(prefix="fairshot-guard-")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", folder, commit], check=True,
                   capture_output=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="HEAD", help="the reference commit (default: HEAD)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--instances", nargs="+", choices=sorted(INSTANCES), default=sorted(INSTANCES))
    parser.add_argument("--record", action="store_true", help=f"write the figures to {os.path.relpath(FIGURES, ROOT)}")
    args = parser.parse_args()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", args.against], capture_output=True,
                            text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    if subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "allocation"], capture_output=True,
                      text=True, check=True).stdout.strip():
        head += " with uncommitted changes to allocation/"
    reference = reference_tree(commit)
    rows = []
    try:
        print(f"{'instance':>14} {'this tree s':>11} {commit + ' s':>12} {'ratio':>6} {'iters':>11} objective (this / reference)")
        for instance in args.instances:
            mine, theirs = [], []
            for _ in range(args.repeats):
                mine.append(solve_in(ROOT, instance))
                theirs.append(solve_in(reference, instance))
            ratio = statistics.median(a["seconds"] / b["seconds"] for a, b in zip(mine, theirs))
            row = {"instance": instance, "seconds": statistics.median(r["seconds"] for r in mine),
                   "reference_seconds": statistics.median(r["seconds"] for r in theirs), "ratio": ratio,
                   "iterations": mine[-1]["iterations"], "reference_iterations": theirs[-1]["iterations"],
                   "objective": mine[-1]["objective"], "reference_objective": theirs[-1]["objective"]}
            rows.append(row)
            print(f"{instance:>14} {row['seconds']:11.2f} {row['reference_seconds']:12.2f} {ratio:6.2f} "
                  f"{row['iterations']:>5}/{row['reference_iterations']:<5} "
                  f"{row['objective']:.10g} / {row['reference_objective']:.10g}")
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", reference], capture_output=True)
    if args.record:
        os.makedirs(os.path.dirname(FIGURES), exist_ok=True)
        with open(FIGURES, "w") as out:
            json.dump({"date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()}, {os.cpu_count()} cores",
                       "tree_on": head, "against": commit, "repeats": args.repeats,
                       "rows": rows}, out, indent=2)
            out.write("\n")


if __name__ == "__main__":
    main()
