"""The one array primitive every part of the dual solver shares."""
from __future__ import annotations

import numpy as np


def sum_by(index: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Per-group sums as floats (np.bincount returns ints for empty input)."""
    return np.bincount(index, weights=weights, minlength=n).astype(float, copy=False)
