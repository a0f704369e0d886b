"""`allocation.dual.projection`: the per-user projection is feasible and is the projection."""
from __future__ import annotations

import numpy as np

from allocation.dual.projection import project_capped_box, project_nested, scale_to_capacity, user_excess


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
    users = np.sort(rng.integers(0, n_users, n))
    group = np.unique(users * 2 + rng.integers(0, 2, n), return_inverse=True)[1]
    group_cap = rng.choice([0.5, 1.0, np.inf], group.max() + 1)
    capacity = rng.integers(0, 4, n_users).astype(float)
    plan = rng.normal(0.6, 0.8, n)                     # outside the box, over capacities
    assert user_excess(np.clip(plan, 0, 1), users, capacity, group, group_cap) > 0.5
    x = scale_to_capacity(plan, users, capacity, group, group_cap)
    assert np.all((x >= 0) & (x <= 1))
    assert user_excess(x, users, capacity, group, group_cap) <= 1e-12
    inside = np.clip(plan, 0, 1) * 1e-3                # already feasible: left as it is
    assert np.array_equal(scale_to_capacity(inside, users, capacity + 1.0), inside)
