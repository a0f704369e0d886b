"""Concave creator happiness H(L) and its piecewise-linear approximation.

H turns a creator's likes into happiness. It is concave and increasing, so one more like is worth
more to a creator with 3 likes than to one with 30,000: that is what pulls exposure towards new and
small creators. The LP cannot hold H itself, so each creator's curve is cut into K linear
segments between its trailing likes L0 and the most likes it could possibly gain tomorrow; because
the segment slopes fall, an LP fills them in order and needs no integer variables.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from allocation.errors import InvalidProblemError

HappinessKind = Literal["log", "sqrt", "saturating"]
KINDS: tuple[str, ...] = ("log", "sqrt", "saturating")


@dataclass(frozen=True)
class HappinessCurve:
    """H(L) = log1p(L/tau) | sqrt(L/tau) | 1 - exp(-L/tau); tau sets the scale of 'many likes'."""

    kind: HappinessKind = "log"
    tau: float = 10.0
    n_segments: int = 8

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidProblemError(f"happiness kind {self.kind!r} is not one of {KINDS}")
        if not (np.isfinite(self.tau) and self.tau > 0):
            raise InvalidProblemError(f"happiness tau must be a positive number, got {self.tau}")
        if self.n_segments < 1:
            raise InvalidProblemError(f"happiness n_segments must be >= 1, got {self.n_segments}")

    def value(self, likes: np.ndarray) -> np.ndarray:
        z = np.asarray(likes, dtype=float) / self.tau
        if self.kind == "log":
            return np.log1p(z)
        if self.kind == "sqrt":
            return np.sqrt(z)
        return -np.expm1(-z)

    def derivative(self, likes: np.ndarray) -> np.ndarray:
        """dH/dL: the value of one more like. sqrt has an infinite slope at 0; cap it at 1/tau*1e3."""
        z = np.asarray(likes, dtype=float) / self.tau
        if self.kind == "log":
            return 1.0 / (self.tau * (1.0 + z))
        if self.kind == "sqrt":
            return 0.5 / (self.tau * np.sqrt(np.maximum(z, 1e-6)))
        return np.exp(-z) / self.tau

    def segments(self, base_likes: np.ndarray, max_extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Widths and slopes, shape (creators, K), of chords of H from L0 to L0 + max_extra.

        Breakpoints are spaced quadratically: the curve bends most near L0, where small creators
        live, so that is where the approximation needs its resolution.
        """
        base = np.asarray(base_likes, dtype=float)[:, None]
        extra = np.asarray(max_extra, dtype=float)[:, None]
        fractions = (np.arange(self.n_segments + 1, dtype=float) / self.n_segments) ** 2
        points = base + extra * fractions[None, :]
        widths = np.diff(points, axis=1)
        rises = np.diff(self.value(points), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            slopes = np.where(widths > 0, rises / np.where(widths > 0, widths, 1.0), 0.0)
        # A creator with nothing to gain has zero-width segments; give them the tangent slope so
        # the slopes stay non-increasing and the reported marginal value stays meaningful.
        tangent = self.derivative(base)[:, :1]
        slopes = np.where(widths > 0, slopes, tangent)
        slopes = np.minimum.accumulate(slopes, axis=1)  # exact chords fall already; guards rounding
        return widths, slopes


def creator_lambda(weight: float, curve: HappinessCurve, pair_value: np.ndarray) -> float:
    """The objective's lambda for a creator weight given in units a person can reason about:
    a creator with no likes values its first like at `weight` times the median candidate pair's
    user value. So lambda * (H(1) - H(0)) = weight * median(pair value)."""
    values = np.asarray(pair_value, dtype=float)
    return creator_lambda_at(weight, curve, float(np.median(values)) if values.size else 0.0)


def creator_lambda_at(weight: float, curve: HappinessCurve, median_pair_value: float) -> float:
    """`creator_lambda` from the median, for pairs that are summed where they are (Spark). With no
    positive pair value to compare against, one unit of user value stands in for the median."""
    first_like = float(curve.value(np.array([1.0]))[0] - curve.value(np.array([0.0]))[0])
    reference = median_pair_value if median_pair_value > 0 else 1.0
    return float(weight) * reference / first_like
