"""`allocation.dual.objective`: the smoothed dual's gradient is its derivative, and checks certify."""
from __future__ import annotations

import numpy as np
import pytest

from allocation import LPSolver
from allocation.dual.objective import DualObjective
from allocation.dual.pairs import LocalPairs
from allocation.dual.sides import Sides
from tests.test_dual_solver import random_problem


def objective(seed: int) -> tuple[object, DualObjective, LocalPairs]:
    problem = random_problem(seed, n_users=25, n_items=8, density=0.7, constrained=True)
    sides = Sides.of(problem)
    pairs = LocalPairs(problem, sides, working_share=2.0)    # never a working set: g over all pairs
    return problem, DualObjective(sides, pairs), pairs


def interior_point(g: DualObjective, seed: int) -> np.ndarray:
    """Prices inside the dual domain, away from its faces (where g has no two-sided derivative)."""
    v = g.project(np.random.default_rng(seed).uniform(0.05, 0.5, 2 * g.n_i + 2 * g.n_c + 1))
    return np.where(v > 0, v, 0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_gradient_is_the_derivative_of_the_smoothed_dual(seed):
    _, g, _ = objective(seed)
    gamma = 0.2
    v = interior_point(g, seed)
    _, gradient, _ = g.value_and_gradient(v, gamma)
    h = 1e-6
    for k in np.flatnonzero(v > 0):
        up, down = v.copy(), v.copy()
        up[k] += h
        down[k] -= h
        numeric = (g.value_and_gradient(up, gamma)[0] - g.value_and_gradient(down, gamma)[0]) / (2 * h)
        assert numeric == pytest.approx(gradient[k], rel=1e-4, abs=1e-5), k


@pytest.mark.parametrize("seed", [3, 4])
def test_every_check_brackets_the_lp_optimum(seed):
    problem, g, _ = objective(seed)
    optimum = LPSolver().solve(problem).objective
    for gamma, point in ((0.5, 0), (0.05, 1), (0.005, 2)):
        check = g.check(interior_point(g, point), gamma, g.value_and_gradient(interior_point(g, point), gamma)[2],
                        margin=1.0)
        scale = max(1.0, abs(optimum))
        assert check.primal <= optimum + 1e-6 * scale <= check.bound + 2e-6 * scale
        assert check.violation <= 1e-9
