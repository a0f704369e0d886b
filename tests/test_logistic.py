"""The driver-side logistic regression (features.logistic): the penalised optimum, order-free."""
from __future__ import annotations

import numpy as np
import pytest

from features.logistic import fit_logistic


def _data(n, seed, d=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, d)) * np.array([1.0, 3.0, 0.2, 10.0])[:d] + 5.0
    w = np.array([1.0, -0.5, 4.0, 0.05])[:d]
    margin = (x - 5.0) @ w - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-margin))).astype(float)
    return x, y, w


def test_the_fit_is_the_penalised_optimum():
    """At the returned point the objective's gradient vanishes: mean residual for the intercept,
    Z'r/n + reg w for the coefficients on standardised features."""
    x, y, _ = _data(3000, seed=1)
    reg = 0.02
    model = fit_logistic(x, y, features=("a", "b", "c", "d"), reg_param=reg)
    z = (x - model.mean) / model.scale
    residual = model.predict(x) - y
    assert abs(residual.mean()) < 1e-7
    np.testing.assert_allclose(z.T @ residual / len(y) + reg * model.coefficients, 0.0, atol=1e-7)
    np.testing.assert_allclose(model.mean, x.mean(axis=0))
    np.testing.assert_allclose(model.scale, x.std(axis=0, ddof=1))


def test_without_penalty_it_recovers_the_true_weights():
    x, y, w = _data(60_000, seed=2)
    model = fit_logistic(x, y, features=("a", "b", "c", "d"), reg_param=0.0, standardize=False)
    np.testing.assert_allclose(model.coefficients, w, rtol=0.1, atol=0.02)


def test_row_order_does_not_change_a_bit_and_a_constant_feature_weighs_nothing():
    x, y, _ = _data(2000, seed=3, d=3)
    x = np.c_[x, np.full(len(y), 7.0)]
    model = fit_logistic(x, y, features=("a", "b", "c", "k"), reg_param=0.01)
    shuffled = np.random.default_rng(4).permutation(len(y))
    again = fit_logistic(x[shuffled], y[shuffled], features=("a", "b", "c", "k"), reg_param=0.01)
    assert model.coefficients.tolist() == again.coefficients.tolist() and model.intercept == again.intercept
    assert model.coefficients[3] == 0.0 and model.scale[3] == 1.0
    assert model.predict(np.array([[5.0, 5.0, 5.0, 99.0]])) == pytest.approx(
        model.predict(np.array([[5.0, 5.0, 5.0, 7.0]])))
