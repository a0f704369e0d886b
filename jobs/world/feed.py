"""The world's feed: a user-side ranker over every item on the shelf, and fairshot's share of it.

The control arm is what an ordinary feed does: each request gets the items it scores best, old and
new together, by the feed's own estimates (never the truth): the item's observed engagement rate,
smoothed towards the global rate; the user's profile (their share of engagements per category); the creator's
audience (popular creators' items are shown more, which is where new items starve); freshness.
Requests sample from that ranking without replacement (Gumbel top-k at a temperature), as real
feeds add exploration noise, and never repeat an item the user has seen.

The treatment arm is the same feed, except that up to `slot_share` of a user's requests are served
from fairshot's published plan for the day, in the plan's order; the feed fills the rest.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.world.dynamics import PAIR_KEY, Today, WorldState, stream

CHUNK_CELLS = 1 << 22   # user x shelf scores held at once (x ~5 arrays of 8 bytes): ~160 MB


@dataclass(frozen=True)
class FeedSettings:
    temperature: float          # softness of the ranking: larger spreads exposure further down the list
    interest_weight: float      # weight of log(the user's engagement share in the category, x categories)
    popularity_weight: float    # weight of log(1 + creator followers) in the score
    freshness_days: float       # the score falls by 1 for each of these days of age
    engagement_prior: float     # pseudo-exposures behind every observed engagement rate
    slot_share: float           # treatment: most of a user's requests served from fairshot's plan


@dataclass(frozen=True)
class Served:
    user: np.ndarray            # positions
    item: np.ndarray
    from_plan: np.ndarray       # bool: the slot was fairshot's


def plan_positions(feed_plan: pd.DataFrame | None) -> pd.DataFrame:
    """The published plan's selected pairs as (user, item) positions in the plan's per-user order."""
    if feed_plan is None or feed_plan.empty:
        return pd.DataFrame({"user": np.zeros(0, np.int64), "item": np.zeros(0, np.int64)})
    chosen = feed_plan[feed_plan["selected"]].sort_values(["user_id", "user_rank", "item_id"])
    return pd.DataFrame({"user": chosen["user_id"].to_numpy(np.int64) - 1,
                         "item": chosen["item_id"].to_numpy(np.int64) - 1})


def feed_scores(state: WorldState, users: np.ndarray, shelf: np.ndarray, settings: FeedSettings) -> np.ndarray:
    """Log-scores (users x shelf) by the feed's own counters."""
    m = settings.engagement_prior
    overall = max(state.item_engaged.sum(), 1.0) / max(state.item_exposures.sum(), 1.0)
    item_rate = (state.item_engaged[shelf] + m * overall) / (state.item_exposures[shelf] + m)
    engaged = state.user_category_engaged[users]
    n_k = engaged.shape[1]
    profile = (engaged + 1.0) / (engaged.sum(axis=1, keepdims=True) + n_k) * n_k   # 1 = no preference
    age = state.day - state.item_day[shelf]
    item_score = (np.log(item_rate) + settings.popularity_weight * np.log1p(state.followers[state.item_creator[shelf]])
                  - age / settings.freshness_days + np.where(state.is_live[shelf], np.log(3.0), 0.0))
    return settings.interest_weight * np.log(profile[:, state.item_category[shelf]]) + item_score[None, :]


