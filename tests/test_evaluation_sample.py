"""Evaluating a night from a sample of its users: the sample's problem, solved, is the whole
night's problem in miniature, and its figures estimate the night's.

The check that can tell: a night made of k identical cohorts of users. Its optimum serves every
cohort alike, so one cohort with everything per item and per creator scaled by 1/k (caps, floors,
trailing likes, the happiness scale, lambda) must reach exactly 1/k of the night's objective, and
its figures, scaled back, must be the night's.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from allocation import LPSolver
from allocation.evaluation import Scoring, score_plan
from jobs.steps.allocate.problem import assemble_problem
from tests.conftest import copied_world, make_config

K = 3


def _night(cohorts: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """`cohorts` copies of one cohort of users (ids cohort * 1000 + u), over the same items."""
    rng = np.random.default_rng(seed)
    n_users, n_items, n_creators = 12, 9, 4
    item_creator = np.array([1, 1, 1, 2, 2, 3, 3, 4, 4])
    pairs = [(u, i) for u in range(n_users) for i in range(n_items) if rng.random() < 0.6]
    user, item = np.array(pairs).T
    value, like = rng.uniform(-0.1, 1.0, user.size), rng.uniform(0.01, 0.3, user.size)
    p_active, slots = rng.uniform(0.3, 1.0, n_users), rng.integers(1, 4, n_users).astype(float)
    candidates, availability = [], []
    for c in range(cohorts):
        ids = c * 1000 + user + 1
        candidates.append(pd.DataFrame({"user_id": ids, "item_id": item + 1, "creator_id": item_creator[item],
                                        "p_like": like, "p_available": p_active[user], "user_value": value}))
        availability.append(pd.DataFrame({"user_id": c * 1000 + np.arange(n_users) + 1, "p_active": p_active,
                                          "slot_capacity": slots}))
    eligible = pd.DataFrame({"item_id": np.arange(n_items) + 1, "creator_id": item_creator,
                             "category": ["a", "b", "c"] * 3, "is_new": [True, False, True] * 3,
                             "plan_stage": "stage 1", "stage_remaining": np.nan, "creator_item_rank": 9})
    creators = pd.DataFrame({"creator_id": np.arange(n_creators) + 1, "trailing_likes": [0.0, 3.0, 40.0, 900.0],
                             "is_new_creator": [True, True, False, False]})
    return pd.concat(candidates), pd.concat(availability), eligible, creators


def _figures(frames, result) -> dict[str, float]:
    problem = frames.problem
    like = problem.pair_like
    scoring = Scoring("model estimates", problem.user_availability, np.ones(problem.n_pairs), problem.pair_value,
                      like, like, like)
    return score_plan(problem, result.x, scoring, is_new_item=frames.items["is_new"].to_numpy(bool),
                      is_new_creator=frames.creators["is_new_creator"].to_numpy(bool), reach_threshold=2.0,
                      user_share=frames.user_share)


@pytest.mark.parametrize("kind", ["log", "saturating"])
def test_one_cohort_scaled_to_its_share_is_the_night_in_miniature(tmp_path, kind):
    config = make_config(str(tmp_path), f"allocation.happiness={kind}", "allocation.happiness_tau=2.0",
                         "allocation.creator_weight=5.0", "allocation.new_item_floor=3.0",
                         "allocation.item_cap=6.0")
    night = assemble_problem(config, *_night(K))
    candidates, availability, eligible, creators = _night(1)
    cohort = assemble_problem(config, candidates, availability, eligible, creators, user_share=1 / K)
    unscaled = assemble_problem(config, candidates, availability, eligible, creators)
    solver = LPSolver()
    whole, part, plain = solver.solve(night.problem), solver.solve(cohort.problem), solver.solve(unscaled.problem)
    assert part.objective * K == pytest.approx(whole.objective, rel=1e-6)
    # without the scaling the cohort is a different problem: its caps, floors and likes bind elsewhere
    assert plain.objective * K != pytest.approx(whole.objective, rel=1e-3)
    # The night's optimum is not unique (the LP may serve cohorts differently at equal objective);
    # serving every cohort as the sample was served is one of them, and under it the night's figures
    # are what the sample's estimate says.
    tiled = np.concatenate([part.x] * K)          # the night's pairs are sorted by user: cohort by cohort
    night_figures, estimate = _figures(night, dataclasses.replace(whole, x=tiled)), _figures(cohort, part)
    for name in ("user_value", "expected_likes", "expected_exposure", "creators_with_like_share",
                 "new_item_coverage", "expo_reach", "happiness_gain"):
        assert estimate[name] == pytest.approx(night_figures[name], rel=1e-6, abs=1e-9), name


def test_a_share_outside_zero_to_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="user_share"):
        assemble_problem(make_config(str(tmp_path)), *_night(1), user_share=0.0)


def test_a_night_above_max_pairs_is_evaluated_on_a_seeded_sample_of_its_users(spark, published_world, tmp_path):
    """Through Spark and the real warehouse: above evaluation.max_pairs only a seeded share of the
    users' pairs reaches the driver, every policy and the world's feed are scored on it, and the
    figures are scaled to the night (so they stay near the whole night's, totals included)."""
    from jobs.steps import allocate, evaluate
    from jobs.steps.allocate.spark_problem import count_pairs
    from jobs.warehouse import io
    from tests.conftest import PIPELINE_DAYS

    ds = PIPELINE_DAYS[-1]
    n_pairs = count_pairs(published_world, ds, spark)
    config = copied_world(published_world, tmp_path / "warehouse", f"evaluation.max_pairs={n_pairs // 2}")

    whole = allocate.load_problem(config, ds, spark)
    sample = allocate.load_problem(config, ds, spark, user_share=0.5)
    again = allocate.load_problem(config, ds, spark, user_share=0.5)
    assert sample.users["user_id"].tolist() == again.users["user_id"].tolist()        # seeded, not random
    kept = whole.pairs["user_id"].isin(sample.users["user_id"])
    pd.testing.assert_frame_equal(whole.pairs[kept].reset_index(drop=True), sample.pairs)
    assert sample.user_share == pytest.approx(len(sample.users) / len(whole.users))
    assert 0.3 < sample.user_share < 0.7

    full = io.read_table(spark, published_world, "audit.policy_evaluation", ds=ds).toPandas().set_index("policy")
    evaluate.run(config, ds, spark)
    estimated = io.read_table(spark, config, "audit.policy_evaluation", ds=ds).toPandas().set_index("policy")
    assert set(estimated.index) == set(full.index) and "world_feed" in estimated.index
    assert (full["user_share"] == 1.0).all()
    assert 0.3 < estimated["user_share"].iloc[0] < 0.7 and estimated["user_share"].nunique() == 1
    for policy in ("world_feed", "user_side", "fairshot"):
        for column in ("user_value", "expected_likes", "expected_exposure"):   # totals, scaled back
            assert estimated.loc[policy, column] == pytest.approx(full.loc[policy, column], rel=0.3), (policy, column)
        for column in ("new_item_coverage", "creators_with_like_share"):
            assert estimated.loc[policy, column] == pytest.approx(full.loc[policy, column], abs=0.15), (policy, column)


def test_an_items_cap_is_what_is_left_of_its_stage_and_a_creators_first_items_get_a_larger_floor(tmp_path):
    from jobs.steps.allocate.problem import plan_items

    config = make_config(str(tmp_path), "allocation.item_cap=50", "allocation.new_item_floor=5",
                         "allocation.first_items=1", "allocation.first_item_floor_factor=2.0")
    eligible = pd.DataFrame({"item_id": [3, 1, 2], "creator_id": [7, 7, 8], "category": "a", "is_new": True,
                             "plan_stage": ["stage 2", "stage 1", "new"], "stage_remaining": [4.0, 80.0, np.nan],
                             "creator_item_rank": [2, 1, 1]})
    items = plan_items(config, eligible, pd.Series({1: 10, 3: 2})).set_index("item_id")
    assert items["cap"].to_dict() == {1: 50.0, 2: 50.0, 3: 4.0}          # the stage's 4 left bound item 3
    assert items["floor"].to_dict() == {1: 10.0, 2: 10.0, 3: 4.0}        # first items doubled; never above the cap
    assert items["n_candidates"].to_dict() == {1: 10, 2: 0, 3: 2}
