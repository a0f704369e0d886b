"""The world's responses and its feed, as the config sets them (`simulation.*`): shared by the
closed loop and by the nightly evaluation's control, which must not import the loop (it runs the
pipeline, and the pipeline runs the evaluation)."""
from __future__ import annotations

from jobs.config import Config
from jobs.world.dynamics import Dynamics
from jobs.world.feed import FeedSettings


def dynamics_from_config(config: Config) -> Dynamics:
    s, sample = config["simulation"], config["sample"]
    joining = s["creators_joining_per_day"] or sample["new_creator_share"] * sample["n_creators"] / sample["n_days"]
    weights = config["allocation"]["value_weights"]
    return Dynamics(
        creators_joining_per_day=float(joining), items_per_creator_day=sample["items_per_creator_day"],
        posting_lift_at_10_likes=s["posting_lift_at_10_likes"], response_window_days=s["response_window_days"],
        quit_after_days=s["quit_after_days"], quit_probability=s["quit_probability"],
        user_value_elasticity=s["user_value_elasticity"], live_share=sample["live_share"],
        value_weights=tuple(float(weights[k]) for k in ("click", "long_view", "like", "follow", "skip")))


def feed_from_config(config: Config) -> FeedSettings:
    s = config["simulation"]
    return FeedSettings(temperature=s["feed_temperature"], interest_weight=s["feed_interest_weight"],
                        popularity_weight=s["feed_popularity_weight"],
                        freshness_days=s["feed_freshness_days"], engagement_prior=s["feed_engagement_prior"],
                        slot_share=config["features"]["slot_share"])
