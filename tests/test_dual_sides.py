"""`allocation.dual.sides`: the item and creator side brings any exposure under every coupling limit."""
from __future__ import annotations

import numpy as np

from allocation.dual.sides import Sides, all_fitted


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


def test_additions_share_the_room_left_under_every_limit_and_item_room_says_how_much_there_is():
    rng = np.random.default_rng(2)
    for budget in (np.inf, 20.0, 6.0):
        side = sides(rng, budget=budget)
        exposure = side.exposure_shrink(rng.uniform(0, 2, side.n_items)) * rng.uniform(0.3, 1, side.n_items)
        assert side.exposure_excess(exposure) == 0.0
        added = rng.uniform(0, 3, side.n_items)
        factor = side.addition_shrink(exposure, added)
        assert np.all((factor >= 0) & (factor <= 1))
        assert side.exposure_excess(exposure + factor * added) <= 1e-12
        assert not all_fitted(factor, added)                            # 3 per item overflows some room
        tiny = added * np.where(side.item_room(exposure) > 0, 1e-6, 0.0)
        assert all_fitted(side.addition_shrink(exposure, tiny), tiny)   # a hair each fits everywhere
        room = side.item_room(exposure)
        assert np.all(room >= 0) and np.all(factor[room == 0] == 0)   # only items with room take any
        for item in rng.choice(side.n_items, 5):                        # each item alone fits its room
            alone = exposure.copy()
            alone[item] += room[item]
            assert side.exposure_excess(alone) <= 1e-9
        assert not side.item_room(side.item_cap.copy()).any()           # every item at its cap: no room
