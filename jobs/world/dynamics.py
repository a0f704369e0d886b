"""The synthetic world carried on day by day, so that a policy's effects can feed back into it.

The generator (`jobs.sources.synthetic`) writes a fixed history. To see whether a fair shot keeps
creators creating, the world must react to what the feed does, so this module holds its state at
the end of that history and moves it one day at a time:
- creators join at a steady rate; each posts at a rate that rises with the likes and follows its
  items received in the last week (a concave response); one that has had no like for long enough
  may stop posting;
- users come by their rhythms, and their activity follows the value the feed gave them lately, so
  a policy that hurts users loses them;
- every exposure's outcome is drawn from the world's true probabilities.
The feed itself (which items each request gets) is not here: it is `jobs.world.feed`. The
state also keeps the counters a feed would keep (exposures, engagements, likes per item; per user
and category), because the user-side feed ranks by them, not by the truth.

Random draws come from streams keyed by (seed, day, purpose), so the two arms of a simulation see
the same arrivals, joins and coin flips wherever their states agree.
"""
from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.sources.synthetic import ITEM_SHELF_DAYS, World, WorldParams, _outcomes, generate_history, true_probabilities

PAIR_KEY = np.int64(1) << 32
STREAMS = {"join": 1, "post": 2, "activity": 3, "feed": 4, "outcomes": 5, "quit": 6, "baseline-boost": 7,
           "baseline-explore": 8}
OUTCOME_WEIGHTS = ("click", "long_view", "like", "follow", "skip")


@dataclass(frozen=True)
class Dynamics:
    """How the world responds; `simulation.*` in the config."""

    creators_joining_per_day: float
    items_per_creator_day: float
    posting_lift_at_10_likes: float   # posting rate x (1 + lift) after 10 likes+follows in a week (LinkedIn: +17%)
    response_window_days: int
    quit_after_days: int              # no like for this long: the creator may stop
    quit_probability: float           # per day, once past quit_after_days
    user_value_elasticity: float      # activity x (1 + this x change of recent value per exposure, in mean |value|s)
    live_share: float
    value_weights: tuple[float, ...]  # click, long_view, like, follow, skip: a user's value of an exposure

    def posting_multiplier(self, feedback: np.ndarray) -> np.ndarray:
        """Concave in the week's likes and follows: 1 at none, 1 + lift at ten."""
        return 1.0 + self.posting_lift_at_10_likes * np.log1p(feedback) / np.log1p(10.0)


def stream(seed: int, day: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng([seed, day, STREAMS[purpose]])


@dataclass
class WorldState:
    """Everything about the world at the end of `day` (0 = the generator's first logged day).
    Arrays are indexed by position; ids are position + 1, as in the generator."""

    day: int
    start: dt.date
    seed: int
    categories: np.ndarray
    # users
    interest: np.ndarray
    base_activity: np.ndarray
    request_rate: np.ndarray
    peak_hour: np.ndarray
    register_day: np.ndarray
    active_yesterday: np.ndarray
    recent_value: np.ndarray          # moving average of the value per exposure the feed gave the user
    reference_value: float            # the history's mean value per exposure: activity is unchanged there
    value_scale: float                # the history's mean |value| per exposure: what counts as a big change
    user_category_exposures: np.ndarray
    user_category_engaged: np.ndarray
    # creators
    creator_quality: np.ndarray
    main_category: np.ndarray
    followers: np.ndarray
    creator_start: np.ndarray
    creator_is_new: np.ndarray        # joined during the generator's window or the simulation
    quit_day: np.ndarray              # day the creator stopped posting; a large number while posting
    last_like_day: np.ndarray         # day of the last like (the start day if none yet)
    feedback_by_day: dict[int, np.ndarray]   # day -> likes + follows per creator that day
    # items
    item_creator: np.ndarray
    item_day: np.ndarray
    item_category: np.ndarray
    item_quality: np.ndarray
    is_live: np.ndarray
    created_seconds: np.ndarray
    live_start_seconds: np.ndarray
    live_length: np.ndarray
    duration: np.ndarray
    item_exposures: np.ndarray
    item_engaged: np.ndarray
    item_likes: np.ndarray
    first_like_hours: np.ndarray      # hours from posting to the first like; NaN until it comes
    early_exposures: np.ndarray       # exposures on the first two days on the shelf
    seen: np.ndarray                  # sorted user * 2^32 + item keys of every served pair

    NOT_QUIT = 1 << 30

    @property
    def n_users(self) -> int:
        return self.interest.shape[0]

    @property
    def n_creators(self) -> int:
        return self.creator_quality.size

    @property
    def n_items(self) -> int:
        return self.item_creator.size

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)

    def posting(self, day: int) -> np.ndarray:
        """Creators that exist on `day` and have not stopped."""
        return (self.creator_start <= day) & (self.quit_day > day)

    def feedback_last(self, day: int, days: int) -> np.ndarray:
        total = np.zeros(self.n_creators)
        for d in range(day - days, day):
            counts = self.feedback_by_day.get(d)
            if counts is not None:
                total[:counts.size] += counts
        return total

    def shelf(self, day: int) -> np.ndarray:
        """What the feed may show on `day`: videos from the last two weeks, live streams airing."""
        video = ~self.is_live & (self.item_day < day) & (self.item_day >= day - ITEM_SHELF_DAYS)
        live = self.is_live & (self.item_day + 1 == day)
        return np.flatnonzero(video | live)

    def fork(self) -> WorldState:
        return copy.deepcopy(self)


