"""From fractional serving probabilities to an integral plan the feed can serve.

Systematic sampling per user: lay the user's x values end to end on a line and pick the points
u, u+1, u+2, ... for one seeded u in [0, 1). Because each x <= 1, a pair holds at most one point,
so it is picked with probability exactly x (marginals are kept), and the user gets floor or ceil of
sum x picks, never more than an integer capacity k_u >= sum x.
"""
from __future__ import annotations

import numpy as np


def systematic_rounding(pair_user: np.ndarray, x: np.ndarray, n_users: int, seed: int,
                        pair_group: np.ndarray | None = None, user_shift: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of selected pairs; deterministic for a seed and an input order.

    Each user's u comes from one generator seeded by `seed`, in user order; a plan rounded in
    pieces (Spark blocks) passes `user_shift` instead, one u per user from `user_offsets`, so the
    picks do not depend on how users were split.

    With `pair_group` (groups nested in users, e.g. a user's items of one category) each group's
    pairs are laid end to end, so a group whose x sums to at most an integer cap gets at most that
    many picks too: a stretch of length L holds floor or ceil of L points."""
    pair_user = np.asarray(pair_user, dtype=np.int64)
    x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
    group = np.zeros(x.size, dtype=np.int64) if pair_group is None else np.asarray(pair_group, dtype=np.int64)
    order = np.lexsort((np.arange(x.size), group, pair_user))
    users = pair_user[order]
    cumulative = np.cumsum(x[order])
    # Restart the running sum at each user's first pair.
    starts = np.r_[True, users[1:] != users[:-1]] if users.size else np.zeros(0, bool)
    offsets = np.maximum.accumulate(np.where(starts, np.r_[0.0, cumulative[:-1]], 0.0)) if users.size else cumulative
    upper = cumulative - offsets
    lower = upper - x[order]
    per_user = np.random.default_rng(seed).random(n_users) if user_shift is None else np.asarray(user_shift, float)
    shift = per_user[users]
    picked = (np.floor(upper - shift + 1e-12) - np.floor(lower - shift + 1e-12)) > 0
    selected = np.zeros(x.size, dtype=bool)
    selected[order] = picked
    return selected


def user_offsets(user_ids: np.ndarray, seed: int) -> np.ndarray:
    """One u in [0, 1) per user id, a function of (seed, id) alone: splitmix64 of the two, so any
    split of the users into blocks gives every user the same u."""
    with np.errstate(over="ignore"):
        z = np.asarray(user_ids, dtype=np.int64).astype(np.uint64) + np.uint64(seed & 0xFFFFFFFFFFFFFFFF) \
            * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(float) / float(1 << 53)
