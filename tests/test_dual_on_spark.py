"""The dual solver with its pairs on Spark (local[2], real executors) against the local mode."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from allocation import LPSolver
from allocation.dual import Duals, DualSolver, Sides
from allocation.instances import realistic_problem
from jobs.steps.allocate.dual_on_spark import pairs_frame, solve_on_spark

TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def problem():
    return realistic_problem(6_000, seed=11)


@pytest.fixture(scope="module")
def distributed(spark, tmp_path_factory, problem):
    """One cold solve on Spark (3 blocks over 2 cores), shared: each pass is a Spark job."""
    return solve_on_spark(spark, pairs_frame(spark, problem), Sides.of(problem), DualSolver(gap_tolerance=TOLERANCE),
                          str(tmp_path_factory.mktemp("dual-on-spark")), n_blocks=3)


def plan_as_array(result, problem) -> np.ndarray:
    """The Spark plan back on the problem's pair order (pairs are unique per user and item)."""
    plan = result.plan.toPandas()
    position = {(u, i): k for k, (u, i) in enumerate(zip(problem.pair_user.tolist(), problem.pair_item.tolist()))}
    x = np.zeros(problem.n_pairs)
    x[[position[(u, i)] for u, i in zip(plan["user_id"], plan["item"])]] = plan["x"].to_numpy()
    assert len(plan) == problem.n_pairs
    return x


def test_spark_mode_matches_local_mode_and_the_exact_optimum(problem, distributed):
    local = DualSolver(gap_tolerance=TOLERANCE).solve(problem)
    exact = LPSolver(backend="GLOP").solve(problem)
    outcome = distributed.outcome
    assert outcome.status.value == "converged" and outcome.gap <= TOLERANCE
    # both modes certify the same optimum: each primal within the gap of the exact LP, bounds above it
    scale = max(1.0, abs(exact.objective))
    for objective, bound in ((outcome.objective, outcome.bound), (local.objective, local.bound)):
        assert bound >= exact.objective - 1e-6 * scale
        assert exact.objective - objective <= TOLERANCE * scale
    assert abs(outcome.objective - local.objective) <= TOLERANCE * scale
    # the plan that comes back from the executors is the one certified, and it is strictly feasible
    x = plan_as_array(distributed, problem)
    assert problem.objective(x) == pytest.approx(outcome.objective, rel=1e-3)
    load = np.bincount(problem.pair_user, weights=x, minlength=problem.n_users)
    assert np.all(load <= problem.user_capacity + 1e-9)
    assert np.all(problem.item_exposure(x) <= problem.item_cap + 1e-9)
    np.testing.assert_allclose(problem.item_exposure(x), outcome.exposure, atol=1e-9)
    assert distributed.passes > outcome.iterations and distributed.seconds_per_pass > 0


def test_spark_mode_warm_start_never_worsens(spark, tmp_path, problem, distributed):
    settings = DualSolver(gap_tolerance=TOLERANCE)
    frame = pairs_frame(spark, problem)
    cold = distributed
    warm = solve_on_spark(spark, frame, Sides.of(problem), settings, str(tmp_path / "warm"),
                          warm_start=cold.outcome.duals)
    assert warm.outcome.gap <= TOLERANCE
    assert warm.outcome.iterations <= cold.outcome.iterations
    with pytest.raises(ValueError, match="warm-start"):
        solve_on_spark(spark, frame, Sides.of(problem), settings, str(tmp_path / "bad"),
                       warm_start=Duals.zeros(problem.n_items + 1, problem.n_creators))


def test_a_later_solve_in_the_same_workdir_sees_its_own_pairs(spark, tmp_path):
    """Python workers keep pair blocks in memory across tasks; a new solve must not reuse them."""
    settings = DualSolver(gap_tolerance=TOLERANCE)
    for seed, workdir in ((21, str(tmp_path)), (22, f"file://{tmp_path}")):   # a path, then the same as a URI
        small = realistic_problem(300, seed=seed)
        solved = solve_on_spark(spark, pairs_frame(spark, small), Sides.of(small), settings, workdir)
        exact = LPSolver(backend="GLOP").solve(small)
        assert solved.outcome.bound >= exact.objective - 1e-6 * max(1.0, abs(exact.objective))
        assert exact.objective - solved.outcome.objective <= TOLERANCE * max(1.0, abs(exact.objective))
        assert solved.plan.count() == small.n_pairs


