"""The exact LP against an independent formulation and across OR-Tools backends."""
from __future__ import annotations

import numpy as np
import pytest
from ortools.linear_solver import pywraplp

from allocation import AllocationProblem, HappinessCurve, LPSolver, Status, invariants


def random_problem(seed: int, n_users: int = 25, n_items: int = 8, n_creators: int = 4, n_pairs: int = 90,
                   creator_weight: float = 3.0, kind: str = "log", constrained: bool = False) -> AllocationProblem:
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, size=min(n_pairs, n_users * n_items), replace=False)
    extra = {}
    if constrained:     # docs/DESIGN.md's optional constraints, tight enough to bind (own draws: same pairs)
        more = np.random.default_rng(seed + 10_000)
        extra = {"item_category": more.integers(0, 3, n_items), "user_category_cap": more.choice([0.5, 1.0, np.inf], n_users),
                 "creator_cap": np.where(more.random(n_creators) < 0.5, more.uniform(0.5, 3.0, n_creators), np.inf),
                 "exposure_budget": float(more.uniform(2.0, 8.0))}
    return AllocationProblem.from_arrays(
        curve=HappinessCurve(kind=kind, tau=5.0, n_segments=6),
        pair_user=pairs // n_items, pair_item=pairs % n_items,
        pair_value=rng.uniform(-0.2, 1.0, pairs.size), pair_like=rng.uniform(0.0, 0.4, pairs.size),
        user_availability=rng.uniform(0.0, 1.0, n_users), user_capacity=rng.integers(0, 4, n_users).astype(float),
        item_creator=rng.integers(0, n_creators, n_items), item_cap=rng.uniform(0.5, 6.0, n_items),
        item_floor=np.where(rng.random(n_items) < 0.5, rng.uniform(0.5, 3.0, n_items), 0.0),
        creator_base_likes=rng.choice([0.0, 2.0, 30.0, 3000.0], n_creators),
        creator_weight=creator_weight, floor_penalty=1.5, **extra,
    )


def epigraph_optimum(problem: AllocationProblem) -> float:
    """The same model written differently: per creator, a happiness variable t_c bounded above by
    every chord line of H (the hypograph of the concave piecewise-linear curve), no segments."""
    solver = pywraplp.Solver.CreateSolver("CLP")
    inf = solver.infinity()
    x = [solver.NumVar(0, 1, f"x{p}") for p in range(problem.n_pairs)]
    a = problem.pair_availability
    likes = {c: [] for c in range(problem.n_creators)}
    exposure = {i: [] for i in range(problem.n_items)}
    per_user = {u: [] for u in range(problem.n_users)}
    for p in range(problem.n_pairs):
        item = int(problem.pair_item[p])
        likes[int(problem.item_creator[item])].append(a[p] * problem.pair_like[p] * x[p])
        exposure[item].append(a[p] * x[p])
        per_user[int(problem.pair_user[p])].append(x[p])
    per_user_category: dict[tuple[int, int], list] = {}
    for p in range(problem.n_pairs):
        key = (int(problem.pair_user[p]), int(problem.item_category[problem.pair_item[p]]))
        per_user_category.setdefault(key, []).append(x[p])
    for u, terms in per_user.items():
        solver.Add(solver.Sum(terms) <= problem.user_capacity[u])
    for (u, _), terms in per_user_category.items():
        if np.isfinite(problem.user_category_cap[u]):
            solver.Add(solver.Sum(terms) <= problem.user_category_cap[u])
    for c in range(problem.n_creators):
        terms = [t for i in range(problem.n_items) if problem.item_creator[i] == c for t in exposure[i]]
        if terms and np.isfinite(problem.creator_cap[c]):
            solver.Add(solver.Sum(terms) <= problem.creator_cap[c])
    if np.isfinite(problem.exposure_budget):
        solver.Add(solver.Sum([t for terms in exposure.values() for t in terms]) <= problem.exposure_budget)
    shortfall = []
    for i, terms in exposure.items():
        solver.Add(solver.Sum(terms) <= problem.item_cap[i])
        s = solver.NumVar(0, inf, f"s{i}")
        solver.Add(solver.Sum(terms) + s >= problem.item_floor[i])
        shortfall.append(s)
    gains = []
    for c in range(problem.n_creators):
        t = solver.NumVar(-inf, inf, f"t{c}")
        z = solver.Sum(likes[c]) if likes[c] else 0.0
        start = 0.0
        widths, slopes = problem.segment_width[c], problem.segment_slope[c]
        level = 0.0  # chord k passes through (start_k, level_k) with slope_k
        for width, slope in zip(widths, slopes):
            solver.Add(t <= level + slope * (z - start))
            start, level = start + width, level + slope * width
        solver.Add(t <= level)  # flat beyond the last breakpoint: z cannot exceed it anyway
        gains.append(t)
    value = solver.Sum([a[p] * problem.pair_value[p] * x[p] for p in range(problem.n_pairs)])
    solver.Maximize(value + problem.creator_weight * solver.Sum(gains) - problem.floor_penalty * solver.Sum(shortfall))
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    return solver.Objective().Value()


