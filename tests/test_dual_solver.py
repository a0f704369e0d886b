"""The dual-decomposition solver as a whole (`allocation.dual.optimizer`) against the exact LP:
certificates, feasibility, warm starts. Each piece has its own tests beside this one."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from allocation import AllocationProblem, HappinessCurve, LPSolver
from allocation.dual import Duals, DualSolver, Sides
from allocation.instances import audience_problem, realistic_problem

TOLERANCE = 1e-3


def random_problem(seed: int, *, n_users: int, n_items: int, density: float, unavailable: bool = False,
                   huge_floors: bool = False, empty_item: bool = False, constrained: bool = False) -> AllocationProblem:
    """`constrained` adds docs/DESIGN.md's optional constraints: diversity caps per user and category
    (integral and fractional), creator exposure caps and a global budget, each on for some rows."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    if empty_item:
        mask[:, 0] = False                     # an item nobody is a candidate for
    users, items = np.nonzero(mask)
    n_creators = max(1, n_items // 2)
    floors = np.where(rng.random(n_items) < 0.4, rng.uniform(1, 4, n_items), 0.0)
    extra = {}
    if constrained:
        extra = {"item_category": rng.integers(0, int(rng.integers(1, 4)), n_items),
                 "user_category_cap": rng.choice([0.5, 1.0, 2.0, np.inf], n_users),
                 "creator_cap": np.where(rng.random(n_creators) < 0.5, rng.uniform(0.2, 5, n_creators), np.inf),
                 "exposure_budget": float(rng.uniform(0.5, 10)) if rng.random() < 0.6 else np.inf}
    return AllocationProblem.from_arrays(
        curve=HappinessCurve("log", tau=float(rng.uniform(1, 20)), n_segments=int(rng.integers(1, 10))),
        pair_user=users, pair_item=items, pair_value=rng.normal(0.4, 0.4, users.size),
        pair_like=rng.uniform(0, 0.4, users.size),
        user_availability=np.zeros(n_users) if unavailable else rng.uniform(0.05, 1, n_users),
        user_capacity=rng.integers(0, 4, n_users).astype(float),
        item_creator=rng.integers(0, n_creators, n_items), item_cap=rng.uniform(0.5, 6, n_items),
        item_floor=floors * (50 if huge_floors else 1), creator_base_likes=rng.choice([0.0, 3.0, 300.0], n_creators),
        creator_weight=float(rng.uniform(0, 4)), floor_penalty=float(rng.uniform(0, 3)), **extra)


def assert_feasible(problem: AllocationProblem, x: np.ndarray) -> None:
    assert np.all((x >= 0) & (x <= 1))
    load = np.bincount(problem.pair_user, weights=x, minlength=problem.n_users)
    assert np.all(load <= problem.user_capacity + 1e-9)
    assert np.all(problem.item_exposure(x) <= problem.item_cap + 1e-9)
    assert problem.max_violation(x) <= 1e-9     # diversity, creator caps and budget too


def assert_no_idle_room(problem: AllocationProblem, x: np.ndarray) -> None:
    """No pair worth showing for itself is left short while its user and category have room and its
    item, creator and the budget have room too: the exact optimum would take it, so the repair must.
    (Within a hair: users competing for the last of an item's room share it pro rata.)"""
    hair = 1e-6
    user_room = problem.user_capacity - np.bincount(problem.pair_user, weights=x, minlength=problem.n_users)
    short = (problem.pair_availability * problem.pair_value > 0) & (x < 1 - hair) & (user_room[problem.pair_user] > hair)
    if problem.has_category_caps:
        group, group_cap = problem.pair_groups()
        short &= (group_cap - np.bincount(group, weights=x, minlength=group_cap.size))[group] > hair
    item_room = Sides.of(problem).item_room(problem.item_exposure(x))
    assert not np.any(short & (item_room[problem.pair_item] > hair))


def assert_no_floor_left_short(problem: AllocationProblem, x: np.ndarray) -> None:
    """No item is left short of its floor while a pair on it that earns the floor's penalty back
    (a v + a * penalty > 0) has room at its user, category, item, creator and budget: the exact
    optimum would show it, however little it is worth for itself (within a hair, as above)."""
    hair = 1e-6
    a = problem.pair_availability
    user_room = problem.user_capacity - np.bincount(problem.pair_user, weights=x, minlength=problem.n_users)
    short = (a * (problem.pair_value + problem.floor_penalty) > 0) & (x < 1 - hair) & (user_room[problem.pair_user] > hair)
    if problem.has_category_caps:
        group, group_cap = problem.pair_groups()
        short &= (group_cap - np.bincount(group, weights=x, minlength=group_cap.size))[group] > hair
    floor_room = Sides.of(problem).floor_room(problem.item_exposure(x))
    assert not np.any(short & (floor_room[problem.pair_item] > hair))


def assert_certified(problem: AllocationProblem, dual, exact, tolerance: float = TOLERANCE) -> None:
    """The dual bound is above the true optimum, the repaired primal below it, and within the gap."""
    scale = max(1.0, abs(exact.objective))
    assert dual.bound >= exact.objective - 1e-6 * scale        # the LP itself is solved to ~1e-7
    assert dual.objective <= exact.objective + 1e-6 * scale
    assert exact.objective - dual.objective <= tolerance * max(1.0, abs(dual.bound)) + 1e-9


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_users=st.integers(1, 25), n_items=st.integers(1, 12),
       density=st.floats(0.05, 1.0), unavailable=st.booleans(), huge_floors=st.booleans(), empty_item=st.booleans(),
       constrained=st.booleans())