def state_after_history(world: World, dynamics: Dynamics, through_day: int | None = None) -> WorldState:
    """The world at the end of its generated history (or of its day `through_day`), with the feed's
    counters filled from the logs up to then. Latent traits are the world's own, whatever the day
    (a creator's follower count among them: the generator draws it once)."""
    params = world.params
    last = _last_day(params, through_day)
    logs = world.events[world.events["ts"] < pd.Timestamp(params.start + dt.timedelta(days=last + 1))]
    return _state_from_logs(world.latent, params, dynamics, last, [logs])


def regenerated_state(params: WorldParams, dynamics: Dynamics, through_day: int | None = None) -> WorldState:
    """`state_after_history(generate_world(params), ...)`, drawing the history again a day at a time
    and keeping only the counters: the state is the same, the driver's memory is not (at 200,000
    users the whole world took it to 10.2 GB, this to 2.2 GB)."""
    last = _last_day(params, through_day)
    latent, logs = generate_history(params, through_day=last)
    return _state_from_logs(latent, params, dynamics, last, logs)


def _last_day(params: WorldParams, through_day: int | None) -> int:
    last = params.n_days - 1 if through_day is None else int(through_day)
    if not 0 <= last < params.n_days:
        raise ValueError(f"through_day {through_day} is outside the generated history (days 0..{params.n_days - 1})")
    return last


