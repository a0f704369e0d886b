"""The per-user projection: where each user's capacity (and category caps) stay local.

In DuaLip's terms this is the projection operator of the dual's inner problem: given dual-adjusted
scores z = c / gamma, the regularised plan is the Euclidean projection of z onto each user's capped
box {0 <= x <= 1, sum x <= k_u} (with per-user category caps nested inside). It is solved for all
users at once by a one-dimensional search on each user's threshold, never by a loop over users.
"""
from __future__ import annotations

import numpy as np

from allocation.dual.arrays import sum_by


def _thresholds(z: np.ndarray, owner: np.ndarray, capacity: np.ndarray, tau: np.ndarray | None,
                entry_floor: np.ndarray | None, tol: float, max_steps: int) -> np.ndarray:
    """Per owner, the smallest t >= 0 with sum_p clip(z_p - max(t, f_p), 0, 1) <= capacity, where
    f_p (`entry_floor`, default 0) is a threshold the entry already has from a nested group.

    The excess is piecewise linear and falling in t, so a Newton step lands on the root whenever
    the active set holds; where it would leave the bracket (or the function is flat there) an
    Illinois false-position step on the bracket takes over. Each step is one pass over the binding
    owners' positive entries; `tau` (the previous iterate's thresholds) warm-starts it."""
    n = capacity.shape[0]
    x = np.clip(z if entry_floor is None else z - entry_floor, 0.0, 1.0)
    load = sum_by(owner, x, n)
    binding = load > capacity + tol * np.maximum(1.0, capacity)
    if not binding.any():
        return np.zeros(n)
    # entries at or below their floor stay 0 for any t >= 0
    chosen = np.flatnonzero(binding[owner] & (z > (0.0 if entry_floor is None else entry_floor)))
    zs, us = z[chosen], owner[chosen]
    fs = None if entry_floor is None else entry_floor[chosen]
    cap = np.where(binding, capacity, 0.0)
    # Bracket [low, high] with excess(low) > 0 > excess(high): at t = 0 the owner is over capacity,
    # at t = the owner's largest z every entry is 0.
    low, f_low = np.zeros(n), np.where(binding, load - cap, 0.0)
    high = np.zeros(n)
    np.maximum.at(high, us, zs)                # each owner's own top: a tight bracket speeds false position
    f_high = -cap
    t = np.zeros(n) if tau is None else np.where(binding, np.clip(tau, 0.0, high), 0.0)
    side = np.zeros(n, dtype=np.int8)        # which end moved last (Illinois halving)
    pending = binding.copy()
    # When the ridge is small z is large, and the excess cannot be computed closer than a few ulps
    # of z: below that a search would only spin until max_steps.
    close_enough = tol * np.maximum(1.0, cap) + 64 * np.finfo(float).eps * high
    for _ in range(max_steps):
        tu = t[us]
        shifted = zs - (tu if fs is None else np.maximum(tu, fs))
        moving = (shifted > 0) & (shifted < 1) if fs is None else (shifted > 0) & (shifted < 1) & (tu >= fs)
        total = sum_by(us, np.clip(shifted, 0.0, 1.0), n)
        slope = sum_by(us, moving.astype(float), n)
        excess = np.where(pending, total - cap, 0.0)
        pending &= np.abs(excess) > close_enough
        if not pending.any():
            break
        above, below = pending & (excess > 0), pending & (excess < 0)
        low, f_low = np.where(above, t, low), np.where(above, excess, f_low)
        high, f_high = np.where(below, t, high), np.where(below, excess, f_high)
        f_low = np.where(below & (side == -1), 0.5 * f_low, f_low)    # the same end kept twice: halve it
        f_high = np.where(above & (side == 1), 0.5 * f_high, f_high)
        side = np.where(above, 1, np.where(below, -1, side)).astype(np.int8)
        newton = t + np.divide(excess, slope, out=np.full(n, np.nan), where=slope > 0)
        falsi = low + f_low * (high - low) / np.where(f_low - f_high > 0, f_low - f_high, 1.0)
        inside = np.isfinite(newton) & (newton > low) & (newton < high)
        t = np.where(pending, np.where(inside, newton, falsi), t)
        # Converged owners drop out: later steps pass over the pending owners' entries only.
        keep = pending[us]
        if keep.sum() < 0.7 * keep.size:
            zs, us = zs[keep], us[keep]
            fs = None if fs is None else fs[keep]
    return t