# Found by this test: continuation judged stages by the certified bound, shrank the ridge too soon
# and stalled at a 0.4% gap after 20,000 iterations; the second sat at 0.8% against the 1% allowed.
# The third's bound was tight but its repaired plan 3.5% short: scaling down to the caps left a
# user's room idle where the duals' tie fell on a full creator (the refill fills it: 0.8%).
@example(seed=978, n_users=10, n_items=10, density=0.796875, unavailable=False, huge_floors=False,
         empty_item=False, constrained=False)
@example(seed=1563, n_users=10, n_items=5, density=0.49007803447301085, unavailable=False, huge_floors=False,
         empty_item=True, constrained=True)
@example(seed=2047, n_users=21, n_items=11, density=0.7463993876687249, unavailable=False, huge_floors=False,
         empty_item=False, constrained=True)
# Found by benchmarks/dual_accuracy.py: the optimum shows pairs of negative value of their own to
# lift an item to its floor; the refill gave room only to pairs worth showing for themselves, and
# the plan stopped 9.6% short at max_iterations (the floor rounds: converged, 0.08%).
@example(seed=9352, n_users=15, n_items=11, density=0.8997760664249238, unavailable=False, huge_floors=False,
         empty_item=False, constrained=True)
def test_dual_matches_exact_on_random_instances(seed, n_users, n_items, density, unavailable, huge_floors,
                                                 empty_item, constrained):
    problem = random_problem(seed, n_users=n_users, n_items=n_items, density=density,
                             unavailable=unavailable and seed % 5 == 0, huge_floors=huge_floors,
                             empty_item=empty_item, constrained=constrained)
    exact = LPSolver(backend="GLOP").solve(problem)   # CLP reports its objective ~1e-6 loose
    dual = DualSolver(gap_tolerance=TOLERANCE, max_iterations=5_000 if constrained else 20_000).solve(problem)
    assert_feasible(problem, dual.x)
    assert_no_idle_room(problem, dual.x)
    assert_no_floor_left_short(problem, dual.x)
    # the optional constraints too: since the repair's floor rounds, 5,000 swept instances
    # (benchmarks/dual_accuracy.py, five seeds) all converged to the gap
    assert dual.status.value == "converged"
    assert_certified(problem, dual, exact)
    # unmet floors are reported as slack, not as infeasibility
    assert np.all(dual.item_floor_slack >= 0)


def test_unmeetable_floors_are_slack_not_failure():
    base = random_problem(3, n_users=6, n_items=4, density=0.5)
    problem = dataclasses.replace(base, item_floor=np.full(base.n_items, 100.0), floor_penalty=1.0)
    dual = DualSolver(gap_tolerance=TOLERANCE).solve(problem)
    exact = LPSolver().solve(problem)
    assert dual.status.value == "converged" and np.all(dual.item_floor_slack > 90)
    assert_certified(problem, dual, exact)