def _state_from_logs(lat: dict[str, np.ndarray], params: WorldParams, dynamics: Dynamics, last: int,
                     logs: Iterable[pd.DataFrame]) -> WorldState:
    """The state from the latent arrays and the logs of days up to `last`, read a frame at a time.
    Counts add up exactly in any order; the history's mean value per exposure is a float sum,
    equal to the mean of one frame when there is one."""
    n_u, n_k = lat["interest"].shape
    n_i, n_c = lat["item_creator"].size, lat["creator_quality"].size
    item_day = lat["item_day"]
    window = range(last - 6, last + 1)
    user_category_exposures = np.zeros(n_u * n_k, dtype=np.int64)
    user_category_engaged = np.zeros(n_u * n_k)
    item_exposures = np.zeros(n_i, dtype=np.int64)
    item_engaged, item_likes = np.zeros(n_i), np.zeros(n_i)
    early_exposures = np.zeros(n_i, dtype=np.int64)
    feedback_by_day = {d: np.zeros(n_c, dtype=np.int64) for d in window}
    last_like = np.full(n_c, -(1 << 30), dtype=np.int64)
    first_like = np.full(n_i, np.inf)
    value_sum = absolute_sum = 0.0
    n_events = 0
    seen_by_frame = []
    for ev in logs:
        user = ev["user_id"].to_numpy(np.int64) - 1
        item = ev["item_id"].to_numpy(np.int64) - 1
        engaged = ((ev["is_click"] + ev["is_long_view"]) > 0).to_numpy()
        like = ev["is_like"].to_numpy().astype(bool)
        category = lat["item_category"][item]
        days = ((ev["ts"] - pd.Timestamp(params.start)) // pd.Timedelta(days=1)).to_numpy(np.int64)
        seconds = ((ev["ts"] - pd.Timestamp(params.start)) // pd.Timedelta(seconds=1)).to_numpy(np.int64) - days * 86_400
        creator = lat["item_creator"][item]
        feedback = like | ev["is_follow"].to_numpy().astype(bool)
        for d in window:
            feedback_by_day[d] += np.bincount(creator[(days == d) & feedback], minlength=n_c)
        np.maximum.at(last_like, creator[like], days[like])
        age_hours = (days - item_day[item]) * 24.0 + (seconds - lat["created_seconds"][item]) / 3600.0
        np.minimum.at(first_like, item[like], age_hours[like])
        early = (days - item_day[item] >= 1) & (days - item_day[item] <= 2)
        early_exposures += np.bincount(item[early], minlength=n_i)
        probabilities = true_probabilities(lat["interest"][user, category] * n_k, lat["item_quality"][item])
        value = exposure_value(probabilities, dynamics.value_weights)
        value_sum += float(value.sum())
        absolute_sum += float(np.abs(value).sum())
        n_events += value.size
        user_category_exposures += np.bincount(user * n_k + category, minlength=n_u * n_k)
        user_category_engaged += np.bincount(user * n_k + category, weights=engaged, minlength=n_u * n_k)
        item_exposures += np.bincount(item, minlength=n_i)
        item_engaged += np.bincount(item, weights=engaged, minlength=n_i)
        item_likes += np.bincount(item, weights=like, minlength=n_i)
        seen_by_frame.append(np.unique(user * PAIR_KEY + item))
    reference = value_sum / n_events if n_events else 0.0
    scale = absolute_sum / n_events if n_events else 1.0
    seen = np.unique(np.concatenate(seen_by_frame)) if seen_by_frame else np.zeros(0, dtype=np.int64)
    return WorldState(
        day=last, start=params.start, seed=params.seed,
        categories=np.array([f"cat_{k:02d}" for k in range(n_k)]),
        interest=lat["interest"], base_activity=lat["base_activity"], request_rate=lat["request_rate"],
        peak_hour=lat["peak_hour"], register_day=lat["register_day"],
        active_yesterday=lat["active"][last].copy(),
        recent_value=np.full(n_u, reference), reference_value=reference, value_scale=max(scale, 1e-6),
        user_category_exposures=user_category_exposures.reshape(n_u, n_k).astype(float),
        user_category_engaged=user_category_engaged.reshape(n_u, n_k),
        creator_quality=lat["creator_quality"], main_category=lat["main_category"],
        followers=lat["followers"].astype(np.int64).copy(), creator_start=lat["creator_day"].astype(np.int64),
        creator_is_new=lat["is_new_creator"].copy(), quit_day=np.full(n_c, WorldState.NOT_QUIT, dtype=np.int64),
        last_like_day=np.maximum(np.maximum(last_like, lat["creator_day"]), 0).astype(np.int64),
        feedback_by_day={d: counts.astype(float) for d, counts in feedback_by_day.items()},
        item_creator=lat["item_creator"], item_day=item_day, item_category=lat["item_category"],
        item_quality=lat["item_quality"], is_live=lat["is_live"], created_seconds=lat["created_seconds"],
        live_start_seconds=lat["live_start_seconds"], live_length=lat["live_length"],
        duration=lat["duration"].astype(float),
        item_exposures=item_exposures.astype(float), item_engaged=item_engaged, item_likes=item_likes,
        first_like_hours=np.where(np.isfinite(first_like), first_like, np.nan),
        early_exposures=early_exposures.astype(float),
        seen=seen,
    )


@dataclass(frozen=True)
class Today:
    day: int
    users: np.ndarray       # positions of the users who come
    requests: np.ndarray    # how many items each of them will be served
    new_items: np.ndarray   # positions of the items posted today
    joined: int


def open_day(state: WorldState, dynamics: Dynamics) -> Today:
    """Creators join and post; users decide whether to come and how much. Advances `state.day`."""
    day = state.day + 1
    state.day = day
    joined = _join_creators(state, dynamics, stream(state.seed, day, "join"))
    new_items = _post_items(state, dynamics, stream(state.seed, day, "post"))
    rng = stream(state.seed, day, "activity")
    weekend = 1.1 if state.date(day).weekday() >= 5 else 1.0
    # Value can be negative (skips cost), so the response is linear in the change, not a ratio.
    change = (state.recent_value - state.reference_value) / state.value_scale
    value_factor = np.clip(1.0 + dynamics.user_value_elasticity * change, 0.5, 1.5)
    p = np.clip(state.base_activity * (0.7 + 0.6 * state.active_yesterday) * weekend * value_factor, 0.0, 0.97)
    draws, extra = rng.random(state.n_users), rng.poisson(np.maximum(state.request_rate - 1.0, 0.0))
    active = (draws < p) & (state.register_day <= day)
    state.active_yesterday = active
    users = np.flatnonzero(active)
    return Today(day, users, (1 + extra[users]).astype(np.int64), new_items, joined)


def _join_creators(state: WorldState, dynamics: Dynamics, rng: np.random.Generator) -> int:
    n = int(rng.poisson(dynamics.creators_joining_per_day))
    quality, category = rng.normal(0.0, 0.4, n), rng.integers(0, state.categories.size, n)
    followers = rng.poisson(3, n)
    state.creator_quality = np.r_[state.creator_quality, quality]
    state.main_category = np.r_[state.main_category, category]
    state.followers = np.r_[state.followers, followers].astype(np.int64)
    state.creator_start = np.r_[state.creator_start, np.full(n, state.day, dtype=np.int64)]
    state.creator_is_new = np.r_[state.creator_is_new, np.ones(n, dtype=bool)]
    state.quit_day = np.r_[state.quit_day, np.full(n, WorldState.NOT_QUIT, dtype=np.int64)]
    state.last_like_day = np.r_[state.last_like_day, np.full(n, state.day, dtype=np.int64)]
    return n


def _post_items(state: WorldState, dynamics: Dynamics, rng: np.random.Generator) -> np.ndarray:
    day = state.day
    feedback = state.feedback_last(day, dynamics.response_window_days)
    rate = dynamics.items_per_creator_day * dynamics.posting_multiplier(feedback) * state.posting(day)
    counts = rng.poisson(rate)
    creator = np.repeat(np.arange(state.n_creators), counts)
    n = creator.size
    own = rng.random(n) < 0.8
    category = np.where(own, state.main_category[creator], rng.integers(0, state.categories.size, n))
    quality = state.creator_quality[creator] + rng.normal(0.0, 0.5, n)
    live = rng.random(n) < dynamics.live_share
    created = rng.integers(0, 86_400, n)
    live_start, live_length = rng.integers(17 * 3600, 22 * 3600, n), rng.integers(3600, 3 * 3600, n)
    duration = np.where(live, live_length, np.round(rng.lognormal(np.log(30), 0.6, n), 1))
    first = state.n_items
    for name, values in (("item_creator", creator), ("item_day", np.full(n, day, dtype=np.int64)),
                         ("item_category", category), ("item_quality", quality), ("is_live", live),
                         ("created_seconds", created), ("live_start_seconds", live_start),
                         ("live_length", live_length), ("duration", duration.astype(float)),
                         ("item_exposures", np.zeros(n)), ("item_engaged", np.zeros(n)),
                         ("item_likes", np.zeros(n)), ("first_like_hours", np.full(n, np.nan)),
                         ("early_exposures", np.zeros(n))):
        setattr(state, name, np.r_[getattr(state, name), values])
    return np.arange(first, first + n)


def true_outcome_rates(state: WorldState, user: np.ndarray, item: np.ndarray) -> dict[str, np.ndarray]:
    n_k = state.categories.size
    return true_probabilities(state.interest[user, state.item_category[item]] * n_k, state.item_quality[item])


def exposure_value(rates: dict[str, np.ndarray], weights: tuple[float, ...]) -> np.ndarray:
    return sum(w * rates[name] for w, name in zip(weights, OUTCOME_WEIGHTS))


def serve_and_observe(state: WorldState, dynamics: Dynamics, user: np.ndarray, item: np.ndarray) -> pd.DataFrame:
    """Outcomes of the day's exposures, drawn from the truth; updates every counter that depends on
    them (the feed's, the creators' feedback, the users' recent value). Returns the day's log rows."""
    day = state.day
    n_k = state.categories.size
    rng = stream(state.seed, day, "outcomes")
    events = _outcomes(rng, state.date(day), user, item, state.interest, n_k, state.item_category, state.item_quality,
                       state.is_live, state.duration, state.peak_hour, state.live_start_seconds, state.live_length)
    engaged = ((events["is_click"] + events["is_long_view"]) > 0).to_numpy()
    like = events["is_like"].to_numpy().astype(bool)
    follow = events["is_follow"].to_numpy().astype(bool)
    category = state.item_category[item]
    state.item_exposures += np.bincount(item, minlength=state.n_items)
    state.item_engaged += np.bincount(item, weights=engaged, minlength=state.n_items)
    state.item_likes += np.bincount(item, weights=like, minlength=state.n_items)
    age_days = day - state.item_day[item]
    early = (age_days >= 1) & (age_days <= 2)
    state.early_exposures += np.bincount(item[early], minlength=state.n_items)
    seconds = (events["ts"] - pd.Timestamp(state.date(day))).dt.total_seconds().to_numpy()
    hours = age_days * 24.0 + (seconds - state.created_seconds[item]) / 3600.0
    first = np.full(state.n_items, np.inf)
    np.minimum.at(first, item[like], hours[like])
    fresh = np.isnan(state.first_like_hours) & np.isfinite(first)
    state.first_like_hours[fresh] = first[fresh]
    flat = user * n_k + category
    size = state.n_users * n_k
    state.user_category_exposures += np.bincount(flat, minlength=size).reshape(state.n_users, n_k)
    state.user_category_engaged += np.bincount(flat, weights=engaged, minlength=size).reshape(state.n_users, n_k)
    creator = state.item_creator[item]
    state.feedback_by_day[day] = np.bincount(creator[like | follow], minlength=state.n_creators).astype(float)
    state.feedback_by_day.pop(day - 28, None)
    state.followers += np.bincount(creator[follow], minlength=state.n_creators)
    liked = np.bincount(creator[like], minlength=state.n_creators) > 0
    state.last_like_day[liked] = day
    value = exposure_value(true_outcome_rates(state, user, item), dynamics.value_weights)
    served = np.bincount(user, minlength=state.n_users)
    mean_value = np.bincount(user, weights=value, minlength=state.n_users) / np.maximum(served, 1)
    state.recent_value = np.where(served > 0, 0.7 * state.recent_value + 0.3 * mean_value, state.recent_value)
    state.seen = np.union1d(state.seen, user.astype(np.int64) * PAIR_KEY + item)
    return events


def close_day(state: WorldState, dynamics: Dynamics) -> int:
    """Creators with no like for `quit_after_days` may stop; returns how many did today."""
    day = state.day
    rng = stream(state.seed, day, "quit")
    draws = rng.random(state.n_creators)
    starved = state.posting(day) & (day - state.last_like_day >= dynamics.quit_after_days)
    stopping = starved & (draws < dynamics.quit_probability)
    state.quit_day[stopping] = day + 1
    return int(stopping.sum())
