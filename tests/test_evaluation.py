"""Policies and plan metrics on hand-computed examples (pure numpy + OR-Tools)."""
from __future__ import annotations

import numpy as np
import pytest

from allocation import AllocationProblem, HappinessCurve, LPSolver, metrics
from allocation.evaluation import Scoring, score_exposures, score_plan, user_value_kept
from allocation.policies import CREATOR_LINEAR, FAIRSHOT, USER_SIDE, linear_creator_side, run_policies, user_side_top_k


def small_problem(**changes):
    """Two users (capacity 1 and 2), three items by two creators; creator 1 is small (0 likes)."""
    arrays = dict(pair_user=[0, 0, 1, 1, 1], pair_item=[0, 1, 0, 1, 2],
                  pair_value=[1.0, 0.5, 0.9, 0.2, 0.1], pair_like=[0.2, 0.1, 0.2, 0.1, 0.4],
                  user_availability=[1.0, 0.5], user_capacity=[1.0, 2.0], item_creator=[0, 0, 1],
                  item_cap=[10.0, 10.0, 10.0], item_floor=[0.0, 0.0, 0.4], creator_base_likes=[100.0, 0.0],
                  creator_weight=1.0, floor_penalty=1.0)
    arrays.update(changes)
    return AllocationProblem.from_arrays(curve=HappinessCurve("log", tau=1.0, n_segments=4), **arrays)


def test_user_side_serves_each_user_their_top_k_by_value():
    problem = small_problem()
    # user 0 (k=1): item 0 (1.0) beats item 1 (0.5); user 1 (k=2): items 0 (0.9) and 1 (0.2), not 2 (0.1)
    assert user_side_top_k(problem).tolist() == [1.0, 0.0, 1.0, 1.0, 0.0]
    # a fractional capacity serves the next pair in part
    assert user_side_top_k(small_problem(user_capacity=[0.5, 1.5])).tolist() == [0.5, 0.0, 1.0, 0.5, 0.0]


def test_linear_creator_side_drops_happiness_and_floors():
    linear = linear_creator_side(small_problem())
    assert linear.creator_weight == 0.0 and linear.floor_penalty == 0.0 and not linear.item_floor.any()


def test_score_plan_by_hand():
    problem = small_problem()
    x = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    scoring = Scoring("hand", user_active=np.array([1.0, 0.0]), pair_seen_if_active=np.ones(5),
                      pair_value=np.array([2.0, 0, 3.0, 0, 5.0]), pair_like=np.array([0.5, 0, 0.5, 0, 0.5]),
                      pair_long_view=np.full(5, 0.25), pair_skip=np.full(5, 0.1))
    figures = score_plan(problem, x, scoring, is_new_item=np.array([False, True, True]),
                         is_new_creator=np.array([False, True]), reach_threshold=1.0)
    # Only user 0 is active: one exposure of item 0 (creator 0), value 2, half a like.
    assert figures["user_value"] == 2.0
    assert figures["expected_exposure"] == 1.0
    assert figures["expected_likes"] == 0.5
    assert figures["expected_long_views"] == 0.25
    assert figures["expected_skips"] == pytest.approx(0.1)
    assert figures["expo_reach"] == 0.0             # new items 1 and 2 got nothing
    assert figures["new_item_coverage"] == 0.0
    # creator 0's one exposure is liked with chance 0.5; creator 1 got nothing: 0.25 expected share
    assert figures["creators_with_like_share"] == pytest.approx(0.25)
    assert figures["new_creators_with_like_share"] == 0.0
    assert figures["happiness_gain"] == pytest.approx(np.log1p(100.5) - np.log1p(100.0))
    assert figures["exposure_gini"] == pytest.approx(2.0 / 3.0)  # one of three items holds everything
    assert figures["top1_share"] == 1.0
    assert figures["uac_hit_rate"] == pytest.approx(1.0 / 3.0)   # 1 of 3 allocated slots meets an active user


def test_a_feeds_exposures_of_other_items_count_for_users_not_for_the_plans_items():
    """A control feed also shows items the plan was not for (-1): they add to users' figures and
    leave the items' and creators' figures to the problem's items."""
    problem = small_problem()
    figures = score_exposures(problem, np.array([2, -1, -1, 2]), np.ones(4), value=np.array([1.0, 3.0, 3.0, 1.0]),
                              like=np.array([0.5, 0.9, 0.9, 0.5]), long_view=np.full(4, 0.5), skip=np.zeros(4),
                              is_new_item=np.array([False, True, True]), is_new_creator=np.array([False, True]),
                              reach_threshold=2.0)
    assert figures["user_value"] == 8.0 and figures["expected_exposure"] == 4.0
    assert figures["expected_likes"] == pytest.approx(2.8) and figures["expected_long_views"] == 2.0
    # item 2 (new, creator 1) got two exposures, each liked with chance 0.5; item 1 none
    assert figures["expo_reach"] == 1.0 and figures["new_item_coverage"] == 0.5
    assert figures["creators_with_like_share"] == pytest.approx(0.75 / 2)
    assert figures["new_creators_with_like_share"] == pytest.approx(0.75)
    assert figures["happiness_gain"] == pytest.approx(np.log1p(1.0))
    assert figures["top1_share"] == 1.0 and "uac_hit_rate" not in figures


