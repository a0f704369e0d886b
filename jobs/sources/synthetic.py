"""A synthetic world with known ground truth, written as a source drop ('landing' files).

Users have latent category interests, a base activity level with day-to-day persistence, an hourly
rhythm and a request rate. Creators have Zipf-sized audiences; many start during the logged window.
Items belong to creators and categories; some are live streams announced a day before they air.
The logs come from a user-side, popularity-driven feed (rich get richer), which is the world
fairshot is meant to correct, and every exposure ends in clicks, long views, likes, follows,
shares, comments, hates or a skip drawn from the true probabilities.

The truth (latents, true next-day activity, the probability model) is kept beside the logs so that
evaluation can score the pipeline against what really happens, not against its own estimates.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from jobs.config import Config
from jobs.errors import ConfigError
from jobs.sources.landing import mark_complete_through, read_csv_strings
from jobs.warehouse import storage

HISTORY_DAYS = 10  # items created before the logged window, so the first logged day has content
ITEM_SHELF_DAYS = 14  # the logging feed only shows videos this young


@dataclass(frozen=True)
class WorldParams:
    seed: int
    n_users: int
    n_creators: int
    n_categories: int
    n_days: int
    end_ds: str
    items_per_creator_day: float
    live_share: float
    new_creator_share: float
    zipf_exponent: float
    requests_per_active_day: float

    @classmethod
    def from_config(cls, config: Config) -> WorldParams:
        return cls(seed=config["seed"], **config["sample"])

    @property
    def start(self) -> dt.date:
        return dt.date.fromisoformat(self.end_ds) - dt.timedelta(days=self.n_days - 1)


@dataclass
class World:
    users: pd.DataFrame
    creators: pd.DataFrame
    items: pd.DataFrame
    events: pd.DataFrame
    truth_users: pd.DataFrame
    truth_items: pd.DataFrame
    truth_activity: pd.DataFrame
    params: WorldParams
    # The generator's arrays by name (0-based positions), so the simulation can carry the world on
    # from its last logged day: interests, rhythms, creators' quality and audiences, items.
    latent: dict[str, np.ndarray] = field(default_factory=dict)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def true_probabilities(affinity: np.ndarray, quality: np.ndarray) -> dict[str, np.ndarray]:
    """The world's outcome model, shared by the generator and by evaluation against the truth.

    `affinity` is the user's interest in the item's category relative to uniform (mean 1), and
    `quality` the item's latent quality. Likes and follows need engagement (a click or long view).
    """
    z = np.log(np.asarray(affinity, dtype=float) + 0.05)
    q = np.asarray(quality, dtype=float)
    click = _sigmoid(-1.0 + 0.9 * z + 0.8 * q)
    long_view = _sigmoid(-1.6 + 1.0 * z + 0.8 * q)
    engaged = 1.0 - (1.0 - click) * (1.0 - long_view)
    like = np.minimum(_sigmoid(-3.2 + 1.1 * z + 1.0 * q), engaged)
    follow = np.minimum(_sigmoid(-5.0 + 1.0 * z + 0.8 * q), engaged)
    return {"click": click, "long_view": long_view, "engaged": engaged, "like": like, "follow": follow,
            "skip": 1.0 - engaged}


def _ts(day: dt.date, seconds: np.ndarray) -> np.ndarray:
    base = np.datetime64(day.isoformat(), "s")
    return base + np.asarray(seconds, dtype="int64").astype("timedelta64[s]")


def generate_world(params: WorldParams) -> World:
    rng = np.random.default_rng(params.seed)
    latent = _draw_latent(rng, params)
    events = pd.concat([frame for _, frame in _logged_days(rng, latent, params)],
                       ignore_index=True).sort_values(["ts", "user_id"], kind="stable")
    return World(events=events, params=params, latent=latent, **_tables(rng, params, latent))


def generate_history(params: WorldParams, through_day: int | None = None
                     ) -> tuple[dict[str, np.ndarray], Iterator[pd.DataFrame]]:
    """The world's latent arrays and its logs one day at a time up to `through_day`, drawn exactly as
    `generate_world` draws them. For a reader that needs counters over the history, not the
    history itself: at 200,000 users the whole log and the frames built from it take the driver
    to 10 GB, and one day of it is about 1.6M rows."""
    rng = np.random.default_rng(params.seed)
    latent = _draw_latent(rng, params)
    return latent, (frame for _, frame in _logged_days(rng, latent, params, through_day))


def _draw_latent(rng: np.random.Generator, params: WorldParams) -> dict[str, np.ndarray]:
    """Everything about users, creators and items that the logs are drawn from."""
    n_u, n_c, n_k = params.n_users, params.n_creators, params.n_categories
    start = params.start

    # Users: interests, activity, rhythm, requests; a tenth register during the window.
    interest = rng.dirichlet(np.full(n_k, 0.5), size=n_u)
    base_activity = rng.beta(2.0, 1.5, size=n_u)
    request_rate = params.requests_per_active_day * rng.lognormal(0.0, 0.4, size=n_u)
    peak_hour = rng.integers(0, 24, size=n_u)
    joins_late = rng.random(n_u) < 0.1
    register_day = np.where(joins_late, rng.integers(0, params.n_days, size=n_u),
                            -rng.integers(1, 900, size=n_u))

    # Creators: Zipf audiences; new ones start inside the window.
    rank = rng.permutation(n_c) + 1
    popularity = rank.astype(float) ** -params.zipf_exponent
    followers = np.round(50_000 * popularity * rng.lognormal(0, 0.3, n_c)).astype(np.int64)
    creator_quality = rng.normal(0.0, 0.4, n_c)
    main_category = rng.integers(0, n_k, n_c)
    is_new_creator = rng.random(n_c) < params.new_creator_share
    creator_day = np.where(is_new_creator, rng.integers(0, params.n_days, n_c), -rng.integers(30, 1500, n_c))
    followers = np.where(is_new_creator, rng.poisson(3, n_c), followers)
    popularity = np.where(is_new_creator, popularity.min(), popularity)

    # Items: created every day by the creators that exist by then.
    item_rows: list[tuple[int, int]] = []
    for day in range(-HISTORY_DAYS, params.n_days):
        existing = np.flatnonzero(creator_day <= day)
        counts = rng.poisson(params.items_per_creator_day, existing.size)
        for creator, count in zip(existing[counts > 0], counts[counts > 0]):
            item_rows.extend((int(creator), day) for _ in range(count))
    item_creator = np.array([r[0] for r in item_rows], dtype=np.int64)
    item_day = np.array([r[1] for r in item_rows], dtype=np.int64)
    n_i = item_creator.size
    own_category = rng.random(n_i) < 0.8
    item_category = np.where(own_category, main_category[item_creator], rng.integers(0, n_k, n_i))
    item_quality = creator_quality[item_creator] + rng.normal(0.0, 0.5, n_i)
    is_live = rng.random(n_i) < params.live_share
    created_seconds = rng.integers(0, 86_400, n_i)
    live_day = item_day + 1  # a live stream is announced the day before it airs
    live_start_seconds = rng.integers(17 * 3600, 22 * 3600, n_i)
    live_length = rng.integers(3600, 3 * 3600, n_i)
    duration = np.where(is_live, live_length, np.round(rng.lognormal(np.log(30), 0.6, n_i), 1))

    # Activity: persistent (yesterday's activity raises today's), weekends a little busier.
    n_sim_days = params.n_days + 1  # one more day than logged: the truth about 'tomorrow'
    active = np.zeros((n_sim_days, n_u), dtype=bool)
    previous = rng.random(n_u) < base_activity
    for day in range(n_sim_days):
        weekday = (start + dt.timedelta(days=day)).weekday()
        p = np.clip(base_activity * (0.7 + 0.6 * previous) * (1.1 if weekday >= 5 else 1.0), 0, 0.97)
        today = (rng.random(n_u) < p) & (register_day <= day)
        active[day] = today
        previous = today
    requests = np.where(active, 1 + rng.poisson(np.maximum(request_rate - 1, 0.0), size=active.shape), 0)
    return dict(interest=interest, base_activity=base_activity, request_rate=request_rate, peak_hour=peak_hour,
                register_day=register_day, popularity=popularity, followers=followers,
                creator_quality=creator_quality, main_category=main_category, creator_day=creator_day,
                is_new_creator=is_new_creator, item_creator=item_creator, item_day=item_day,
                item_category=item_category, item_quality=item_quality, is_live=is_live,
                created_seconds=created_seconds, live_day=live_day, live_start_seconds=live_start_seconds,
                live_length=live_length, duration=duration, active=active, requests=requests)


def _logged_days(rng: np.random.Generator, latent: dict[str, np.ndarray], params: WorldParams,
                 through_day: int | None = None) -> Iterator[tuple[int, pd.DataFrame]]:
    """Each logged day's exposures: each request shows one item drawn by a popularity-and-interest
    feed. Lazy, and later days draw after earlier ones, so days up to `through_day` come out the
    same whether or not the later ones are drawn."""
    lat = latent
    n_k, item_day, is_live = params.n_categories, lat["item_day"], lat["is_live"]
    last = params.n_days - 1 if through_day is None else min(through_day, params.n_days - 1)
    for day in range(last + 1):
        date = params.start + dt.timedelta(days=day)
        shelf = np.flatnonzero(((~is_live) & (item_day < day) & (item_day >= day - ITEM_SHELF_DAYS))
                               | (is_live & (lat["live_day"] == day)))
        users_today = np.flatnonzero(lat["active"][day])
        if shelf.size == 0 or users_today.size == 0:
            continue
        recency = np.exp(-(day - item_day[shelf]) / 4.0)
        item_weight = (lat["popularity"][lat["item_creator"][shelf]] ** 0.7
                       * np.exp(0.5 * lat["item_quality"][shelf]) * recency)
        item_weight = np.where(is_live[shelf], 3 * item_weight, item_weight)
        n_req = lat["requests"][day, users_today]
        row = np.repeat(np.arange(users_today.size), n_req)
        draws = rng.random(row.size)
        picked = _feed_draws(lat["interest"][users_today], lat["item_category"][shelf], n_k, item_weight, row, draws)
        user = users_today[row]
        item = shelf[picked]
        yield day, _outcomes(rng, date, user, item, lat["interest"], n_k, lat["item_category"], lat["item_quality"],
                             is_live, lat["duration"], lat["peak_hour"], lat["live_start_seconds"], lat["live_length"])


def _tables(rng: np.random.Generator, params: WorldParams, latent: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    """The source's catalogue tables and the kept truth, by `World` field. Draws after the logs
    (registration and creation times of day), so it must come after `_logged_days` has run through."""
    lat = latent
    n_u, n_c = params.n_users, params.n_creators
    start = params.start
    categories = np.array([f"cat_{k:02d}" for k in range(params.n_categories)])
    n_i = lat["item_creator"].size
    item_category, is_live, interest = lat["item_category"], lat["is_live"], lat["interest"]
    n_sim_days = params.n_days + 1

    def day_ts(day_index: np.ndarray, seconds: np.ndarray) -> pd.Series:
        base = np.datetime64(start.isoformat(), "s")
        return pd.Series(base + (day_index * 86_400 + seconds).astype("timedelta64[s]"))

    items = pd.DataFrame({
        "item_id": np.arange(n_i, dtype=np.int64) + 1,
        "creator_id": lat["item_creator"] + 1,
        "category": categories[item_category],
        "item_type": np.where(is_live, "live", "video"),
        "created_at": day_ts(lat["item_day"], lat["created_seconds"]),
        "duration_s": lat["duration"].astype(float),
        "live_start": day_ts(lat["live_day"], lat["live_start_seconds"]).where(is_live),
        "live_end": day_ts(lat["live_day"], lat["live_start_seconds"] + lat["live_length"]).where(is_live),
    })
    creators = pd.DataFrame({
        "creator_id": np.arange(n_c, dtype=np.int64) + 1,
        "created_at": day_ts(lat["creator_day"], rng.integers(0, 86_400, n_c)),
        "followers": lat["followers"],
    })
    users = pd.DataFrame({
        "user_id": np.arange(n_u, dtype=np.int64) + 1,
        "registered_at": day_ts(lat["register_day"], rng.integers(0, 86_400, n_u)),
    })
    days = np.array([(start + dt.timedelta(days=d)).isoformat() for d in range(n_sim_days)])
    truth_activity = pd.DataFrame({
        "user_id": np.tile(np.arange(n_u, dtype=np.int64) + 1, n_sim_days),
        "ds": np.repeat(days, n_u),
        "active": lat["active"].ravel(),
        "requests": lat["requests"].ravel(),
    })
    truth_users = pd.DataFrame({
        "user_id": np.arange(n_u, dtype=np.int64) + 1, "base_activity": lat["base_activity"],
        "request_rate": lat["request_rate"], "peak_hour": lat["peak_hour"],
        **{f"interest_{c}": interest[:, k] for k, c in enumerate(categories)},
    })
    truth_items = pd.DataFrame({
        "item_id": np.arange(n_i, dtype=np.int64) + 1, "category": categories[item_category],
        "quality": lat["item_quality"], "creator_id": lat["item_creator"] + 1,
        "creator_is_new": lat["is_new_creator"][lat["item_creator"]],
    })
    return dict(users=users, creators=creators, items=items, truth_users=truth_users, truth_items=truth_items,
                truth_activity=truth_activity)


def _feed_draws(interest: np.ndarray, shelf_category: np.ndarray, n_k: int, item_weight: np.ndarray,
                row: np.ndarray, draws: np.ndarray, cells: int = 8_000_000) -> np.ndarray:
    """Each request's item: user row r draws from the shelf with weights (interest[r, category] n_k
    + 0.1) x item_weight, by inverting its cumulative weights at `draws`: the first item whose
    cumulative share exceeds the draw.

    A user's cumulative weight up to shelf position j is sum over categories of its coefficient
    times W[c, j], the category's item weights summed up to j, so a binary search over j needs
    O(categories) per step and nothing of size users x shelf, which grows with the square of the
    world (at 200,000 users the dense version had not finished its draws after 18 minutes). Requests go `cells / categories` at a time."""
    n_shelf = shelf_category.size
    prefix = np.zeros((n_k, n_shelf))
    prefix[shelf_category, np.arange(n_shelf)] = item_weight
    prefix = np.cumsum(prefix, axis=1)
    picked = np.empty(row.size, dtype=np.int64)
    step = max(1, cells // n_k)
    for first in range(0, row.size, step):
        block = slice(first, first + step)
        coef = interest[row[block]] * n_k + 0.1
        target = draws[block] * (coef @ prefix[:, -1])
        low, high = np.zeros(coef.shape[0], dtype=np.int64), np.full(coef.shape[0], n_shelf - 1, dtype=np.int64)
        while np.any(low < high):
            middle = (low + high) // 2
            right = np.einsum("rk,kr->r", coef, prefix[:, middle]) <= target
            low, high = np.where(right, middle + 1, low), np.where(right, high, middle)
        picked[block] = low
    return picked


def _outcomes(rng: np.random.Generator, date: dt.date, user: np.ndarray, item: np.ndarray,
              interest: np.ndarray, n_k: int, item_category: np.ndarray, item_quality: np.ndarray,
              is_live: np.ndarray, duration: np.ndarray, peak_hour: np.ndarray,
              live_start_seconds: np.ndarray, live_length: np.ndarray) -> pd.DataFrame:
    n = user.size
    p = true_probabilities(interest[user, item_category[item]] * n_k, item_quality[item])
    click = rng.random(n) < p["click"]
    long_view = rng.random(n) < p["long_view"]
    engaged = click | long_view
    like = engaged & (rng.random(n) < p["like"] / p["engaged"])
    follow = engaged & (rng.random(n) < p["follow"] / p["engaged"])
    share = like & (rng.random(n) < 0.15)
    comment = engaged & (rng.random(n) < 0.3 * p["like"])
    hate = ~engaged & (rng.random(n) < 0.02)
    hour = (peak_hour[user] + np.round(rng.normal(0, 3, n)).astype(int)) % 24
    seconds = hour * 3600 + rng.integers(0, 3600, n)
    live = is_live[item]
    seconds = np.where(live, live_start_seconds[item] + (rng.random(n) * live_length[item]).astype(int), seconds)
    seconds = np.minimum(seconds, 86_399)
    length_ms = duration[item] * 1000.0
    watch = np.where(long_view, length_ms * rng.uniform(0.5, 1.0, n),
                     np.where(click, length_ms * rng.uniform(0.05, 0.5, n), rng.uniform(300, 3000, n)))
    return pd.DataFrame({
        "user_id": user.astype(np.int64) + 1,
        "item_id": item.astype(np.int64) + 1,
        "ts": _ts(date, seconds),
        "surface": np.where(live, "live", "video"),
        "is_click": click.astype(int), "is_long_view": long_view.astype(int), "is_like": like.astype(int),
        "is_follow": follow.astype(int), "is_share": share.astype(int), "is_comment": comment.astype(int),
        "is_hate": hate.astype(int), "watch_time_ms": np.round(watch).astype(np.int64),
    })


def landing_root(config: Config) -> str:
    """The world's landing folder: `source.path`, else `landing/synthetic` in a local warehouse.
    Sources are read from local folders (a source drops its files where the job runs), so a
    warehouse in a bucket needs `source.path` set."""
    if config["source"]["path"]:
        return os.path.abspath(config["source"]["path"])
    warehouse = config["storage"]["warehouse"]
    if storage.is_object_store(warehouse):
        raise ConfigError(f"source.path: the synthetic world lands in a local folder, and storage.warehouse is "
                          f"{warehouse}; set source.path to a folder (e.g. --set source.path=./landing)")
    return storage.join(warehouse, "landing", "synthetic")


_TABLES = ("users", "creators", "items", "truth_users", "truth_items", "truth_activity")
_STAMP = "%Y-%m-%d %H:%M:%S"


def write_landing(world: World, root: str) -> dict[str, Any]:
    """Write the world as a source would drop it: one events CSV per day, catalogue snapshots as
    CSV, and the truth as Parquet under truth/. Returns a summary for the CLI."""
    days = [_write_events_day(root, day) for _, day in world.events.groupby(world.events["ts"].dt.date)]
    tables = {name: getattr(world, name) for name in _TABLES}
    return _write_tables(root, world.params, tables, days, n_events=len(world.events))


def generate_landing(params: WorldParams, root: str) -> dict[str, Any]:
    """`write_landing(generate_world(params), root)`, the same files, writing each day's logs as it
    is drawn instead of holding the whole log: at 200,000 users `fairshot sample` took 13 GB that way,
    and 1.5 GB this way."""
    rng = np.random.default_rng(params.seed)
    latent = _draw_latent(rng, params)
    days, n_events = [], 0
    for _, frame in _logged_days(rng, latent, params):
        if len(frame):
            days.append(_write_events_day(root, frame.sort_values(["ts", "user_id"], kind="stable")))
            n_events += len(frame)
    return _write_tables(root, params, _tables(rng, params, latent), days, n_events=n_events)


def _write_events_day(root: str, events: pd.DataFrame) -> str:
    """One day's events (sorted by time) as `events/ds=<day>/events.csv`; returns the day."""
    ds = events["ts"].iloc[0].strftime("%Y-%m-%d")
    folder = os.path.join(root, "events", f"ds={ds}")
    os.makedirs(folder, exist_ok=True)
    events.assign(ts=events["ts"].dt.strftime(_STAMP)).to_csv(os.path.join(folder, "events.csv"), index=False)
    return ds


