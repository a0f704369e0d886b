"""The nightly evaluation's control on the synthetic world: what the world's own feed would show in
the creator-side slots on ds+1.

What a plan costs users means something only against what those slots would have shown otherwise.
Each user's top-k over fairshot's own candidates is not that: it ranks new items only, so it
already covers most of them and makes fairshot's gain look small. A real user-side feed ranks
every item on the shelf, old and new, by its own estimates; that is where new items starve. So
the control rebuilds the world as it stood at the end of ds (its latent traits, and the feed's
counters over its logs up to ds, drawn again a day at a time) and lets its feed (`jobs.world.feed`,
the simulation's control arm) fill, for every user the plan was for who really comes on ds+1, as
many slots as the plan gave that user.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.config import Config
from jobs.sources.synthetic import WorldParams
from jobs.world.dynamics import Today, regenerated_state
from jobs.world.feed import serve
from jobs.world.settings import dynamics_from_config, feed_from_config


@dataclass(frozen=True)
class FeedSlots:
    """One row per slot the feed filled: the user, the item, each id as the warehouse has it."""

    user_id: np.ndarray
    item_id: np.ndarray


def world_feed_in_plan_slots(config: Config, landing: str, ds: str, users: pd.DataFrame,
                             comes: np.ndarray) -> FeedSlots | None:
    """The world's feed on ds+1 in `users`' creator-side slots (`slot_capacity`), for the users who
    come (`comes`, aligned with `users`). None when the landing's generated history does not hold
    ds (a world carried on by `fairshot simulate`, or no kept truth)."""
    params_path = os.path.join(landing, "truth", "params.json")
    if not os.path.exists(params_path):
        return None
    with open(params_path) as handle:
        params = WorldParams(**json.load(handle))
    day = (dt.date.fromisoformat(ds) - params.start).days
    if not 0 <= day < params.n_days:
        return None
    state = regenerated_state(params, dynamics_from_config(config), through_day=day)
    state.day = day + 1                       # the feed scores ages as on the day it serves
    come = np.asarray(comes, dtype=bool)
    positions = users["user_id"].to_numpy(np.int64)[come] - 1      # the generator's ids are positions + 1
    slots = users["slot_capacity"].to_numpy(np.int64)[come]
    known = (positions >= 0) & (positions < state.n_users)
    today = Today(day + 1, positions[known], slots[known], np.zeros(0, np.int64), 0)
    served = serve(state, today, feed_from_config(config), None)
    return FeedSlots(served.user + 1, served.item + 1)
