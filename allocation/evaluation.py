"""Scoring a plan: what it does for users, for creators, and how well it aims at who will be there.

A plan is scored against a `Scoring`: the best available truth about the day it is for. On the
synthetic world that is the world's true outcome probabilities and who really came; on real logs
it is who came the next day, with the models' outcome estimates for pairs nobody was shown; with
nothing else, the model's own estimates. Scoring every policy against the same truth is what makes
the comparison fair: scored against its own estimates, a plan would flatter itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocation import metrics
from allocation.problem import AllocationProblem


@dataclass(frozen=True)
class Scoring:
    """Per user: chance (or 0/1 fact) of being active the day the plan is for. Per pair: chance a
    served pair is seen given the user is active (a live stream's window share; 1 for videos), and
    the outcome probabilities per exposure."""

    truth: str
    user_active: np.ndarray
    pair_seen_if_active: np.ndarray
    pair_value: np.ndarray
    pair_like: np.ndarray
    pair_long_view: np.ndarray
    pair_skip: np.ndarray

    @classmethod
    def from_model(cls, problem: AllocationProblem, long_view: np.ndarray, skip: np.ndarray,
                   like_mean: np.ndarray | None = None, like_weight: float = 0.0) -> Scoring:
        """The model's own view: availability a_u, and the estimated value and outcome rates.

        `like_mean`: the like estimates without new items' optimism. The optimiser bets with the
        optimistic ones (`problem.pair_like`); a policy is scored with the means, or the estimate
        grades its own bet (on KuaiRand that put likes at about ten times what was observed). The
        value moves with them by `like_weight` (allocation.value_weights.like)."""
        active = problem.user_availability
        user_a = active[problem.pair_user]
        seen = np.divide(problem.pair_availability, user_a, out=np.ones(problem.n_pairs), where=user_a > 0)
        like, value = problem.pair_like, problem.pair_value
        if like_mean is not None:
            like = np.asarray(like_mean, float)
            value = value_at_like_mean(value, problem.pair_like, like, like_weight)
        return cls("model estimates", active, np.clip(seen, 0.0, 1.0), value, like,
                   np.asarray(long_view, float), np.asarray(skip, float))


def value_at_like_mean(value: np.ndarray, like: np.ndarray, like_mean: np.ndarray, like_weight: float) -> np.ndarray:
    """A pair's user value with its like estimate moved from the optimistic p_like it was planned
    with to the calibrated mean it is scored with (`like_weight`: allocation.value_weights.like)."""
    return np.asarray(value, float) + like_weight * (np.asarray(like_mean, float) - np.asarray(like, float))


def score_plan(problem: AllocationProblem, x: np.ndarray, scoring: Scoring, *, is_new_item: np.ndarray,
               is_new_creator: np.ndarray, reach_threshold: float, user_share: float = 1.0) -> dict[str, float]:
    """The field's figures for plan x (DualRec's ExpoReach-E among them), under `scoring`'s truth.

    Exposure of a pair = x * P(user active) * P(seen | active); the rest is `score_exposures`."""
    x = np.asarray(x, dtype=float)
    exposure = x * scoring.user_active[problem.pair_user] * scoring.pair_seen_if_active
    figures = score_exposures(problem, problem.pair_item, exposure, value=scoring.pair_value, like=scoring.pair_like,
                              long_view=scoring.pair_long_view, skip=scoring.pair_skip, is_new_item=is_new_item,
                              is_new_creator=is_new_creator, reach_threshold=reach_threshold, user_share=user_share)
    figures["uac_hit_rate"] = metrics.active_exposure_share(problem.pair_user, x, scoring.user_active)
    return figures


def score_exposures(problem: AllocationProblem, item: np.ndarray, exposure: np.ndarray, *, value: np.ndarray,
                    like: np.ndarray, long_view: np.ndarray, skip: np.ndarray, is_new_item: np.ndarray,
                    is_new_creator: np.ndarray, reach_threshold: float, user_share: float = 1.0) -> dict[str, float]:
    """The figures of any set of exposures, a plan's or a feed's: `item` is each exposure's position
    among the problem's items, or -1 for an item the plan was not for (a feed also shows old items).

    Users' figures count every exposure; items' and creators' figures count the problem's items
    only, so a feed and a plan are measured on the same items. Likes, long views and skips are
    exposures times their rates; creator happiness gain is H(L0 + likes) - H(L0), summed. The share
    of creators with a like is the expected share, each exposure's like an independent chance.

    `user_share` f < 1: the exposures are those of a random share f of the users (a problem from
    `assemble_problem(user_share=f)`), and the figures estimate the whole night's: totals divided
    by f, an item reached at f of the threshold, a creator's chance of no like raised to 1/f. The
    happiness gain needs nothing: the problem's curve and trailing likes are scaled already."""
    f = float(user_share)
    item = np.asarray(item, dtype=np.int64)
    exposure = np.asarray(exposure, dtype=float)
    likes = exposure * np.asarray(like, dtype=float)
    planned = item >= 0
    item_exposure = np.bincount(item[planned], weights=exposure[planned], minlength=problem.n_items)
    pair_creator = problem.item_creator[item[planned]]
    creator_likes = np.bincount(pair_creator, weights=likes[planned], minlength=problem.n_creators)
    liked = metrics.chance_of_at_least_one(likes[planned], pair_creator, problem.n_creators, repeat=1.0 / f)
    base = problem.creator_base_likes
    gain = problem.curve.value(base + creator_likes) - problem.curve.value(base)
    new_items = np.asarray(is_new_item, dtype=bool)
    new_creators = np.asarray(is_new_creator, dtype=bool)
    return {
        "user_value": float(np.dot(exposure, value)) / f,
        "expected_exposure": float(exposure.sum()) / f,
        "expected_likes": float(likes.sum()) / f,
        "expected_long_views": float(np.dot(exposure, long_view)) / f,
        "expected_skips": float(np.dot(exposure, skip)) / f,
        "expo_reach": float(metrics.reach_count(item_exposure[new_items], reach_threshold * f)),
        "new_item_coverage": metrics.share_at_least(item_exposure[new_items], f),
        "creators_with_like_share": float(liked.mean()) if liked.size else 0.0,
        "new_creators_with_like_share": float(liked[new_creators].mean()) if new_creators.any() else 0.0,
        "exposure_gini": metrics.gini(item_exposure),
        "top1_share": metrics.top_share(item_exposure, 0.01),
        "happiness_gain": float(gain.sum()),
    }


