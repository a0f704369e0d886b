"""Seeded synthetic allocation problems shaped like production: heavy-tailed item audiences,
Zipf creators, a share of new items with floors, capacities 1-5 and a concave happiness curve.

The benchmarks time the solvers on these and the tests compare the solvers on small ones; keeping
the generator here (pure numpy) lets both use exactly the same instances.
"""
from __future__ import annotations

import numpy as np

from allocation.happiness import HappinessCurve
from allocation.problem import AllocationProblem


def realistic_problem(n_pairs: int, *, seed: int = 0, pairs_per_user: int = 50, new_item_share: float = 0.15,
                      n_segments: int = 12, creator_weight: float = 1.0, floor_penalty: float = 2.0,
                      item_cap: float = 50.0, new_item_floor: float = 5.0,
                      constrained: bool = False) -> AllocationProblem:
    """`constrained` adds docs/DESIGN.md's optional constraints, tight enough to bind, on the same pairs:
    8 categories with at most half a user's slots (at least 1) from one, no creator above 10% of the
    expected slots, and a budget of 60% of them."""
    rng = np.random.default_rng(seed)
    n_users = max(1, n_pairs // pairs_per_user)
    n_items = max(2, n_pairs // 100)
    n_creators = max(1, n_items // 4)
    # Items: Zipf creators, heavy-tailed audiences (how many candidate pairs each item gets).
    item_creator = np.minimum(rng.zipf(1.3, n_items) - 1, n_creators - 1)
    reach = rng.pareto(1.5, n_items) + 1.0
    pair_item = rng.choice(n_items, size=n_pairs, p=reach / reach.sum())
    pair_user = rng.integers(0, n_users, n_pairs)
    # one row per (user, item): duplicates would be two variables for one decision
    key = np.unique(pair_user.astype(np.int64) * n_items + pair_item)
    pair_user, pair_item = key // n_items, key % n_items
    n = key.size
    quality = rng.normal(0.0, 0.5, n_items)
    affinity = rng.normal(0.0, 0.7, n)
    p_like = 1.0 / (1.0 + np.exp(-(-3.0 + quality[pair_item] + affinity)))
    value = np.clip(0.3 + 0.4 * (quality[pair_item] + affinity) + rng.normal(0, 0.2, n), -0.5, None)
    is_new = rng.random(n_items) < new_item_share
    base_likes = np.where(rng.random(n_creators) < 0.3, 0.0, np.round(rng.pareto(1.2, n_creators) * 30))
    availability, capacity = rng.beta(2.0, 1.5, n_users), rng.integers(1, 6, n_users).astype(float)
    extra = {}
    if constrained:
        slots = float(np.dot(availability, capacity))
        extra = {"item_category": np.random.default_rng(seed + 1).integers(0, 8, n_items),
                 "user_category_cap": np.maximum(1.0, np.floor(0.5 * capacity)),
                 "creator_cap": np.full(n_creators, 0.1 * slots), "exposure_budget": 0.6 * slots}
    return AllocationProblem.from_arrays(
        curve=HappinessCurve("log", tau=10.0, n_segments=n_segments),
        pair_user=pair_user, pair_item=pair_item, pair_value=value, pair_like=p_like,
        user_availability=availability, user_capacity=capacity,
        item_creator=item_creator, item_cap=np.full(n_items, item_cap),
        item_floor=np.where(is_new, new_item_floor, 0.0), creator_base_likes=base_likes,
        creator_weight=creator_weight, floor_penalty=floor_penalty, **extra)


def audience_problem(n_pairs: int, *, seed: int = 0, n_categories: int = 12, users_per_item: int = 100,
                     items_per_audience: int = 20, wide_share: float = 0.2, wide_pool_factor: int = 4,
                     pairs_per_user: int = 22, creator_weight: float = 12.5, floor_penalty: float = 2.0,
                     item_cap: float = 50.0, new_item_floor: float = 5.0) -> AllocationProblem:
    """A night shaped like the affinity retriever's: new items of a category come in groups that
    share one audience (the group's window of the category's user ranking, tier 1 its best
    users, tier 2 a draw from further down), every item has a floor, like estimates are high and
    the creator term weighs as the nightly job sets it on the demo world at 20,000 users.
    `realistic_problem` scatters pairs at random, so items seldom share users; here twenty items
    want the same ones, and a user's best pairs shift as item prices move, which is what a
    working set must survive."""
    rng = np.random.default_rng(seed)
    n_items = max(2, n_pairs // users_per_item)
    n_users = max(users_per_item * wide_pool_factor, n_pairs // pairs_per_user)
    best = users_per_item - int(round(wide_share * users_per_item))
    ranking = np.argsort(rng.random((n_categories, n_users)), axis=1)      # each category's users, best first
    user_rank = np.empty_like(ranking)
    np.put_along_axis(user_rank, ranking, np.arange(n_users)[None, :], axis=1)
    item_category = rng.integers(0, n_categories, n_items)
    pair_user, pair_item = [], []
    for category in range(n_categories):
        items = np.flatnonzero(item_category == category)
        for position, item in enumerate(items):
            offset = (position // items_per_audience) * best
            window = ranking[category, offset:offset + users_per_item * wide_pool_factor]
            wide = rng.choice(window[best:], size=min(users_per_item - best, max(window.size - best, 0)), replace=False)
            users = np.concatenate([window[:best], wide])
            pair_user.append(users)
            pair_item.append(np.full(users.size, item))
    pair_user, pair_item = np.concatenate(pair_user), np.concatenate(pair_item)
    depth = user_rank[item_category[pair_item], pair_user] / n_users           # 0: the category's best user
    # a pair's estimates are the user's lift on the category times the item's rates, as
    # `score_candidates` makes them: one user ranks a group's items alike, one item its users alike
    lift = np.exp(-0.4 * depth)
    value = 1.3 * lift * np.exp(rng.normal(0.0, 0.15, n_items))[pair_item]
    p_like = np.minimum(1.0, 0.38 * lift * np.exp(rng.normal(0.0, 0.15, n_items))[pair_item])
    n_creators = max(1, int(0.75 * n_items))
    item_creator = np.where(np.arange(n_items) < n_creators, np.arange(n_items), rng.integers(0, n_creators, n_items))
    base_likes = np.where(rng.random(n_creators) < 0.2, 0.0, np.round(rng.pareto(0.8, n_creators) * 20))
    return AllocationProblem.from_arrays(
        curve=HappinessCurve("log", tau=10.0, n_segments=8),
        pair_user=pair_user, pair_item=pair_item, pair_value=value, pair_like=p_like,
        user_availability=rng.beta(3.0, 1.0, n_users), user_capacity=rng.choice([1.0, 2.0, 2.0, 3.0, 5.0], n_users),
        item_creator=item_creator, item_cap=np.full(n_items, item_cap), item_floor=np.full(n_items, new_item_floor),
        creator_base_likes=base_likes, creator_weight=creator_weight, floor_penalty=floor_penalty)