def _sample_top(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of each row's `counts[row]` largest finite keys, best first."""
    if keys.size == 0 or counts.max(initial=0) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    width = int(min(counts.max(), keys.shape[1]))
    top = np.argpartition(-keys, width - 1, axis=1)[:, :width]
    order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    take = (np.arange(width)[None, :] < counts[:, None]) & np.isfinite(np.take_along_axis(keys, top, axis=1))
    rows = np.broadcast_to(np.arange(keys.shape[0])[:, None], top.shape)
    return rows[take], top[take]


def serve(state: WorldState, today: Today, settings: FeedSettings, plan: pd.DataFrame | None,
          chunk_cells: int = CHUNK_CELLS) -> Served:
    """Every request of the day. `plan` (positions, from `plan_positions`) is None in the control arm.

    Users are scored a block at a time (about `chunk_cells` user x shelf scores each), in order and
    from one noise stream, so the feed's memory does not grow with users x shelf and the slots it
    fills are the same whatever the block size."""
    shelf = state.shelf(today.day)
    users, requests = today.users, today.requests
    if shelf.size == 0 or users.size == 0:
        empty = np.zeros(0, np.int64)
        return Served(empty, empty, np.zeros(0, bool))
    plan_rows, plan_cols = _plan_cells(state, users, shelf, plan)
    noise = stream(state.seed, today.day, "feed")
    step = max(1, int(chunk_cells) // shelf.size)
    parts = [_serve_block(state, settings, users, shelf, requests, plan_rows, plan_cols, noise, start,
                          min(users.size, start + step)) for start in range(0, users.size, step)]
    row, col, from_plan = (np.concatenate(column) for column in zip(*parts))
    return Served(users[row], shelf[col], from_plan)


def _plan_cells(state: WorldState, users: np.ndarray, shelf: np.ndarray,
                plan: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """The plan's pairs as (row of `users`, column of `shelf`), in the plan's order; pairs of users
    not served today or items off the shelf are dropped."""
    if plan is None or not len(plan):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    row_of = np.full(state.n_users, -1, np.int64)
    row_of[users] = np.arange(users.size)
    col_of = np.full(state.n_items, -1, np.int64)
    col_of[shelf] = np.arange(shelf.size)
    items = plan["item"].to_numpy()
    rows = row_of[plan["user"].to_numpy()]
    cols = np.where(items < state.n_items, col_of[np.minimum(items, state.n_items - 1)], -1)
    usable = (rows >= 0) & (cols >= 0)
    return rows[usable], cols[usable]


def _in_sorted(values: np.ndarray, sorted_unique: np.ndarray) -> np.ndarray:
    """np.isin against a sorted, unique array, by binary search: isin sorts both sides on every
    call, which, once per block against every pair ever served, was most of a large world's feed."""
    if sorted_unique.size == 0:
        return np.zeros(values.shape, bool)
    at = np.minimum(np.searchsorted(sorted_unique, values), sorted_unique.size - 1)
    return sorted_unique[at] == values


def _serve_block(state: WorldState, settings: FeedSettings, users: np.ndarray, shelf: np.ndarray,
                 requests: np.ndarray, plan_rows: np.ndarray, plan_cols: np.ndarray,
                 noise: np.random.Generator, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, from the plan) of the slots of users[start:stop], sorted by row then column."""
    block = users[start:stop]
    keys = feed_scores(state, block, shelf, settings) / settings.temperature
    keys += noise.gumbel(size=keys.shape)
    pair_keys = block[:, None].astype(np.int64) * PAIR_KEY + shelf[None, :]
    keys[_in_sorted(pair_keys, state.seen)] = -np.inf
    del pair_keys

    inside = (plan_rows >= start) & (plan_rows < stop)
    rows, cols = plan_rows[inside] - start, plan_cols[inside]
    usable = np.isfinite(keys[rows, cols])            # not seen by the user already
    rows, cols = rows[usable], cols[usable]
    slots = np.ceil(settings.slot_share * requests[start:stop]).astype(np.int64)
    first = np.r_[0, np.flatnonzero(np.diff(rows)) + 1] if rows.size else np.zeros(0, np.int64)
    rank = np.arange(rows.size) - np.repeat(first, np.diff(np.r_[first, rows.size]))
    keep = rank < slots[rows]
    planned_rows, planned_cols = rows[keep], cols[keep]
    keys[planned_rows, planned_cols] = -np.inf

    remaining = requests[start:stop] - np.bincount(planned_rows, minlength=block.size)
    feed_rows, feed_cols = _sample_top(keys, remaining)
    row = np.r_[planned_rows, feed_rows]
    col = np.r_[planned_cols, feed_cols]
    from_plan = np.r_[np.ones(planned_rows.size, bool), np.zeros(feed_rows.size, bool)]
    order = np.lexsort((col, row))
    return row[order] + start, col[order], from_plan[order]


def baseline_plan(state: WorldState, today: Today, settings: FeedSettings, kind: str, window_days: int,
                  chunk_cells: int = CHUNK_CELLS) -> pd.DataFrame:
    """A plan made without a nightly job, as (user, item) positions in each user's order: for every
    user served today, `slot_share` of their requests' worth of the items the plan may hold (posted
    before today, at most `window_days` old), not seen yet. `boost`: the feed's own ranking of them,
    with its exploration noise; `explore`: uniformly at random. Its own noise stream, so the feed's
    draws stay those of every other arm."""
    if kind not in ("boost", "explore"):
        raise ValueError(f"no baseline {kind!r}: boost or explore")
    shelf = state.shelf(today.day)
    age = today.day - state.item_day[shelf]
    items = shelf[(age >= 1) & (age <= window_days)]
    users = today.users
    if items.size == 0 or users.size == 0:
        return plan_positions(None)
    slots = np.ceil(settings.slot_share * today.requests).astype(np.int64)
    noise = stream(state.seed, today.day, f"baseline-{kind}")
    step = max(1, int(chunk_cells) // items.size)
    picked_users, picked_items = [], []
    for start in range(0, users.size, step):
        block = users[start:start + step]
        if kind == "boost":
            keys = feed_scores(state, block, items, settings) / settings.temperature
            keys += noise.gumbel(size=keys.shape)
        else:
            keys = noise.random(size=(block.size, items.size))
        pair_keys = block[:, None].astype(np.int64) * PAIR_KEY + items[None, :]
        keys[_in_sorted(pair_keys, state.seen)] = -np.inf
        rows, cols = _sample_top(keys, slots[start:start + step])
        picked_users.append(block[rows])
        picked_items.append(items[cols])
    return pd.DataFrame({"user": np.concatenate(picked_users), "item": np.concatenate(picked_items)})