def _write_tables(root: str, params: WorldParams, tables: dict[str, pd.DataFrame], days: list[str],
                  n_events: int) -> dict[str, Any]:
    """The catalogue snapshots, the truth and the completeness marker, after the days' logs."""
    os.makedirs(os.path.join(root, "truth"), exist_ok=True)
    for name in ("users", "creators", "items"):
        tables[name].to_csv(os.path.join(root, f"{name}.csv"), index=False, date_format=_STAMP)
    for name in ("truth_users", "truth_items", "truth_activity"):
        tables[name].to_parquet(os.path.join(root, "truth", f"{name[6:]}.parquet"), index=False)
    with open(os.path.join(root, "truth", "params.json"), "w") as handle:
        json.dump(asdict(params), handle, indent=2)
    mark_complete_through(root, max(days))
    return {"root": root, "users": len(tables["users"]), "creators": len(tables["creators"]),
            "items": len(tables["items"]), "events": n_events, "days": sorted(days)}


def write_csv_export(world: World, folder: str) -> dict[str, Any]:
    """The world as someone bringing their own data would have it, for `--source csv`: one
    interactions file (epoch seconds, no live streams) and one items file whose creators are names,
    not numbers. The column names are the CSV source's defaults."""
    os.makedirs(folder, exist_ok=True)
    videos = world.items[world.items["item_type"] == "video"]
    events = world.events[world.events["item_id"].isin(videos["item_id"])]
    interactions = pd.DataFrame({
        "user_id": events["user_id"], "item_id": events["item_id"],
        "timestamp": (events["ts"] - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1),
        **{flag: events[flag] for flag in ("is_click", "is_long_view", "is_like", "is_follow")},
    })
    items = pd.DataFrame({"item_id": videos["item_id"], "creator_id": "creator-" + videos["creator_id"].astype(str),
                          "category": videos["category"]})
    interactions.to_csv(os.path.join(folder, "interactions.csv"), index=False)
    items.to_csv(os.path.join(folder, "items.csv"), index=False)
    days = pd.to_datetime(interactions["timestamp"], unit="s").dt.strftime("%Y-%m-%d")
    mark_complete_through(folder, days.max())
    return {"root": os.path.abspath(folder), "interactions": len(interactions), "items": len(items),
            "days": sorted(days.unique().tolist())}


