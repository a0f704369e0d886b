"""The Lagrangian bound over the users' boxes, and the pricing that picks the working set.

Every check certifies: at any prices, LP duality of the capped box gives an upper bound on what
the users' side can earn, and the same sort that makes it tight (each user's greedy fill) tells
which pairs are near a user's threshold, the ones the next iterations need to look at.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


def _depth(cap: np.ndarray) -> np.ndarray:
    """How many whole pairs a (possibly fractional, possibly infinite) cap can hold, rounded up."""
    return np.where(np.isfinite(cap), np.ceil(np.minimum(cap, 2**40) - 1e-12), 2**40).astype(np.int64)


def _ranks(owner: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort entries by (owner, score descending): (order, rank within owner in that order, counts)."""
    order = np.lexsort((-scores, owner))
    counts = np.bincount(owner, minlength=n)
    starts = np.cumsum(counts) - counts
    return order, np.arange(order.size) - starts[owner[order]], counts


def _fill_level(scores: np.ndarray, weights: np.ndarray, counts: np.ndarray, cap: np.ndarray,
                default: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per owner (entries sorted by owner, best first), the score at which its entries' weights,
    taken best first, fill `cap`: the greedy's marginal score; the best score where the cap is 0
    (nothing fits). Returns (level, which owners it was found for); `default` for the others."""
    starts = np.cumsum(counts) - counts
    filled = np.cumsum(weights)
    before = np.r_[0.0, filled][starts]
    finite = np.isfinite(cap)
    reach = np.where(finite, cap, 0.0)
    at = np.searchsorted(filled, before + reach * (1 - 1e-12) - 1e-12, side="left")
    out = default.astype(float, copy=True)
    fills = finite & (counts > 0) & (reach > 0) & (at < starts + counts)
    out[fills] = scores[at[fills]]
    nothing_fits = finite & (reach <= 0) & (counts > 0)
    out[nothing_fits] = scores[starts[nothing_fits]]
    return out, fills | nothing_fits


class UserPricing(NamedTuple):
    """`capped_box_bound`'s answer: the bound, each user's candidates best first (pair indices,
    scores, counts per user), and each user's level t_u where the candidates fill its capacity
    (`filled`; elsewhere t_u is the price floor)."""

    bound: float
    candidates: np.ndarray
    scores: np.ndarray
    counts: np.ndarray
    level: np.ndarray
    filled: np.ndarray


def capped_box_bound(c: np.ndarray, user: np.ndarray, capacity: np.ndarray,
                     price_floor: np.ndarray | None = None, group: np.ndarray | None = None,
                     group_cap: np.ndarray | None = None,
                     group_extra: int = 0) -> UserPricing:
    """An upper bound on max c.x over every user's capped box (and its category caps), by LP duality:
    sum_u k_u t_u + sum_g K_g s_g + sum_p max(c_p - t_u - s_g, 0) for any t, s >= 0.

    Tightest at the greedy's marginal scores: each group alone fills its cap K_g best first (a
    fractional cap takes part of its last pair), t_u is the score at which those fills reach k_u,
    and s_g is what the group's own marginal score exceeds t_u by. Only scores above `price_floor`
    (per user) are sorted; a user whose candidates do not fill k_u keeps t at the floor, which is
    valid, only looser. The candidates returned are, with groups, those within their group's best
    ceil(K_g) + `group_extra`: what a working set needs."""
    n_users = capacity.shape[0]
    floor = np.zeros(n_users) if price_floor is None else np.maximum(price_floor, 0.0)
    candidates = np.flatnonzero((c > 0) & (c > floor[user]))
    grouped = group is not None and group_cap is not None and np.isfinite(group_cap).any()
    if grouped:
        groups = group[candidates]
        order, rank, group_counts = _ranks(groups, c[candidates], group_cap.shape[0])
        group_level, _ = _fill_level(c[candidates][order], np.ones(order.size), group_counts, group_cap,
                                     np.zeros(group_cap.shape[0]))
        weight = np.empty(candidates.size)
        weight[order] = np.clip(group_cap[groups[order]] - rank, 0.0, 1.0)
        listed = np.zeros(candidates.size, dtype=bool)
        listed[order] = rank < _depth(group_cap)[groups[order]] + group_extra
        ranked, weight, working = candidates[weight > 0], weight[weight > 0], candidates[listed]
    else:
        ranked = working = candidates
        weight = np.ones(candidates.size)
    order, _, counts = _ranks(user[ranked], c[ranked], n_users)
    t, filled = _fill_level(c[ranked][order], weight[order], counts, capacity, floor)
    excess = c[candidates] - t[user[candidates]]
    bound = float(np.dot(capacity, t))
    if grouped:
        group_user = np.zeros(group_cap.shape[0], dtype=np.int64)
        group_user[group] = user
        group_price = np.maximum(group_level - t[group_user], 0.0)
        bound += float(np.dot(np.where(group_price > 0, group_cap, 0.0), group_price))
        excess = excess - group_price[group[candidates]]
    bound += float(np.sum(np.maximum(excess, 0.0)))
    if grouped:     # the working set lists more than the ranking used
        order, _, counts = _ranks(user[working], c[working], n_users)
    return UserPricing(bound, working[order], c[working][order], counts, t, filled)
