"""`allocation.dual.pairs`: the in-process pair side answers what the problem itself says."""
from __future__ import annotations

import numpy as np

from allocation.dual.pairs import LocalPairs
from allocation.dual.sides import Sides
from allocation.instances import realistic_problem
from tests.test_dual_solver import random_problem


def prices(problem, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.3, problem.n_items), rng.uniform(0, 2, problem.n_creators)


def test_evaluate_sums_are_the_problems_exposure_and_likes_of_the_regularised_plan():
    problem = random_problem(11, n_users=30, n_items=10, density=0.6, constrained=True)
    pairs = LocalPairs(problem, Sides.of(problem))
    item_price, nu = prices(problem, 1)
    gamma = 0.05
    sums, x = pairs.evaluate(item_price, nu, gamma)
    a = problem.pair_availability
    c = a * problem.pair_value + a * item_price[problem.pair_item] \
        + a * problem.pair_like * nu[problem.item_creator[problem.pair_item]]
    assert np.allclose(sums.exposure, problem.item_exposure(x))
    assert np.allclose(sums.likes, problem.creator_new_likes(x))
    assert np.isclose(sums.value, c @ x - 0.5 * gamma * x @ x)
    # the users' own limits hold in the regularised plan; the coupling rows are only priced
    assert np.all(np.bincount(problem.pair_user, weights=x, minlength=problem.n_users) <= problem.user_capacity + 1e-8)


def test_a_certificate_repairs_the_plan_bounds_it_and_narrows_the_working_set():
    problem = realistic_problem(20_000, seed=3, constrained=True)
    pairs = LocalPairs(problem, Sides.of(problem))
    item_price, nu = prices(problem, 2)
    gamma = 0.01
    _, plan = pairs.evaluate(item_price, nu, gamma)
    cert = pairs.certify(item_price, nu, gamma, plan, margin=0.05)
    assert problem.max_violation(pairs.repaired) <= 1e-9
    assert cert.user_excess <= 1e-9
    assert np.allclose(cert.exposure, problem.item_exposure(pairs.repaired))
    # the users' bound is above any feasible plan's dual-adjusted value, the repaired one included
    a = problem.pair_availability
    c = a * problem.pair_value + a * item_price[problem.pair_item] \
        + a * problem.pair_like * nu[problem.item_creator[problem.pair_item]]
    assert cert.users_bound >= c @ pairs.repaired - 1e-9
    # the working set: fewer pairs, the plan's among them, and evaluate now runs on them only
    assert cert.changed and pairs.index.size < problem.n_pairs
    assert set(np.flatnonzero(pairs.repaired > 0)) <= set(pairs.index)
    _, narrowed = pairs.evaluate(item_price, nu, gamma)
    assert np.asarray(narrowed).size == pairs.index.size


def test_after_its_first_pick_the_working_set_only_grows():
    """A set that followed each check's best pairs made the iteration chase another function every
    check; a growing one stops changing. Prices moving between checks must not drop a pair."""
    problem = realistic_problem(20_000, seed=3)
    pairs = LocalPairs(problem, Sides.of(problem))
    gamma, sets = 0.01, []
    for seed in range(4):
        item_price, nu = prices(problem, seed)
        _, plan = pairs.evaluate(item_price, nu, gamma)
        pairs.certify(item_price, nu, gamma, plan, margin=0.05)
        sets.append(set(pairs.index))
    assert len(sets[0]) < problem.n_pairs
    assert all(before <= after for before, after in zip(sets, sets[1:]))
    assert sets[-1] != sets[0]       # the prices moved enough to add pairs