def test_model_scoring_divides_out_user_availability():
    problem = small_problem(pair_availability=[1.0, 0.5, 0.5, 0.25, 0.5])
    scoring = Scoring.from_model(problem, long_view=np.zeros(5), skip=np.zeros(5))
    assert scoring.pair_seen_if_active.tolist() == [1.0, 0.5, 1.0, 0.5, 1.0]
    figures = score_plan(problem, np.ones(5), scoring, is_new_item=np.ones(3, bool),
                         is_new_creator=np.ones(2, bool), reach_threshold=1.0)
    assert figures["expected_exposure"] == pytest.approx(problem.item_exposure(np.ones(5)).sum())


def test_policies_order_as_the_model_says():
    """On the model's own estimates the baseline keeps the most user value, fairshot the most
    happiness; the sweep's happiness never falls as the creator weight rises."""
    rng = np.random.default_rng(7)
    n_users, n_items, n_pairs = 40, 12, 300
    pair_user = rng.integers(0, n_users, n_pairs)
    pair_item = rng.integers(0, n_items, n_pairs)
    keep = np.unique(pair_user * n_items + pair_item, return_index=True)[1]
    problem = AllocationProblem.from_arrays(
        curve=HappinessCurve("log", tau=5.0, n_segments=8), pair_user=pair_user[keep], pair_item=pair_item[keep],
        pair_value=rng.uniform(0, 1, keep.size), pair_like=rng.uniform(0, 0.3, keep.size),
        user_availability=rng.uniform(0.3, 1, n_users), user_capacity=rng.integers(1, 4, n_users).astype(float),
        item_creator=np.arange(n_items) % 5, item_cap=np.full(n_items, 8.0), item_floor=np.zeros(n_items),
        creator_base_likes=np.array([0.0, 1.0, 10.0, 100.0, 1000.0]), creator_weight=2.0, floor_penalty=0.0)
    plans = {p.policy: p for p in run_policies(problem, LPSolver(), sweep_weights=(0.0, 1.0, 4.0, 16.0))}
    scoring = Scoring.from_model(problem, np.zeros(problem.n_pairs), np.zeros(problem.n_pairs))
    score = {name: score_plan(problem, plan.x, scoring, is_new_item=np.ones(n_items, bool),
                              is_new_creator=np.ones(5, bool), reach_threshold=1.0) for name, plan in plans.items()}
    base = score[USER_SIDE]["user_value"]
    assert score[CREATOR_LINEAR]["user_value"] <= base + 1e-9   # caps can only cost value
    assert score[FAIRSHOT]["happiness_gain"] >= score[CREATOR_LINEAR]["happiness_gain"] - 1e-9
    sweep = [score[f"fairshot_w={w:g}"] for w in (0.0, 1.0, 4.0, 16.0)]
    gains = [s["happiness_gain"] for s in sweep]
    values = [s["user_value"] for s in sweep]
    assert all(b >= a - 1e-6 for a, b in zip(gains, gains[1:]))
    assert all(b <= a + 1e-6 for a, b in zip(values, values[1:]))
    assert user_value_kept(score[FAIRSHOT]["user_value"], base) <= 1.0 + 1e-9


def test_lorenz_curve_and_exposure_share_by_hand():
    share, held = metrics.lorenz_curve(np.array([3.0, 0.0, 1.0]))
    assert share.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert held.tolist() == pytest.approx([0, 0, 0.25, 1.0])
    assert metrics.active_exposure_share(np.array([0, 1, 1]), np.array([1.0, 0.5, 0.5]), np.array([1, 0])) == 0.5
    assert np.isnan(metrics.active_exposure_share(np.array([0]), np.array([0.0]), np.array([1])))


def test_calibration_bins_by_hand():
    bins = metrics.calibration_bins(np.array([0.05, 0.15, 0.12, 0.95]), np.array([0, 1, 0, 1]), bins=10)
    assert [b["bin"] for b in bins] == [0, 1, 9]
    assert bins[1]["n"] == 2 and bins[1]["mean_predicted"] == pytest.approx(0.135)
    assert bins[1]["observed_rate"] == 0.5


