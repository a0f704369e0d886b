"""Pure numpy pieces of the model: the happiness curve, problem validation, rounding, metrics."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from allocation import AllocationProblem, HappinessCurve, InvalidProblemError, metrics, systematic_rounding


@pytest.mark.parametrize("kind", ["log", "sqrt", "saturating"])
def test_happiness_is_concave_and_increasing(kind):
    curve = HappinessCurve(kind=kind, tau=10.0, n_segments=10)
    likes = np.linspace(0, 100, 201)  # saturating H is flat to float precision beyond ~35 tau
    values = curve.value(likes)
    assert np.all(np.diff(values) > 0)
    assert np.all(np.diff(values, 2) <= 1e-12)
    # The same 10 extra likes are worth more to a small creator than to a big one.
    small, big = curve.value(np.array([13.0, 3010.0])) - curve.value(np.array([3.0, 3000.0]))
    assert small > big


def test_segments_are_chords_below_the_curve():
    curve = HappinessCurve("log", tau=10.0, n_segments=6)
    widths, slopes = curve.segments(np.array([0.0, 50.0]), np.array([40.0, 40.0]))
    assert widths.sum(axis=1) == pytest.approx([40.0, 40.0])
    assert np.all(np.diff(slopes, axis=1) <= 0)
    for creator, base in enumerate([0.0, 50.0]):
        ends = base + np.cumsum(widths[creator])
        piecewise = curve.value(np.array([base]))[0] + np.cumsum(widths[creator] * slopes[creator])
        assert piecewise == pytest.approx(curve.value(ends))  # chords meet the curve at breakpoints


def base_arrays(**changes):
    arrays = dict(pair_user=[0, 1], pair_item=[0, 0], pair_value=[1.0, 1.0], pair_like=[0.1, 0.2],
                  user_availability=[1.0, 0.5], user_capacity=[1.0, 1.0], item_creator=[0], item_cap=[2.0],
                  item_floor=[0.0], creator_base_likes=[0.0], creator_weight=1.0, floor_penalty=1.0)
    arrays.update(changes)
    return arrays


@pytest.mark.parametrize("change, message", [
    (dict(pair_like=[0.1, np.nan]), "non-finite"),
    (dict(pair_like=[0.1, 1.5]), "pair_like"),
    (dict(pair_item=[0, 3]), "outside"),
    (dict(user_capacity=[1.0]), "entries"),
    (dict(creator_weight=-1.0), "creator_weight"),
])
def test_invalid_problems_are_rejected(change, message):
    with pytest.raises(InvalidProblemError, match=message):
        AllocationProblem.from_arrays(curve=HappinessCurve(), **base_arrays(**change))


def test_non_concave_segments_are_rejected():
    arrays = {k: v for k, v in base_arrays().items()}
    with pytest.raises(InvalidProblemError, match="concave"):
        AllocationProblem(segment_width=np.array([[1.0, 1.0]]), segment_slope=np.array([[0.1, 0.2]]), **arrays)


def test_rounding_keeps_marginals_and_capacity():
    rng = np.random.default_rng(0)
    pair_user = np.repeat(np.arange(50), 6)
    x = rng.uniform(0, 1, pair_user.size)
    x = x / np.maximum(1.0, np.bincount(pair_user, weights=x)[pair_user] / 2.0)  # sum x <= 2 per user
    draws = np.array([systematic_rounding(pair_user, x, 50, seed) for seed in range(3000)])
    assert np.bincount(pair_user, weights=draws[0]).max() <= 2
    assert np.abs(draws.mean(axis=0) - x).max() < 0.04  # marginal of every pair is its x
    assert np.array_equal(systematic_rounding(pair_user, x, 50, 7), systematic_rounding(pair_user, x, 50, 7))


def test_rounding_keeps_category_caps_when_groups_are_laid_together():
    """Each user's pairs in 3 shuffled categories, x within a cap of 1 per category and 2 per user:
    laid out by group, no draw picks two of one category; laid out in input order, some do."""
    rng = np.random.default_rng(1)
    pair_user = np.repeat(np.arange(60), 6)
    group = pair_user * 3 + rng.permuted(np.tile([0, 0, 1, 1, 2, 2], 60).reshape(60, 6), axis=1).ravel()
    x = rng.uniform(0, 1, pair_user.size)
    x = x / np.maximum(1.0, np.bincount(group, weights=x)[group])                   # sum x <= 1 per category
    x = x / np.maximum(1.0, np.bincount(pair_user, weights=x)[pair_user] / 2.0)    # and <= 2 per user
    grouped = np.array([systematic_rounding(pair_user, x, 60, seed, pair_group=group) for seed in range(2000)])
    plain = np.array([systematic_rounding(pair_user, x, 60, seed) for seed in range(200)])
    per_group = lambda draw: np.bincount(group, weights=draw, minlength=180)  # noqa: E731
    assert max(per_group(d).max() for d in grouped) <= 1
    assert max(per_group(d).max() for d in plain) > 1
    assert max(np.bincount(pair_user, weights=d).max() for d in grouped) <= 2
    assert np.abs(grouped.mean(axis=0) - x).max() < 0.05


def test_metrics_on_hand_computed_examples():
    assert metrics.gini(np.array([1.0, 1.0, 1.0, 1.0])) == pytest.approx(0.0)
    assert metrics.gini(np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(0.75)
    assert metrics.gini(np.array([1.0, 3.0])) == pytest.approx(0.25)
    assert metrics.top_share(np.array([5.0] + [1.0] * 99), 0.01) == pytest.approx(5.0 / 104.0)
    assert metrics.reach_count(np.array([0.0, 2.0, 5.0, 10.0]), 5.0) == 2
    assert metrics.share_at_least(np.array([0.5, 1.0, 2.0, 0.0]), 1.0) == pytest.approx(0.5)
    # group 0: two half chances (0.75); group 1: a sure event (1); group 2: nothing (0)
    chance = metrics.chance_of_at_least_one(np.array([0.5, 0.5, 1.0]), np.array([0, 0, 1]), 3)
    assert chance == pytest.approx([0.75, 1.0, 0.0])


def test_allocation_package_imports_only_numpy_and_ortools():
    code = ("import sys, allocation, allocation.metrics, allocation.invariants; "
            "bad = [m for m in ('pyspark', 'pandas', 'deltalake', 'great_expectations', 'jobs', 'features') "
            "if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_replay_weighs_each_random_exposure_by_the_policys_chance_of_showing_its_pair():
    from allocation.evaluation import replay

    # four random exposures: pairs 0, 2, 2 and one no policy could show (-1)
    pair = np.array([0, 2, 2, -1])
    like = np.array([1.0, 0.0, 1.0, 1.0])
    x = np.array([0.5, 0.9, 0.25])
    figures = replay(pair, x, {"like": like})
    assert figures["replay_matched"] == pytest.approx(0.5 + 0.25 + 0.25)
    assert figures["replay_like_rate"] == pytest.approx((0.5 + 0.25) / 1.0)
    w, y = np.array([0.5, 0.25, 0.25]), np.array([1.0, 0.0, 1.0])
    assert figures["replay_like_ci"] == pytest.approx(1.96 * np.sqrt(np.sum(w ** 2 * (y - 0.75) ** 2)) / 1.0)
    # the random exposures themselves: every one counts once
    own = replay(pair, None, {"like": like})
    assert own["replay_matched"] == 4 and own["replay_like_rate"] == pytest.approx(0.75)
    # a policy that shows none of the exposed pairs matched nothing, and says so
    assert np.isnan(replay(pair, np.zeros(3), {"like": like})["replay_like_rate"])