def test_optional_constraints_bind_and_both_solvers_honour_them():
    """Diversity caps, creator caps and a budget tight enough to bind on a realistic instance:
    the dual stays within tolerance of the exact LP, whose optimum they lower."""
    free = realistic_problem(20_000, seed=6)
    limited = realistic_problem(20_000, seed=6, constrained=True)
    exact_free = LPSolver(backend="HIGHS_LP").solve(free)
    exact = LPSolver(backend="HIGHS_LP").solve(limited)
    dual = DualSolver(gap_tolerance=TOLERANCE).solve(limited)
    assert exact.objective < exact_free.objective - 1e-3 * abs(exact_free.objective)
    assert every_constraint_binds(limited, exact.x)
    assert limited.max_violation(exact_free.x) > 1e-3      # the free optimum breaks them
    assert_feasible(limited, exact.x)
    assert_feasible(limited, dual.x)
    assert_certified(limited, dual, exact)


def every_constraint_binds(problem: AllocationProblem, x: np.ndarray) -> bool:
    """Every optional constraint of the problem is tight (within 1e-6) somewhere in plan x."""
    group, cap = problem.pair_groups()
    per_group = np.bincount(group, weights=x, minlength=cap.size)
    return bool(np.any(per_group >= cap - 1e-6)
                and np.any(problem.creator_exposure(x) >= problem.creator_cap - 1e-6)
                and problem.item_exposure(x).sum() >= problem.exposure_budget - 1e-6)


def test_realistic_instance_is_certified_and_feasible():
    problem = realistic_problem(30_000, seed=4)
    exact = LPSolver(backend="HIGHS_LP").solve(problem)
    dual = DualSolver(gap_tolerance=TOLERANCE).solve(problem)
    assert_feasible(problem, dual.x)
    assert_certified(problem, dual, exact)
    assert dual.trace and all(b.gap <= a.gap + 1e-12 for a, b in zip(dual.trace, dual.trace[1:]))


def test_items_that_share_an_audience_are_solved_to_the_exact_optimum():
    """The affinity retriever's nights: groups of items share one audience and a user ranks a
    group's items alike. A working set that followed each check's best pairs cycled there (this
    instance: 3,000 iterations and 0.25% short; a 20,000-user night: 5,000 and 12% short)."""
    problem = audience_problem(20_000, seed=0)
    exact = LPSolver(backend="HIGHS_LP").solve(problem)
    dual = DualSolver(gap_tolerance=TOLERANCE, max_iterations=3000).solve(problem)
    assert dual.status.value == "converged"
    assert_feasible(problem, dual.x)
    assert_certified(problem, dual, exact)


def test_warm_start_from_the_previous_day_saves_iterations_and_never_worsens():
    today = realistic_problem(30_000, seed=5)
    yesterday = DualSolver(gap_tolerance=TOLERANCE).solve(today)
    cold = DualSolver(gap_tolerance=TOLERANCE).solve(today)
    warm = DualSolver(gap_tolerance=TOLERANCE).solve(today, warm_start=yesterday.duals)
    assert warm.status.value == "converged"
    assert warm.iterations <= cold.iterations
    assert warm.gap <= TOLERANCE and warm.objective >= cold.bound * (1 - TOLERANCE) - 1e-9


def test_warm_start_must_match_the_problem():
    problem = realistic_problem(2_000, seed=1)
    with pytest.raises(ValueError, match="warm-start"):
        DualSolver().solve(problem, warm_start=Duals.zeros(problem.n_items + 1, problem.n_creators))


def test_a_solve_stopped_by_the_clock_says_so_and_still_certifies():
    problem = realistic_problem(5_000, seed=2)
    stopped = DualSolver(gap_tolerance=1e-12, time_limit_seconds=0.0).solve(problem)
    exact = LPSolver().solve(problem)
    assert stopped.status.value == "time_limit" and stopped.iterations == stopped.trace[-1].iteration
    assert stopped.bound >= exact.objective - 1e-6 * max(1.0, abs(exact.objective)) >= stopped.objective - 1e-6
    assert_feasible(problem, stopped.x)
