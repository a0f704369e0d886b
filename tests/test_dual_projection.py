"""`allocation.dual.projection`: the per-user projection is feasible and is the projection."""
from __future__ import annotations

import numpy as np

from allocation.dual.projection import fill_rooms, project_capped_box, project_nested, scale_to_capacity, user_excess


def test_projection_keeps_capacities_exactly_and_is_a_projection():
    rng = np.random.default_rng(0)
    z = rng.normal(0.5, 2.0, 4000)
    users = np.sort(rng.integers(0, 300, 4000))
    capacity = rng.integers(0, 5, 300).astype(float)
    x, tau = project_capped_box(z, users, capacity)
    load = np.bincount(users, weights=x, minlength=300)
    assert np.all(load <= capacity + 1e-8) and np.all(tau >= 0)
    # KKT: a user with slack has tau = 0; a binding user's x is z shifted by its threshold
    slack = load < capacity - 1e-8
    assert np.all(tau[slack] == 0)
    assert np.allclose(x, np.clip(z - tau[users], 0, 1))


def test_grouped_projection_is_the_projection():
    """Category caps nested in user caps: x is feasible and no feasible point is closer to z, which
    for a convex set is <z - x, y - x> <= 0 for every feasible y."""
    rng = np.random.default_rng(1)
    n, n_users = 3000, 200
    z = rng.normal(0.4, 1.5, n)
    users = np.sort(rng.integers(0, n_users, n))
    group = users * 3 + rng.integers(0, 3, n)
    group_ids, group = np.unique(group, return_inverse=True)
    group_cap = rng.choice([0.5, 1.0, 2.0, np.inf], group_ids.size)
    capacity = rng.integers(0, 5, n_users).astype(float)
    x, _ = project_nested(z, users, capacity, group, group_cap)
    assert np.all(np.bincount(users, weights=x, minlength=n_users) <= capacity + 1e-8)
    assert np.all(np.bincount(group, weights=x, minlength=group_ids.size) <= group_cap + 1e-8)
    for _ in range(200):
        y = rng.random(n) * (rng.random(n) < 0.5)
        for owner, cap in ((group, group_cap), (users, capacity)):
            load = np.bincount(owner, weights=y, minlength=cap.size)
            y = y * np.minimum(1, np.divide(cap, load, out=np.ones_like(load), where=load > 0))[owner]
        assert float(np.dot(z - x, y - x)) <= 1e-7


def test_scaling_to_capacity_repairs_any_plan_and_user_excess_measures_what_it_repairs():
    rng = np.random.default_rng(2)
    n, n_users = 2000, 150
    users, capacity, group, group_cap = _users_in_two_categories(rng, n, n_users, max_capacity=3)
    plan = rng.normal(0.6, 0.8, n)                     # outside the box, over capacities
    assert user_excess(np.clip(plan, 0, 1), users, capacity, group, group_cap) > 0.5
    x = scale_to_capacity(plan, users, capacity, group, group_cap)
    assert np.all((x >= 0) & (x <= 1))
    assert user_excess(x, users, capacity, group, group_cap) <= 1e-12
    inside = np.clip(plan, 0, 1) * 1e-3                # already feasible: left as it is
    assert np.array_equal(scale_to_capacity(inside, users, capacity + 1.0), inside)


def test_the_refill_uses_the_room_left_best_score_first_and_never_passes_a_cap():
    """A feasible plan's idle room goes to eligible pairs in score order: after the refill a user (or
    category) with room left has no eligible pair below 1, and a pair passed over means every
    pair it lost to scores at least as high."""
    rng = np.random.default_rng(3)
    n, n_users = 3000, 200
    users, capacity, group, group_cap = _users_in_two_categories(rng, n, n_users, max_capacity=4)
    x = scale_to_capacity(rng.uniform(0, 1, n) * (rng.random(n) < 0.3), users, capacity, group, group_cap) * 0.5
    score, eligible = rng.normal(0, 1, n), rng.random(n) < 0.7
    want = np.where(eligible, rng.choice([1.0, 0.3], n), 0.0)      # some pairs may add only a little
    added = fill_rooms(x, score, want, users, capacity, group, group_cap)
    y = x + added
    assert np.all((added >= 0) & (added <= want) & (y <= 1))
    assert user_excess(y, users, capacity, group, group_cap) <= 1e-12
    user_room = capacity - np.bincount(users, weights=y, minlength=n_users)
    group_room = group_cap - np.bincount(group, weights=y, minlength=group_cap.size)
    open_pair = eligible & (y < 1 - 1e-9) & (added < want - 1e-9)
    assert not np.any(open_pair & (user_room[users] > 1e-9) & (group_room[group] > 1e-9))
    assert added.sum() > 1.0                           # the instance leaves room to fill
    # within a user and category: a pair left short never outscores one that took room
    for g in np.unique(group[added > 0]):
        took = (group == g) & (added > 0)
        short = (group == g) & open_pair & (added == 0)
        if short.any() and group_room[g] <= 1e-9:
            assert score[short].max() <= score[took].min() + 1e-12


def test_the_refill_from_the_pricings_ranked_pairs_is_the_refill_that_sorts_them_all():
    """Without category caps the refill may start from the check's pricing: each user's pairs above
    a floor, already sorted by score. It must add what sorting every wanted pair adds (ties kept in
    index order), whether the ranked pairs fill a user's room or leave some for the pairs below."""
    from allocation.dual.bound import capped_box_bound

    rng = np.random.default_rng(11)
    n, n_users = 4000, 300
    users = np.sort(rng.integers(0, n_users, n))
    capacity = rng.integers(0, 5, n_users).astype(float)
    x = scale_to_capacity(rng.uniform(0, 1, n) * (rng.random(n) < 0.3), users, capacity) * 0.5
    score = np.round(rng.normal(0, 1, n), 1)                       # ties, so their order matters
    want = np.where(rng.random(n) < 0.7, rng.choice([1.0, 0.3], n), 0.0)
    for floor in (np.full(n_users, -np.inf), rng.normal(0.5, 0.5, n_users)):   # all pairs ranked, or some
        ranked = capped_box_bound(score, users, capacity, floor).candidates
        assert ranked.size < n
        full = fill_rooms(x, score, want, users, capacity)
        fast = fill_rooms(x, score, want, users, capacity, ranked=ranked)
        np.testing.assert_allclose(fast, full, rtol=0, atol=1e-12)
        assert full.sum() > 1.0


def _users_in_two_categories(rng: np.random.Generator, n: int, n_users: int, max_capacity: int):
    """Sorted pairs of users, each user's pairs in two categories with caps of 0.5, 1 or none."""
    users = np.sort(rng.integers(0, n_users, n))
    group = np.unique(users * 2 + rng.integers(0, 2, n), return_inverse=True)[1]
    group_cap = rng.choice([0.5, 1.0, np.inf], group.max() + 1)
    capacity = rng.integers(0, max_capacity + 1, n_users).astype(float)
    return users, capacity, group, group_cap
