"""`allocation.dual.sides`: the item and creator side brings any exposure under every coupling limit."""
from __future__ import annotations

import numpy as np

from allocation.dual.sides import Sides


def sides(rng: np.random.Generator, n_items: int = 40, n_creators: int = 12, budget: float = np.inf) -> Sides:
    return Sides(item_cap=rng.uniform(0.5, 3, n_items), item_floor=np.zeros(n_items),
                 item_creator=rng.integers(0, n_creators, n_items), slope=np.ones((n_creators, 2)),
                 width=np.ones((n_creators, 2)), floor_penalty=1.0,
                 creator_cap=np.where(rng.random(n_creators) < 0.5, rng.uniform(0.5, 4, n_creators), np.inf),
                 budget=budget)


def test_the_shrink_meets_item_caps_creator_caps_and_the_budget_and_never_scales_up():
    rng = np.random.default_rng(0)
    for budget in (np.inf, 20.0, 3.0):
        side = sides(rng, budget=budget)
        exposure = rng.uniform(0, 6, side.n_items)
        assert side.exposure_excess(exposure) > 0
        factor = side.exposure_shrink(exposure)
        assert np.all((factor > 0) & (factor <= 1))
        assert side.exposure_excess(factor * exposure) == 0.0


def test_exposure_within_every_limit_is_left_alone():
    rng = np.random.default_rng(1)
    side = sides(rng, budget=1e6)
    exposure = side.item_cap * 1e-3
    assert side.exposure_excess(exposure) == 0.0
    assert np.allclose(side.exposure_shrink(exposure), 1.0, atol=1e-11)