@pytest.mark.parametrize("seed", range(12))
def test_lp_matches_independent_epigraph_formulation(seed):
    problem = random_problem(seed, kind=("log", "sqrt", "saturating")[seed % 3], constrained=seed % 2 == 1)
    result = LPSolver("GLOP").solve(problem)
    assert result.status is Status.OPTIMAL
    assert result.objective == pytest.approx(epigraph_optimum(problem), rel=1e-6, abs=1e-6)
    assert problem.max_violation(result.x) <= 1e-9


def test_optional_constraints_lower_the_optimum_and_hold():
    """The same instance with and without diversity caps, creator caps and a budget: the
    constrained optimum is lower (they bind), and its plan honours every one of them."""
    free = random_problem(3, n_users=80, n_items=20, n_pairs=900)
    limited = random_problem(3, n_users=80, n_items=20, n_pairs=900, constrained=True)
    assert np.array_equal(free.pair_value, limited.pair_value)
    unconstrained, constrained = LPSolver().solve(free), LPSolver().solve(limited)
    assert constrained.objective < unconstrained.objective - 1e-6
    assert limited.max_violation(constrained.x) <= 1e-9 < limited.max_violation(unconstrained.x)


@pytest.mark.parametrize("backend", ["CLP", "PDLP"])
def test_backends_agree(backend):
    problem = random_problem(7, n_users=60, n_items=15, n_pairs=400)
    reference = LPSolver("GLOP").solve(problem)
    other = LPSolver(backend).solve(problem)
    assert other.objective == pytest.approx(reference.objective, rel=1e-4)


def test_solution_is_feasible():
    problem = random_problem(3, n_users=80, n_items=20, n_pairs=900)
    result = LPSolver().solve(problem)
    exposure = problem.pair_expected_exposure(result.x)
    assert invariants.probability_range(result.x).success
    assert invariants.user_capacity(problem.pair_user, result.x, problem.user_capacity).success
    assert invariants.item_cap(problem.pair_item, exposure, problem.item_cap).success
    assert np.allclose(result.item_exposure, problem.item_exposure(result.x))
    # The reported objective is the chord objective; the exact-H re-score is at least as high.
    assert result.true_objective >= result.objective - 1e-9


def test_creator_term_prefers_the_small_creator():
    """Two identical items, one user slot: the creator with 3 likes gets it over the one with 30,000."""
    problem = AllocationProblem.from_arrays(
        curve=HappinessCurve("log", tau=10.0, n_segments=8),
        pair_user=[0, 0], pair_item=[0, 1], pair_value=[0.5, 0.5], pair_like=[0.3, 0.3],
        user_availability=[1.0], user_capacity=[1.0], item_creator=[0, 1], item_cap=[1.0, 1.0],
        item_floor=[0.0, 0.0], creator_base_likes=[30_000.0, 3.0], creator_weight=1.0, floor_penalty=0.0)
    result = LPSolver().solve(problem)
    assert result.x[1] == pytest.approx(1.0) and result.x[0] == pytest.approx(0.0)
    assert result.creator_marginal_value[1] > 100 * result.creator_marginal_value[0]
    # Without the creator term the tie is the solver's to break; with it, the small creator wins.
    assert result.creator_happiness_gain[1] > result.creator_happiness_gain[0]


def test_unreachable_floor_is_reported_as_slack():
    problem = AllocationProblem.from_arrays(
        curve=HappinessCurve(), pair_user=[0], pair_item=[0], pair_value=[1.0], pair_like=[0.1],
        user_availability=[0.5], user_capacity=[1.0], item_creator=[0, 0], item_cap=[10.0, 10.0],
        item_floor=[2.0, 3.0], creator_base_likes=[0.0], creator_weight=1.0, floor_penalty=1.0)
    result = LPSolver().solve(problem)
    assert result.x[0] == pytest.approx(1.0)
    assert result.item_floor_slack == pytest.approx([1.5, 3.0])  # item 1 has no candidates at all


def test_all_users_unavailable_gives_nothing():
    problem = random_problem(5)
    idle = AllocationProblem.from_arrays(
        curve=problem.curve, pair_user=problem.pair_user, pair_item=problem.pair_item,
        pair_value=problem.pair_value, pair_like=problem.pair_like,
        user_availability=np.zeros(problem.n_users), user_capacity=problem.user_capacity,
        item_creator=problem.item_creator, item_cap=problem.item_cap, item_floor=np.zeros(problem.n_items),
        creator_base_likes=problem.creator_base_likes, creator_weight=1.0, floor_penalty=1.0)
    result = LPSolver().solve(idle)
    assert result.objective == pytest.approx(0.0, abs=1e-9)
    assert np.allclose(result.item_exposure, 0.0)


def test_auto_keeps_the_lp_up_to_the_threshold_and_says_why():
    from allocation import choose_solver

    at, above = choose_solver("auto", 1_000, 1_000), choose_solver("auto", 1_001, 1_000)
    assert (at.name, above.name) == ("exact", "dual")
    assert "1,000 pairs, at most allocation.dual_above_pairs=1,000" in at.reason
    assert "1,001 pairs, above" in above.reason
    forced = choose_solver("dual", 10, 1_000)
    assert forced.name == "dual" and forced.reason == "allocation.solver=dual"
