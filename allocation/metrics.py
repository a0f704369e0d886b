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