def project_capped_box(z: np.ndarray, pair_user: np.ndarray, capacity: np.ndarray,
                       tau: np.ndarray | None = None, tol: float = 1e-10,
                       max_steps: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean projection of z onto {0 <= x <= 1, sum_{p of u} x_p <= k_u} for every user u.

    Returns (x, tau) with x = clip(z - tau[user], 0, 1); `tau` warm-starts the search."""
    t = _thresholds(z, pair_user, capacity, tau, None, tol, max_steps)
    return np.clip(z - t[pair_user], 0.0, 1.0), t


def project_nested(z: np.ndarray, pair_user: np.ndarray, capacity: np.ndarray, group: np.ndarray,
                   group_cap: np.ndarray, tau: tuple[np.ndarray, np.ndarray] | None = None, tol: float = 1e-10,
                   max_steps: int = 60) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The projection with category caps too: sum_{p of g} x_p <= group_cap[g] for groups nested
    in users. Returns (x, (tau, s)) with x = clip(z - max(tau[user], s[group]), 0, 1).

    The nesting is what makes this two one-dimensional searches: by KKT a pair's total threshold
    is its user's price plus its group's, and that sum is max(tau_u, s_g) with s_g the threshold
    the group would need on its own."""
    user_tau, group_tau = (None, None) if tau is None else tau
    s = _thresholds(z, group, group_cap, group_tau, None, tol, max_steps)
    entry_floor = s[group]
    t = _thresholds(z, pair_user, capacity, user_tau, entry_floor, tol, max_steps)
    return np.clip(z - np.maximum(t[pair_user], entry_floor), 0.0, 1.0), (t, s)


def scale_to_capacity(x: np.ndarray, user: np.ndarray, capacity: np.ndarray, group: np.ndarray | None = None,
                      group_cap: np.ndarray | None = None) -> np.ndarray:
    """x clipped to [0, 1] and scaled down per group, then per user, until every cap holds exactly."""
    x = np.clip(x, 0.0, 1.0)
    for owner, cap in ((group, group_cap), (user, capacity)):
        if owner is None or cap is None:
            continue
        load = sum_by(owner, x, cap.shape[0])
        x = x * np.minimum(1.0, np.divide(cap, load, out=np.ones_like(load), where=load > 0))[owner]
    return x


def fill_rooms(x: np.ndarray, score: np.ndarray, want: np.ndarray, user: np.ndarray, capacity: np.ndarray,
               group: np.ndarray | None = None, group_cap: np.ndarray | None = None,
               ranked: np.ndarray | None = None) -> np.ndarray:
    """What a feasible plan x adds of `want` (per pair, at most 1 - x) within the room each user
    (and category) has left, best score first: the repair's second half. Scaling the smoothed plan
    down to the caps leaves room idle wherever the duals' tie between two pairs fell on one whose
    item or creator was full; the exact optimum fills it, and so must the repaired plan to certify.

    `ranked` (without category caps) is pairs already sorted by user and score, best first, holding
    for every user all its pairs that score above the ones left out: the check's pricing sorted
    them anyway. The users' pass then sorts only what their room still has space for after them.
    On a realistic 1M-pair night every user had idle room and 2/3 of the pairs were wanted, and
    sorting them all at every check cost 6 of the solve's 16 s."""
    owners = [(owner, np.maximum(cap - sum_by(owner, x, cap.shape[0]), 0.0))
              for owner, cap in ((group, group_cap), (user, capacity)) if owner is not None and cap is not None]
    wanted = want > 0
    for owner, room in owners:
        wanted &= room[owner] > 0
    if ranked is not None and group is None:
        return _fill_users_from_ranked(x, score, want, wanted, user, owners[0][1], ranked)
    at = np.flatnonzero(wanted)     # usually few: only the sort over them costs
    taken = np.minimum(want[at], 1.0 - np.clip(x[at], 0.0, 1.0))
    for owner, room in owners:
        taken = _best_first(taken, score[at], owner[at], room)
    added = np.zeros_like(x)
    added[at] = taken
    return added


def _fill_users_from_ranked(x: np.ndarray, score: np.ndarray, want: np.ndarray, wanted: np.ndarray,
                            user: np.ndarray, room: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """`fill_rooms`'s users' pass over `ranked` first, in its order, then best first over the
    wanted pairs it left out, for the users whose room is not yet full (the same plan: every pair
    of `ranked` outscores its user's others)."""
    added = np.zeros_like(x)
    first = ranked[wanted[ranked]]
    taken = _take_in_order(np.minimum(want[first], 1.0 - np.clip(x[first], 0.0, 1.0)), user[first], room)
    added[first] = taken
    left = np.maximum(room - sum_by(user[first], taken, room.shape[0]), 0.0)
    outside = wanted.copy()
    outside[ranked] = False
    rest = np.flatnonzero(outside & (left[user] > 0))
    if rest.size:
        added[rest] = _best_first(np.minimum(want[rest], 1.0 - np.clip(x[rest], 0.0, 1.0)), score[rest],
                                  user[rest], left)
    return added


def _best_first(want: np.ndarray, score: np.ndarray, owner: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Per owner, `want` taken in order of score until `room` is used (the last one in part)."""
    order = np.lexsort((-score, owner))
    taken = np.empty_like(want)
    taken[order] = _take_in_order(want[order], owner[order], room)
    return taken


def _take_in_order(want: np.ndarray, owner: np.ndarray, room: np.ndarray) -> np.ndarray:
    """`want` taken in the order given (grouped by owner) until each owner's `room` is used."""
    taken_before = np.cumsum(want) - want
    counts = np.bincount(owner, minlength=room.shape[0])
    owner_start = np.r_[0.0, np.cumsum(want)][np.cumsum(counts) - counts]
    taken = np.clip(room[owner] - (taken_before - owner_start[owner]), 0.0, want)
    load = sum_by(owner, taken, room.shape[0])      # the running sums round: never pass the room
    return taken * np.minimum(1.0, np.divide(room, load, out=np.ones_like(load), where=load > 0))[owner]


def user_excess(x: np.ndarray, user: np.ndarray, capacity: np.ndarray, group: np.ndarray | None = None,
                group_cap: np.ndarray | None = None) -> float:
    """The worst excess of a plan over a user's capacity or a category cap (0 when all hold)."""
    worst = float(np.max(sum_by(user, x, capacity.shape[0]) - capacity, initial=0.0))
    if group is not None and group_cap is not None:
        worst = max(worst, float(np.max(sum_by(group, x, group_cap.shape[0]) - group_cap, initial=0.0)))
    return worst