class SyntheticSource:
    """The generated world's landing files: one events CSV per UTC day, catalogue snapshots."""

    name = "synthetic"
    day_timezone = "UTC"

    def __init__(self, config: Config) -> None:
        self.root = landing_root(config)

    def raw_events(self, spark, ds: str):  # noqa: ANN001, ANN201 - SparkSession -> DataFrame
        from pyspark.sql import functions as F

        path = os.path.join(self.root, "events", f"ds={ds}", "events.csv")
        raw = read_csv_strings(spark, path, "bronze.events")
        if "is_rand" not in raw.columns:
            raw = raw.withColumn("is_rand", F.lit("0"))
        return raw.withColumn("source_file", F.lit(path))

    def raw_catalogue(self, spark, name: str):  # noqa: ANN001, ANN201
        from pyspark.sql import functions as F

        path = os.path.join(self.root, f"{name}.csv")
        return read_csv_strings(spark, path, f"bronze.{name}").withColumn("source_file", F.lit(path))

    def available_days(self, spark) -> list[str]:  # noqa: ANN001 - SparkSession
        folder = os.path.join(self.root, "events")
        if not os.path.isdir(folder):
            return []
        return sorted(name[3:] for name in os.listdir(folder) if name.startswith("ds="))


def true_pair_probabilities(root: str, user_ids: np.ndarray, item_ids: np.ndarray) -> dict[str, np.ndarray]:
    """The world's true outcome probabilities for (user, item) pairs, from the kept truth."""
    users = pd.read_parquet(os.path.join(root, "truth", "users.parquet")).set_index("user_id")
    items = pd.read_parquet(os.path.join(root, "truth", "items.parquet")).set_index("item_id")
    interest_columns = [c for c in users.columns if c.startswith("interest_")]
    interest = users[interest_columns].to_numpy()
    category_position = {c[len("interest_"):]: k for k, c in enumerate(interest_columns)}
    user_pos = users.index.get_indexer(user_ids)
    item_rows = items.loc[item_ids]
    cat_pos = item_rows["category"].map(category_position).to_numpy()
    affinity = interest[user_pos, cat_pos] * len(interest_columns)
    return true_probabilities(affinity, item_rows["quality"].to_numpy())
