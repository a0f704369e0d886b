"""The smoothed dual function: its value and gradient at given prices, and the certificate of a check.

With a ridge gamma on x and on the creators' happiness segments y, the Lagrangian's maximisers are
closed-form (the users' projection, a clip per segment), so g(v) is smooth and its gradient is
each dualised row's slack at that maximiser. The iterate v stacks lam, mu, nu (items, items,
creators), then the creator-cap and budget prices divided by row scales d: a creator's exposure row
is the sum of its items' rows and the budget row the sum of all, so scaling them by 1/sqrt(their
item count) keeps each block's norm within the item rows' (||A||^2 grows by at most one such block
each) and lets one step size serve all blocks (a diagonal preconditioner).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocation.dual.arrays import sum_by
from allocation.dual.pairs import PairSide
from allocation.dual.sides import Sides
from allocation.problem import Duals


@dataclass(frozen=True)
class Check:
    """A check at some prices: the repaired plan's objective (`primal`), the Lagrangian bound, the
    plan's worst constraint violation, its exposure per item and likes per creator, and whether
    the pairs now iterate on another working set (the dual must then be evaluated again)."""

    primal: float
    bound: float
    violation: float
    exposure: np.ndarray
    likes: np.ndarray
    working_set_changed: bool


class DualObjective:
    """g(v) over the prices of one problem's coupling rows; holds O(items + creators)."""

    def __init__(self, sides: Sides, pairs: PairSide) -> None:
        self.sides, self.pairs = sides, pairs
        self.n_i, self.n_c = sides.n_items, sides.n_creators
        self.floored = sides.floored
        self.capped = np.isfinite(sides.creator_cap)
        self.creator_cap = np.where(self.capped, sides.creator_cap, 0.0)
        self.budgeted = bool(np.isfinite(sides.budget))
        self.budget = float(sides.budget) if self.budgeted else 0.0
        self.d_creator = 1.0 / np.sqrt(np.maximum(np.bincount(sides.item_creator, minlength=self.n_c), 1))
        self.d_budget = 1.0 / np.sqrt(max(self.n_i, 1))
        self.extra_blocks = int(self.capped.any()) + int(self.budgeted)

    # --- the iterate and the prices -----------------------------------------------------------
    def stack(self, d: Duals) -> np.ndarray:
        """The iterate of given prices (projected onto the dual domain)."""
        return self.project(np.concatenate([d.item_cap, d.item_floor, d.creator_likes, d.creator_cap / self.d_creator,
                                            [d.budget / self.d_budget]]))

    def _blocks(self, v: np.ndarray) -> tuple[np.ndarray, ...]:
        """The iterate's five blocks as stored (the last two scaled by d)."""
        n_i, n_c = self.n_i, self.n_c
        return (v[:n_i], v[n_i:2 * n_i], v[2 * n_i:2 * n_i + n_c], v[2 * n_i + n_c:2 * n_i + 2 * n_c], v[-1:])

    def _prices(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """The prices (lam, mu, nu, rho, beta) at iterate v, unscaled."""
        lam, mu, nu, rho, beta = self._blocks(v)
        return lam, mu, nu, rho * self.d_creator, float(beta[0]) * self.d_budget

    def duals(self, v: np.ndarray) -> Duals:
        lam, mu, nu, rho, beta = self._prices(v)
        return Duals(lam.copy(), mu.copy(), nu.copy(), rho.copy(), beta)

    def project(self, v: np.ndarray) -> np.ndarray:
        """v onto the dual domain: prices >= 0, floor prices within [0, floor penalty] on floored
        items, and 0 where a row does not exist (no floor, no creator cap, no budget)."""
        lam, mu, nu, rho, beta = self._blocks(v)
        mu = np.where(self.floored, np.clip(mu, 0.0, self.sides.floor_penalty), 0.0)
        return np.concatenate([np.maximum(lam, 0.0), mu, np.maximum(nu, 0.0),
                               np.where(self.capped, np.maximum(rho, 0.0), 0.0),
                               np.maximum(beta, 0.0) if self.budgeted else np.zeros(1)])

    def _item_price(self, lam: np.ndarray, mu: np.ndarray, rho: np.ndarray, beta: float) -> np.ndarray:
        """What one unit of an item's expected exposure earns or costs at these prices."""
        return mu - lam - rho[self.sides.item_creator] - beta

    def _limits_value(self, lam: np.ndarray, mu: np.ndarray, rho: np.ndarray, beta: float) -> float:
        """The dual's constant terms: each price times its constraint's right-hand side."""
        return (float(np.dot(lam, self.sides.item_cap)) - float(np.dot(mu, self.sides.item_floor))
                + float(np.dot(rho, self.creator_cap)) + beta * self.budget)

    # --- the dual function ---------------------------------------------------------------------
    def value_and_gradient(self, v: np.ndarray, gamma: float) -> tuple[float, np.ndarray, object]:
        """(g(v), its gradient, the regularised plan at v as the pairs hold it)."""
        lam, mu, nu, rho, beta = self._prices(v)
        sums, plan = self.pairs.evaluate(self._item_price(lam, mu, rho, beta), nu, gamma)
        margin = self.sides.slope - nu[:, None]
        y = np.clip(margin / gamma, 0.0, self.sides.width)
        value = (sums.value + float(np.sum(margin * y)) - 0.5 * gamma * float(np.sum(y * y))
                 + self._limits_value(lam, mu, rho, beta))
        creator_exposure = sum_by(self.sides.item_creator, sums.exposure, self.n_c)
        gradient = np.concatenate([self.sides.item_cap - sums.exposure,
                                   np.where(self.floored, sums.exposure - self.sides.item_floor, 0.0),
                                   sums.likes - y.sum(axis=1),
                                   np.where(self.capped, self.creator_cap - creator_exposure, 0.0) * self.d_creator,
                                   [(self.budget - sums.exposure.sum()) * self.d_budget if self.budgeted else 0.0]])
        return value, gradient, plan

    # --- certificates --------------------------------------------------------------------------
    def check(self, v: np.ndarray, gamma: float, plan: object, margin: float) -> Check:
        """The repaired plan's objective and the Lagrangian of the unregularised chord LP at v: an
        upper bound for any duals in their domain, so every check certifies. `margin` is how far
        below each user's last threshold the pricing looks for the next working set."""
        lam, mu, nu, rho, beta = self._prices(v)
        cert = self.pairs.certify(self._item_price(lam, mu, rho, beta), nu, gamma, plan, margin)
        creators = float(np.sum(self.sides.width * np.maximum(self.sides.slope - nu[:, None], 0.0)))
        bound = cert.users_bound + creators + self._limits_value(lam, mu, rho, beta)
        before = np.cumsum(self.sides.width, axis=1) - self.sides.width
        filled = np.clip(cert.likes[:, None] - before, 0.0, self.sides.width)
        shortfall = np.maximum(self.sides.item_floor - cert.exposure, 0.0)
        primal = cert.value + float(np.sum(self.sides.slope * filled)) - self.sides.floor_penalty * float(shortfall.sum())
        violation = max(cert.user_excess, self.sides.exposure_excess(cert.exposure))
        return Check(primal, bound, violation, cert.exposure, cert.likes, cert.changed)
