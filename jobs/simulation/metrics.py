"""What a creator-ecosystem team reads off each simulated day, and off the whole run.

Outcomes are expected values under the world's true probabilities at the pairs actually served
(likes, long views, skips, user value): the draws drive the world, the expectations keep the
comparison between arms free of coin-flip noise. "Creators with >= 1 like" is the expected number
sum_c 1 - prod_i (1 - p_like), what creators experience, not a count of expected likes >= 1.

Two figures say how far any plan could have gone with the slots the treatment gave it, so that a
target missed can be told apart from a target out of reach at this `features.slot_share`:
- the like ceiling counts every posting creator with an item in the plan's window (posted within
  the days a night may plan an item: `features.max_plan_age_days` under the lifecycle,
  `features.new_item_days` under the age window) as surely liked, every other creator as served;
- the Gini floor keeps the feed's own exposures as served and pours the plan's exposures onto the
  least-exposed items of that window (water-filling, which minimises the Gini for a fixed total).
  Older items are the feed's: a plan that re-surfaced them would be another product.
Both drop the per-user limits a real plan obeys (capacity, one exposure per pair, which users
came), so they are bounds, not plans. An arm that served no plan has nothing to move: its ceiling
and floor are its own figures.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from allocation import metrics
from jobs.world.dynamics import Dynamics, Today, WorldState, exposure_value, true_outcome_rates
from jobs.world.feed import Served

RETENTION_DAYS = (7, 14, 28)
DISCOVERY_TOP_SHARE = 0.1   # "the truly best new items": the top tenth of a day's new items by true quality


def _share(part: float, whole: float) -> float:
    return float(part / whole) if whole > 0 else float("nan")


def day_metrics(state: WorldState, today: Today, served: Served, dynamics: Dynamics, *, quits: int,
                new_creator_days: int, new_item_days: int, reach_threshold: float,
                first_day: int) -> dict[str, float]:
    """The day's figures; call after the day's outcomes are observed. `first_day` is the first day of
    the generator's window: creators who joined from then on are the new-creator cohort;
    `new_item_days` is the plan's window in days (`loop.plan_window_days`), which the ceilings need."""
    day = state.day
    user, item = served.user, served.item
    rates = true_outcome_rates(state, user, item)
    value = exposure_value(rates, dynamics.value_weights)
    creator = state.item_creator[item]
    none_liked = np.exp(np.bincount(creator, weights=np.log1p(-np.minimum(rates["like"], 1 - 1e-12)),
                                    minlength=state.n_creators))
    with_like = 1.0 - none_liked
    posting = state.posting(day)
    new_creator = posting & (state.creator_start > day - new_creator_days)
    shelf = state.shelf(day)
    in_window = state.item_day[shelf] >= day - new_item_days   # the shelf's items a night plans
    exposure_today = np.bincount(item, minlength=state.n_items)
    fresh = np.flatnonzero(state.item_day == day - 1)
    matured = np.flatnonzero(state.item_day == day - 2)     # their first two days on the shelf are done
    n_active = today.users.size
    row: dict[str, float] = {
        "active_users": n_active, "exposures": item.size, "plan_exposures": int(served.from_plan.sum()),
        "active_creators": int(posting.sum()), "new_creators_posting": int((posting & state.creator_is_new
                                                                          & (state.creator_start >= first_day)).sum()),
        "creators_joined": today.joined, "creators_quit": quits, "items_posted": today.new_items.size,
        "creators_with_like": float(with_like[posting].sum()),
        "creators_with_like_share": _share(with_like[posting].sum(), posting.sum()),
        "new_creators_with_like": float(with_like[new_creator].sum()),
        "new_creators_with_like_share": _share(with_like[new_creator].sum(), new_creator.sum()),
        "new_item_coverage": _share(np.count_nonzero(exposure_today[fresh]), fresh.size),
        "exposure_gini": metrics.gini(exposure_today[shelf]),
        "creator_exposure_gini": metrics.gini(np.bincount(creator, minlength=state.n_creators)[posting]),
        "creator_exposure_gini_floor": _creator_gini_floor(state, creator[~served.from_plan], posting,
                                                           shelf[in_window], plan_exposures=int(served.from_plan.sum())),
        "exposure_gini_floor": _gini_floor(np.bincount(item[~served.from_plan], minlength=state.n_items)[shelf],
                                           in_window, plan_exposures=int(served.from_plan.sum())),
        "creators_with_like_ceiling": _like_ceiling(state, with_like, posting, shelf[in_window],
                                                    served_a_plan=bool(served.from_plan.any())),
        "top1_share": metrics.top_share(exposure_today[shelf], 0.01),
        "discovery": _discovery(state, matured, reach_threshold),
        "median_hours_to_first_like": _median_hours(state.first_like_hours[matured]),
        "liked_within_48h_share": _share(np.count_nonzero(state.first_like_hours[matured] <= 48.0), matured.size),
        "likes": float(rates["like"].sum()), "long_views": float(rates["long_view"].sum()),
        "skips": float(rates["skip"].sum()), "user_value": float(value.sum()),
    }
    for k in RETENTION_DAYS:
        cohort = state.creator_is_new & (state.creator_start >= first_day) & (state.creator_start <= day - k)
        row[f"new_creator_retention_{k}d"] = _share(np.count_nonzero(cohort & posting), cohort.sum())
    for name in ("likes", "long_views", "skips", "user_value"):
        row[f"{name}_per_active_user"] = _share(row[name], n_active)
    return row


