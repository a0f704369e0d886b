"""`allocation.dual.bound`: the Lagrangian bound over the users' boxes against an exact LP."""
from __future__ import annotations

import numpy as np
import pytest
from ortools.linear_solver import pywraplp

from allocation.dual.bound import capped_box_bound


def boxes_optimum(c, user, capacity, group=None, group_cap=None) -> float:
    """max c.x over 0 <= x <= 1, sum over a user's pairs <= k_u (and over a group's <= K_g), by GLOP."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    x = [solver.NumVar(0.0, 1.0, "") for _ in c]
    owners = [(user, capacity)] + ([(group, group_cap)] if group is not None else [])
    for owner, cap in owners:
        for o in np.unique(owner):
            if np.isfinite(cap[o]):
                solver.Add(sum(x[p] for p in np.flatnonzero(owner == o)) <= float(cap[o]))
    solver.Maximize(sum(float(c[p]) * x[p] for p in range(len(c))))
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    return solver.Objective().Value()


def instance(seed: int, grouped: bool):
    rng = np.random.default_rng(seed)
    n, n_users = 300, 25
    user = np.sort(rng.integers(0, n_users, n))
    capacity = rng.choice([0.0, 1.0, 2.5, 4.0], n_users)
    c = rng.normal(0.1, 1.0, n)
    if not grouped:
        return c, user, capacity, None, None
    group = np.unique(user * 3 + rng.integers(0, 3, n), return_inverse=True)[1]
    return c, user, capacity, group, rng.choice([0.5, 1.0, 2.0, np.inf], group.max() + 1)


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_the_bound_is_the_optimum_at_the_greedy_levels_and_valid_from_any_floor(seed, grouped):
    c, user, capacity, group, group_cap = instance(seed, grouped)
    optimum = boxes_optimum(c, user, capacity, group, group_cap)
    tight = capped_box_bound(c, user, capacity, group=group, group_cap=group_cap)
    assert tight.bound == pytest.approx(optimum, rel=1e-7, abs=1e-7)
    # pricing from a floor only sorts what lies above it: looser, never below the optimum
    floor = np.random.default_rng(seed).uniform(-1, 1.5, capacity.size)
    assert capped_box_bound(c, user, capacity, floor, group, group_cap).bound >= optimum - 1e-7


def test_the_working_set_lists_each_users_best_candidates_first():
    c, user, capacity, _, _ = instance(7, grouped=False)
    pricing = capped_box_bound(c, user, capacity)
    starts = np.cumsum(pricing.counts) - pricing.counts
    for u in np.flatnonzero(pricing.counts):
        listed = pricing.candidates[starts[u]:starts[u] + pricing.counts[u]]
        assert np.all(user[listed] == u)
        assert np.all(np.diff(c[listed]) <= 0)
        assert set(listed) == set(np.flatnonzero((user == u) & (c > 0)))