def item_exposure_under(problem: AllocationProblem, x: np.ndarray, scoring: Scoring) -> np.ndarray:
    """Per-item expected exposure of plan x under `scoring`'s truth (for Lorenz curves)."""
    exposure = np.asarray(x, float) * scoring.user_active[problem.pair_user] * scoring.pair_seen_if_active
    return np.bincount(problem.pair_item, weights=exposure, minlength=problem.n_items)


def user_value_kept(value: float, baseline_value: float) -> float:
    """A policy's user value as a share of the user-side baseline's (1.0 = nothing lost)."""
    return float(value / baseline_value) if baseline_value > 0 else float("nan")


def replay(pair_of_exposure: np.ndarray, x: np.ndarray | None, outcomes: dict[str, np.ndarray]) -> dict[str, float]:
    """Replay on random exposures (exposures the logging feed did not choose: KuaiRand's `is_rand`):
    each one of a candidate pair counts with the policy's chance of showing that pair, x, so its
    observed outcomes estimate what the policy's own exposures would have got, without a model.
    `pair_of_exposure` is each exposure's pair position (-1: not a candidate pair, which no policy
    could show); `x` None scores the random exposures themselves (what serving at random gets).
    Returns matched exposures (sum of the weights) and per outcome the weighted rate with the half
    width of its normal 95% interval (the weighted mean's standard error x 1.96); NaN when nothing matched."""
    pair_of_exposure = np.asarray(pair_of_exposure, dtype=np.int64)
    if x is None:
        weight = np.ones(pair_of_exposure.size)
    else:
        matched = pair_of_exposure >= 0
        weight = np.where(matched, np.asarray(x, dtype=float)[np.where(matched, pair_of_exposure, 0)], 0.0)
    total = float(weight.sum())
    figures = {"replay_matched": total}
    for name, observed in outcomes.items():
        y = np.asarray(observed, dtype=float)
        if total <= 0:
            figures[f"replay_{name}_rate"] = figures[f"replay_{name}_ci"] = float("nan")
            continue
        rate = float(np.dot(weight, y) / total)
        figures[f"replay_{name}_rate"] = rate
        figures[f"replay_{name}_ci"] = float(1.96 * np.sqrt(np.dot(weight ** 2, (y - rate) ** 2)) / total)
    return figures
