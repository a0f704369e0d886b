"""Dual solver accuracy: many small random instances, each solved by the dual solver and by GLOP.

    .venv/bin/python benchmarks/dual_accuracy.py                  # 300 instances, seed 1
    .venv/bin/python benchmarks/dual_accuracy.py --instances 1000 --seed 7

The instances are the random test's (`tests/test_dual_solver.random_problem`: 1-25 users, 1-12
items, any density, half of them with the optional constraints, some with unavailable users,
floors beyond reach or items nobody may see). The test replays a fixed few; this sweeps many, to
show how often the solver reaches its gap tolerance and how far from the exact optimum it stops.
Prints the share converged, the worst gap to GLOP's optimum (relative, as the solver's stopping
rule measures it) with and without the optional constraints, the most iterations an instance took,
and each instance that did not converge or left room idle that a pair worth showing could use,
with the arguments that rebuild it.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from allocation import DualSolver, LPSolver  # noqa: E402
from tests.test_dual_solver import assert_feasible, assert_no_idle_room, random_problem  # noqa: E402


def random_arguments(rng: np.random.Generator) -> dict:
    """One draw of the random test's arguments (the same ranges its strategies use)."""
    seed = int(rng.integers(0, 10_000))
    unavailable, huge_floors, empty_item, constrained = (bool(b) for b in rng.integers(0, 2, 4))
    return dict(seed=seed, n_users=int(rng.integers(1, 26)), n_items=int(rng.integers(1, 13)),
                density=float(rng.uniform(0.05, 1.0)), unavailable=unavailable and seed % 5 == 0,
                huge_floors=huge_floors, empty_item=empty_item, constrained=constrained)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    worst = {False: 0.0, True: 0.0}
    converged, most_iterations = 0, 0
    for _ in range(args.instances):
        arguments = random_arguments(rng)
        problem = random_problem(**arguments)
        exact = LPSolver(backend="GLOP").solve(problem)
        limit = 5_000 if arguments["constrained"] else 20_000       # the random test's limits
        dual = DualSolver(gap_tolerance=args.tolerance, max_iterations=limit).solve(problem)
        assert_feasible(problem, dual.x)
        gap = (exact.objective - dual.objective) / max(1.0, abs(dual.bound))
        constrained = arguments["constrained"]
        worst[constrained] = max(worst[constrained], gap)
        most_iterations = max(most_iterations, dual.iterations)
        converged += dual.status.value == "converged"
        if dual.status.value != "converged":
            print(f"not converged ({dual.status.value}, {gap:.2%} below the optimum): {arguments}")
        try:
            assert_no_idle_room(problem, dual.x)
        except AssertionError:
            print(f"idle room: {arguments}")
    print(f"{args.instances} instances: {converged / args.instances:.1%} converged; worst gap to GLOP "
          f"{worst[False]:.2e} without the optional constraints, {worst[True]:.2e} with them; "
          f"most iterations {most_iterations}")


if __name__ == "__main__":
    main()
