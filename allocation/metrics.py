"""Fairness and outcome metrics, defined once so that reports, evaluation and tests agree."""
from __future__ import annotations

import numpy as np


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative amounts (zeros included): 0 = equal, ->1 = one takes all."""
    v = np.sort(np.asarray(values, dtype=float))
    if v.size == 0 or v.sum() <= 0:
        return 0.0
    n = v.size
    ranks = np.arange(1, n + 1)
    return float((2.0 * np.dot(ranks, v)) / (n * v.sum()) - (n + 1.0) / n)


def top_share(values: np.ndarray, fraction: float = 0.01) -> float:
    """Share of the total held by the top `fraction` of entries (at least one entry)."""
    v = np.sort(np.asarray(values, dtype=float))[::-1]
    if v.size == 0 or v.sum() <= 0:
        return 0.0
    k = max(1, int(np.ceil(fraction * v.size)))
    return float(v[:k].sum() / v.sum())


def reach_count(exposure: np.ndarray, threshold: float) -> int:
    """ExpoReach-E: how many items reach at least `threshold` expected exposures."""
    return int(np.count_nonzero(np.asarray(exposure, dtype=float) >= threshold))


def share_at_least(values: np.ndarray, threshold: float) -> float:
    v = np.asarray(values, dtype=float)
    return float(np.mean(v >= threshold)) if v.size else 0.0


def chance_of_at_least_one(event_probability: np.ndarray, group: np.ndarray, n_groups: int,
                           repeat: float = 1.0) -> np.ndarray:
    """Per group, the chance that at least one of its independent events happens: 1 - prod(1 - p).
    For creators and likes this is what a creator experiences; a threshold on expected likes counts
    a creator with 0.99 expected likes as having none and one with 1.0 as sure of one. `repeat`:
    the events are a sample standing for `repeat` times as many like them (a share f of the users:
    repeat = 1/f), so the log of the chance of none is `repeat` times the sample's."""
    p = np.minimum(np.asarray(event_probability, dtype=float), 1.0 - 1e-12)
    return 1.0 - np.exp(repeat * np.bincount(np.asarray(group), weights=np.log1p(-p), minlength=n_groups))


def _clipped(p: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive outscores a random negative (ties 1/2)."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size)
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    p, y = _clipped(probabilities), np.asarray(labels, dtype=float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if p.size else float("nan")


def calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |mean prediction - observed rate| per equal-width bin, weighted."""
    p, y = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=float)
    if p.size == 0:
        return float("nan")
    index = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    gap = np.abs(np.bincount(index, weights=p, minlength=bins) - np.bincount(index, weights=y, minlength=bins))
    return float(gap.sum() / p.size) if count.sum() else float("nan")


def hit_rate(probabilities: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> float:
    """Of the users predicted available (p >= threshold), the share who really came."""
    p, y = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=float)
    chosen = p >= threshold
    return float(y[chosen].mean()) if chosen.any() else float("nan")


def lorenz_curve(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (share of entries, share of the total they hold), poorest first, from (0, 0) to (1, 1):
    the curve whose distance from the diagonal the Gini coefficient measures."""
    v = np.sort(np.clip(np.asarray(values, dtype=float), 0.0, None))
    population = np.linspace(0.0, 1.0, v.size + 1)
    total = v.sum()
    held = np.r_[0.0, np.cumsum(v) / total] if total > 0 else population.copy()
    return population, held


def active_exposure_share(pair_user: np.ndarray, x: np.ndarray, user_active: np.ndarray) -> float:
    """UAC hit rate of a plan: of the exposure it allocates (sum of x), the share that goes to users
    who are really active the day it is for. `user_active` may be 0/1 outcomes or true probabilities."""
    x = np.asarray(x, dtype=float)
    total = x.sum()
    if total <= 0:
        return float("nan")
    return float(np.dot(x, np.asarray(user_active, dtype=float)[np.asarray(pair_user, dtype=np.int64)]) / total)


def calibration_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10, *,
                     equal: str = "width") -> list[dict[str, float]]:
    """Per bin of predicted probability: count, mean prediction and observed rate (the points of a
    reliability diagram). Empty bins are left out. `equal="count"` cuts at quantiles instead of
    equal widths: a rare outcome's predictions (a like: ~1%) would all fall in one equal-width bin."""
    p, y = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=float)
    if equal == "count":
        index = (np.argsort(np.argsort(p, kind="stable"), kind="stable") * bins) // max(p.size, 1)
    else:
        index = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    predicted = np.bincount(index, weights=p, minlength=bins)
    observed = np.bincount(index, weights=y, minlength=bins)
    return [{"bin": b, "n": int(count[b]), "mean_predicted": float(predicted[b] / count[b]),
             "observed_rate": float(observed[b] / count[b])} for b in range(bins) if count[b]]