def _like_ceiling(state: WorldState, with_like: np.ndarray, posting: np.ndarray, window_items: np.ndarray, *,
                  served_a_plan: bool) -> float:
    """Expected creators with >= 1 like had every creator with an item in the plan's window got one."""
    if not served_a_plan:
        return float(with_like[posting].sum())
    reachable = np.zeros(state.n_creators, dtype=bool)
    reachable[state.item_creator[window_items]] = True
    return float(np.where(reachable, 1.0, with_like)[posting].sum())


def _gini_floor(feed_exposures: np.ndarray, in_window: np.ndarray, *, plan_exposures: int) -> float:
    """The shelf's Gini had the plan's exposures gone to the least-exposed items of its window."""
    levelled = feed_exposures.astype(float)
    levelled[in_window] = water_filled(levelled[in_window], float(plan_exposures))
    return metrics.gini(levelled)


def _creator_gini_floor(state: WorldState, feed_creators: np.ndarray, posting: np.ndarray, window_items: np.ndarray,
                        *, plan_exposures: int) -> float:
    """The posting creators' exposure Gini had the plan's exposures gone to the least-exposed creators
    with an item in the plan's window, the feed's exposures as served."""
    exposures = np.bincount(feed_creators, minlength=state.n_creators).astype(float)
    reachable = np.zeros(state.n_creators, dtype=bool)
    reachable[state.item_creator[window_items]] = True
    reachable &= posting
    exposures[reachable] = water_filled(exposures[reachable], float(plan_exposures))
    return metrics.gini(exposures[posting])


def water_filled(amounts: np.ndarray, budget: float) -> np.ndarray:
    """`amounts` with `budget` more poured onto the smallest first, levelling them up: the most equal
    result of adding `budget`, so the lowest Gini it can reach."""
    amounts = np.asarray(amounts, dtype=float)
    if budget <= 0 or amounts.size == 0:
        return amounts.copy()
    low = np.sort(amounts)
    # Level after filling the j smallest: (budget + their sum) / j; the right j is the last whose level
    # still reaches its own largest member.
    levels = (budget + np.cumsum(low)) / np.arange(1, low.size + 1)
    level = levels[np.flatnonzero(levels >= low)[-1]]
    return np.maximum(amounts, level)


def _discovery(state: WorldState, items: np.ndarray, reach_threshold: float) -> float:
    """Share of the best of these items (true quality) with >= E exposures in their first two days."""
    if items.size == 0:
        return float("nan")
    best = items[np.argsort(-state.item_quality[items], kind="stable")[:max(1, int(round(DISCOVERY_TOP_SHARE
                                                                                         * items.size)))]]
    return float(np.mean(state.early_exposures[best] >= reach_threshold))


def _median_hours(hours: np.ndarray) -> float:
    """Median time to the first like; an item never liked counts as later than any that was."""
    if hours.size == 0:
        return float("nan")
    value = float(np.median(np.where(np.isnan(hours), np.inf, hours)))
    return value if np.isfinite(value) else float("nan")


SUMMARY_LAST_DAY = ("active_creators", "new_creators_posting", *(f"new_creator_retention_{k}d" for k in RETENTION_DAYS))
SUMMARY_MEAN = ("creators_with_like", "creators_with_like_ceiling", "creators_with_like_share",
                "new_creators_with_like", "new_creators_with_like_share", "new_item_coverage", "exposure_gini",
                "exposure_gini_floor", "creator_exposure_gini", "creator_exposure_gini_floor", "top1_share", "discovery", "median_hours_to_first_like",
                "liked_within_48h_share", "active_users", "items_posted")
SUMMARY_PER_ACTIVE_USER = ("likes", "long_views", "skips", "user_value")


def summarize(daily: pd.DataFrame) -> pd.DataFrame:
    """One row per (seed, metric, arm other than control): control, the arm's value, their ratio.
    Stocks are read on the last day, flows averaged over the days, and per-active-user outcomes
    pooled over the whole period."""
    rows = []
    for seed, one in daily.groupby("seed"):
        by_arm = {arm: frame.sort_values("day_index") for arm, frame in one.groupby("arm")}
        figures: dict[str, dict[str, float]] = {}
        for arm, frame in by_arm.items():
            f = {name: float(frame[name].iloc[-1]) for name in SUMMARY_LAST_DAY}
            f |= {name: float(frame[name].mean()) for name in SUMMARY_MEAN}
            f |= {f"{name}_per_active_user": _share(frame[name].sum(), frame["active_users"].sum())
                  for name in SUMMARY_PER_ACTIVE_USER}
            f["items_posted_total"] = float(frame["items_posted"].sum())
            figures[arm] = f
        control = figures.get("control", {})
        arms = [arm for arm in dict.fromkeys(one["arm"]) if arm != "control"]   # in the run's order
        for arm in arms:
            for name in control:
                c, t = control[name], figures[arm].get(name, float("nan"))
                rows.append({"seed": int(seed), "metric": name, "arm": arm, "control": c, "value": t,
                             "ratio": t / c if c not in (0.0,) and np.isfinite(c) else float("nan")})
    return pd.DataFrame(rows, columns=["seed", "metric", "arm", "control", "value", "ratio"])
