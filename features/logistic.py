"""L2-regularised logistic regression on the driver: the ranking heads, their Platt maps and the
availability model (features.availability).

Spark ML's logistic regression ran one Spark job per L-BFGS iteration: about 150 jobs a night for
five heads, 300 with the backtest, for a dozen coefficients each. The training rows of a night are
few (a day's exposures, sampled above `candidates.heads_max_rows`), so they are collected once and
fitted here, with the same objective Spark ML minimises (mean log loss plus reg/2 times the squared
norm of the coefficients on standardised features, the intercept unpenalised) and solved to a
tighter tolerance than Spark's default. Rows are put in one canonical order before fitting, so the
fit is the same bits however Spark partitioned them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyspark.sql import Column
from pyspark.sql import functions as F
from scipy.optimize import minimize


@dataclass(frozen=True)
class LogisticModel:
    """P(y = 1 | x) = sigmoid(intercept + coefficients . (x - mean) / scale)."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coefficients: np.ndarray
    intercept: float
    n_rows: int

    def decision(self, x: np.ndarray) -> np.ndarray:
        return self.intercept + ((np.asarray(x, float) - self.mean) / self.scale) @ self.coefficients

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.decision(x)))


def canonical_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A row order that depends on the rows' values only (floating sums depend on the order)."""
    return np.lexsort((y, *x.T[::-1])) if x.size else np.arange(len(y))


def fit_logistic(x: np.ndarray, y: np.ndarray, *, features: tuple[str, ...], reg_param: float,
                 standardize: bool = True, max_iter: int = 500, tol: float = 1e-10) -> LogisticModel:
    """The penalised maximum-likelihood fit. A constant feature gets scale 1 and stays at
    coefficient 0 (its standardised value is 0 on every training row), as in Spark ML."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    order = canonical_order(x, y)
    x, y = x[order], y[order]
    n, d = x.shape
    if standardize:
        mean = x.mean(axis=0)
        std = x.std(axis=0, ddof=1) if n > 1 else np.zeros(d)
        scale = np.where(std > 0, std, 1.0)
    else:
        mean, scale = np.zeros(d), np.ones(d)
    z = (x - mean) / scale
    if standardize:
        z[:, std <= 0] = 0.0

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        margin = z @ w + b
        loss = np.mean(np.logaddexp(0.0, margin) - y * margin) + 0.5 * reg_param * (w @ w)
        residual = (1.0 / (1.0 + np.exp(-margin)) - y) / n
        return float(loss), np.r_[z.T @ residual + reg_param * w, residual.sum()]

    rate = min(max(y.mean(), 1e-6), 1 - 1e-6)
    start = np.r_[np.zeros(d), np.log(rate / (1 - rate))]   # the base rate: a good first point
    result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter, "gtol": tol, "ftol": tol * 1e-3})
    theta = result.x
    return LogisticModel(tuple(features), mean, scale, theta[:d].copy(), float(theta[d]), int(n))


def probability_column(model: LogisticModel) -> Column:
    """The model applied in Spark: one column expression over its features, so scoring a table
    needs no collect and no UDF (a feature whose coefficient is 0 is not read)."""
    margin = F.lit(float(model.intercept))
    for name, mean, scale, weight in zip(model.features, model.mean, model.scale, model.coefficients):
        if weight != 0.0:
            margin = margin + F.lit(float(weight / scale)) * (F.col(name) - F.lit(float(mean)))
    return F.lit(1.0) / (F.lit(1.0) + F.exp(-margin))