def test_a_variant_the_solver_fails_on_costs_one_row_not_the_comparison():
    """The real LP, asked to fail where a sweep weight makes it fail (here: a time limit of zero for
    one weight, as a solver that ends abnormally would): that variant comes back with its error."""
    from allocation.errors import SolverFailedError

    class FailsAtWeightFour(LPSolver):
        def solve(self, problem):
            if problem.creator_weight == 4.0:
                raise SolverFailedError("GLOP ended abnormal")
            return super().solve(problem)

    plans = run_policies(small_problem(), FailsAtWeightFour(), (1.0, 4.0, 8.0))
    by_name = {plan.policy: plan for plan in plans}
    assert by_name["fairshot_w=4"].x is None and "GLOP ended abnormal" in by_name["fairshot_w=4"].error
    assert all(plan.x is not None and plan.error == "" for name, plan in by_name.items() if name != "fairshot_w=4")
    assert {USER_SIDE, CREATOR_LINEAR, FAIRSHOT, "fairshot_w=1", "fairshot_w=8"} <= set(by_name)


@pytest.mark.parametrize("kind,tau", [("log", 10.0), ("saturating", 1.0), ("sqrt", 10.0)])
def test_creator_weight_in_median_pair_values(kind, tau):
    from allocation.happiness import HappinessCurve, creator_lambda

    curve = HappinessCurve(kind, tau)
    values = np.array([0.1, 0.4, 0.5, 2.0])
    lam = creator_lambda(3.0, curve, values)
    assert lam * (curve.value(np.array([1.0]))[0] - curve.value(np.array([0.0]))[0]) == pytest.approx(3.0 * 0.45)
    assert creator_lambda(0.0, curve, values) == 0.0
    # no positive value to compare with: one unit of user value stands in
    assert creator_lambda(2.0, curve, np.array([-0.2, -0.1])) == pytest.approx(2.0 / (curve.value(np.array([1.0]))[0]))


def test_sweep_weights_are_labelled_in_config_units_and_solved_at_their_lambda():
    seen = []

    class Recording(LPSolver):
        def solve(self, problem):
            seen.append(problem.creator_weight)
            return super().solve(problem)

    plans = run_policies(small_problem(), Recording(), (2.0,), weight=1.0, lambda_of=lambda w: 10.0 * w)
    by_name = {plan.policy: plan for plan in plans}
    assert by_name["fairshot"].creator_weight == 1.0 and by_name["fairshot_w=2"].creator_weight == 2.0
    assert seen[-1] == 20.0 and by_name[CREATOR_LINEAR].creator_weight == 0.0


def test_calibration_bins_of_equal_count_split_a_rare_outcome():
    p = np.r_[np.full(50, 0.01), np.full(50, 0.03)]
    y = np.r_[np.zeros(49), 1.0, np.zeros(47), np.ones(3)]
    assert len(metrics.calibration_bins(p, y, 10)) == 1              # equal widths: one bin holds it all
    points = metrics.calibration_bins(p, y, 2, equal="count")
    assert [pt["n"] for pt in points] == [50, 50]
    assert [pt["mean_predicted"] for pt in points] == pytest.approx([0.01, 0.03])
    assert [pt["observed_rate"] for pt in points] == pytest.approx([0.02, 0.06])


def test_the_sweep_point_at_the_configured_weight_is_fairshot_solved_once():
    """fairshot_w=<configured> is fairshot's own problem: one solve, the same plan under both names;
    the other sweep points are solved at their own lambda."""
    seen = []

    class Recording(LPSolver):
        def solve(self, problem):
            seen.append(problem.creator_weight)
            return super().solve(problem)

    problem = small_problem()
    plans = {p.policy: p for p in run_policies(problem, Recording(), (0.0, problem.creator_weight, 8.0))}
    assert seen.count(problem.creator_weight) == 1 and len(seen) == 4   # linear, fairshot, w=0, w=8
    same = plans[f"fairshot_w={problem.creator_weight:g}"]
    assert same.x is plans[FAIRSHOT].x and same.creator_weight == problem.creator_weight
    fresh = LPSolver().solve(problem).x
    np.testing.assert_allclose(same.x, fresh, atol=1e-9)


def test_a_policy_is_scored_with_the_like_means_not_the_optimism_it_was_planned_with():
    """from_model with like means: likes are the means, and the value moves by the like weight
    times the difference; everything else is the model's."""
    problem = small_problem()
    mean = problem.pair_like * 0.5
    optimistic = Scoring.from_model(problem, np.zeros(problem.n_pairs), np.zeros(problem.n_pairs))
    calibrated = Scoring.from_model(problem, np.zeros(problem.n_pairs), np.zeros(problem.n_pairs),
                                    like_mean=mean, like_weight=2.0)
    np.testing.assert_allclose(calibrated.pair_like, mean)
    np.testing.assert_allclose(calibrated.pair_value, problem.pair_value - 2.0 * (problem.pair_like - mean))
    np.testing.assert_allclose(calibrated.pair_seen_if_active, optimistic.pair_seen_if_active)
    x = LPSolver().solve(problem).x
    figures = {name: score_plan(problem, x, scoring, is_new_item=np.ones(3, bool), is_new_creator=np.ones(2, bool),
                                reach_threshold=1.0) for name, scoring in (("o", optimistic), ("c", calibrated))}
    assert figures["c"]["expected_likes"] == pytest.approx(figures["o"]["expected_likes"] * 0.5)