def test_spark_mode_honours_the_optional_constraints(spark, tmp_path):
    """Diversity caps (on the executors, per user block), creator caps and a budget (on the
    driver, through the item prices), all binding: the same optimum as the exact LP, and a
    feasible plan."""
    capped = realistic_problem(1_500, seed=15, constrained=True)
    # a budget below what the caps alone leave, so that it binds too
    limited = dataclasses.replace(capped, exposure_budget=0.8 * float(LPSolver().solve(
        dataclasses.replace(capped, exposure_budget=np.inf)).item_exposure.sum()))
    # Warm-started from the local mode's duals, so that the test pays for a few dozen Spark jobs,
    # not a cold solve's thousand: the executors' bound and repaired plan must still certify.
    local = DualSolver(gap_tolerance=TOLERANCE).solve(limited)
    solved = solve_on_spark(spark, pairs_frame(spark, limited), Sides.of(limited), DualSolver(gap_tolerance=TOLERANCE),
                            str(tmp_path), n_blocks=2, warm_start=local.duals)
    exact = LPSolver(backend="GLOP").solve(limited)
    group, cap = limited.pair_groups()
    assert np.any(np.bincount(group, weights=exact.x, minlength=cap.size) >= cap - 1e-6)
    assert np.any(limited.creator_exposure(exact.x) >= limited.creator_cap - 1e-6)
    assert exact.item_exposure.sum() >= limited.exposure_budget - 1e-6
    scale = max(1.0, abs(exact.objective))
    assert solved.outcome.status.value == "converged"
    assert solved.outcome.bound >= exact.objective - 1e-6 * scale
    assert exact.objective - solved.outcome.objective <= TOLERANCE * scale
    assert limited.max_violation(plan_as_array(solved, limited)) <= 1e-9


def test_the_repair_lifts_floors_with_pairs_of_negative_value_on_spark_as_in_the_driver(spark, tmp_path):
    """The repair's floor rounds on the executors: at the same prices (none: every pair at its own
    value, so only pairs worth showing fill the users' room and several floors stay short) the
    executors' repaired plan is the driver's, and it leaves no floor short that a pair with room
    could lift, pairs of negative value included. The instance is the one whose optimum needs such
    pairs (the local mode's random test found it)."""
    from allocation.dual import LocalPairs
    from jobs.steps.allocate.dual_on_spark import SparkPairs, write_blocks
    from tests.test_dual_solver import assert_no_floor_left_short, random_problem

    floored = random_problem(9352, n_users=15, n_items=11, density=0.8997760664249238, constrained=True)
    sides = Sides.of(floored)
    no_price, no_like_price, gamma = np.zeros(floored.n_items), np.zeros(floored.n_creators), 1.0
    local = LocalPairs(floored, sides)
    _, x = local.evaluate(no_price, no_like_price, gamma)
    in_driver = local.certify(no_price, no_like_price, gamma, x, margin=0.0)
    root = f"{tmp_path}/blocks"
    write_blocks(pairs_frame(spark, floored), root, 2)
    rows = dict(spark.read.parquet(root).groupBy("block").count().collect())
    on_spark = SparkPairs(spark, root, tuple(int(rows.get(k, 0)) for k in range(2)), sides)
    certified = on_spark.certify(no_price, no_like_price, gamma, None, margin=0.0)
    on_spark.keep_best()
    planned = plan_as_array(SimpleNamespace(plan=on_spark.plan()), floored)
    np.testing.assert_allclose(certified.exposure, in_driver.exposure, atol=1e-9)
    np.testing.assert_allclose(planned, local.repaired, atol=1e-9)
    assert floored.max_violation(planned) <= 1e-9
    assert_no_floor_left_short(floored, planned)
    assert np.any((floored.pair_value < 0) & (planned > 0))     # a pair worth less than nothing lifts a floor


def test_a_block_an_executor_cannot_read_is_an_error_not_an_empty_block(spark, tmp_path):
    """On a cluster an executor that cannot see the blocks' folder must stop the solve: solving
    without those users' pairs would publish a plan for another problem."""
    import shutil

    from jobs.steps.allocate.dual_on_spark import PairBlockError, SparkPairs, write_blocks

    small = realistic_problem(300, seed=23)
    sides = Sides.of(small)
    zeros = (np.zeros(sides.n_items), np.zeros(sides.n_creators), 1.0)
    frame = pairs_frame(spark, small)
    sides_of = {}
    for name in ("whole", "lost"):          # two roots: the workers' block caches are keyed by the root
        root = str(tmp_path / name)
        write_blocks(frame, root, 3)
        written = dict(spark.read.parquet(root).groupBy("block").count().collect())
        sides_of[name] = (root, written, SparkPairs(spark, root, tuple(int(written.get(k, 0)) for k in range(3)), sides))
    assert sides_of["whole"][2].evaluate(*zeros)[0].exposure.sum() > 0
    root, written, lost = sides_of["lost"]
    shutil.rmtree(f"{root}/block={max(written)}")          # what an executor without the folder sees
    with pytest.raises(Exception, match="cannot be read on this executor") as raised:
        lost.evaluate(*zeros)
    assert PairBlockError.__name__ in str(raised.value)
