"""`fairshot simulate`: the synthetic world as a closed loop, every arm against control, per seed.

The arms (`jobs.simulation.arms`: control and treatment unless `--arm` names others: variants of
the config, the baselines boost and explore) start from the same generated history and the same
random streams. Every simulated day:
1. creators join and post, users come (`world.open_day`);
2. the feed serves every request (`feed.serve`): in the control arm the user-side feed alone; in a
   plan arm (treatment, a variant) the same feed with its creator-side share taken from fairshot's
   plan published the night before, read through the feed contract (`jobs.warehouse.feed_reader`),
   as the online feed would; in a baseline arm that share from `feed.baseline_plan`, no job run;
3. outcomes are drawn from the truth; creators and users respond (`world.serve_and_observe`,
   `world.close_day`); the day's figures are recorded (`metrics.day_metrics`);
4. plan arms only: the day's logs and catalogue land as the synthetic source's files and the real
   nightly job (ingest -> features -> candidates -> allocate -> publish, backtests off, committed
   by delta-rs) runs on them in this Spark session (each night reusing the feature context of ds-1 that the night before
   built), so tomorrow's feed reads a plan made from what today's feed did. Before the first day
   each plan arm ingests the generated history in one pass (`pipeline.catch_up`) and plans its last day.
Each seed's plan arms keep their warehouses under `<warehouse>/simulation/<sim id>/seed=<seed>/arm=<arm>/`;
the figures land in the main warehouse's `audit.simulation_daily` and `audit.simulation_summary`.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from jobs.config import Config
from jobs.errors import ConfigError, FairshotError
from jobs.simulation.arms import BASELINES, Arm, parse_arms
from jobs.simulation.metrics import day_metrics, summarize
from jobs.sources.landing import mark_complete_through
from jobs.sources.synthetic import WorldParams, generate_world, landing_root, write_landing
from jobs.steps.candidates.ranking import feature_contexts_kept_across_nights
from jobs.warehouse import io, storage
from jobs.warehouse.feed_reader import read_published_plan
from jobs.world.dynamics import WorldState, close_day, open_day, serve_and_observe, state_after_history
from jobs.world.feed import baseline_plan, plan_positions, serve
from jobs.world.settings import dynamics_from_config, feed_from_config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOG = logging.getLogger(__name__)
STAMP = "%Y-%m-%d %H:%M:%S"


@dataclass
class SimulationOutput:
    sim_id: str
    daily: pd.DataFrame
    summary: pd.DataFrame
    nightly_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0
    report_path: str = ""


def plan_window_days(features: dict) -> int:
    """The oldest item (in days) a night may plan: the ceilings' window. The lifecycle may hold an item
    up to its maximum age (most leave sooner, graduated or judged); the age window, new_item_days."""
    return int(features["new_item_days"] if features["plan_window"] == "age" else features["max_plan_age_days"])


def simulation_id(config: Config, days: int, seeds: list[int], arms: list[Arm] | None = None) -> str:
    """Same config, days, seeds and arms: same id, so a rerun replaces its rows instead of adding more."""
    named = "" if arms is None or arms == parse_arms(None) else f"|{arms}"
    digest = hashlib.sha256(f"{config.hash}|{days}|{seeds}{named}".encode()).hexdigest()[:10]
    return f"sim-{digest}"


def seeds_of(config: Config, n_seeds: int) -> list[int]:
    return [int(config["seed"]) + k for k in range(n_seeds)]


def _arm_config(config: Config, root: str, seed: int) -> Config:
    """The treatment's nightly job: its own scratch warehouse, backtests off, and delta-rs for the
    commits (the two engines write the same rows, tests/test_airflow_dag.py; delta-rs commits a
    small table about 2x faster, benchmarks/storage_engines.py, and a night makes ~30 commits)."""
    return config.with_overrides([f"seed={seed}", f"storage.warehouse={root}", "source.path=",
                                  "storage.engine=delta-rs",
                                  "features.backtests=false", "candidates.backtests=false"])


def _catalogue(state: WorldState) -> dict[str, pd.DataFrame]:
    """Creators and items as the source's snapshot files hold them at the end of `state.day`."""
    base = np.datetime64(state.start.isoformat(), "s")

    def at(day: np.ndarray, seconds: np.ndarray) -> pd.Series:
        return pd.Series(base + (np.asarray(day) * 86_400 + np.asarray(seconds)).astype("timedelta64[s]"))

    creators = np.flatnonzero(state.creator_start <= state.day)
    items = np.flatnonzero(state.item_day <= state.day)
    live = state.is_live[items]
    live_day = state.item_day[items] + 1
    start = at(live_day, state.live_start_seconds[items])
    end = at(live_day, state.live_start_seconds[items] + state.live_length[items])
    return {
        "creators": pd.DataFrame({"creator_id": creators + 1,
                                  "created_at": at(state.creator_start[creators], np.zeros(creators.size, np.int64)),
                                  "followers": state.followers[creators]}),
        "items": pd.DataFrame({"item_id": items + 1, "creator_id": state.item_creator[items] + 1,
                               "category": state.categories[state.item_category[items]],
                               "item_type": np.where(live, "live", "video"),
                               "created_at": at(state.item_day[items], state.created_seconds[items]),
                               "duration_s": state.duration[items], "live_start": start.where(live),
                               "live_end": end.where(live)}),
    }


def land_day(state: WorldState, events: pd.DataFrame, root: str) -> None:
    """The day's logs and catalogue snapshots, as the synthetic source drops them."""
    ds = state.date(state.day).isoformat()
    folder = os.path.join(root, "events", f"ds={ds}")
    os.makedirs(folder, exist_ok=True)
    events.assign(ts=events["ts"].dt.strftime(STAMP)).to_csv(os.path.join(folder, "events.csv"), index=False)
    for name, frame in _catalogue(state).items():
        frame.to_csv(os.path.join(root, f"{name}.csv"), index=False, date_format=STAMP)
    mark_complete_through(root, ds)


def _nightly(config: Config, ds: str, spark: SparkSession, steps: tuple[str, ...]) -> float:
    from jobs import pipeline

    started = time.perf_counter()
    pipeline.run_day(config, ds, spark, steps=steps)
    return time.perf_counter() - started


def _plan_arm_setup(config: Config, arm: Arm, root: str, seed: int, world, history: list[str],  # noqa: ANN001
                    spark: SparkSession, steps: tuple[str, ...]) -> tuple[Config, str, float]:
    """A plan arm's own warehouse and landing, its history ingested in one pass and its first night
    run: (its config, its landing folder, the first night's seconds)."""
    from jobs import pipeline

    arm_config = _arm_config(config.with_overrides(list(arm.overrides)), os.path.join(root, f"arm={arm.name}"), seed)
    landing = landing_root(arm_config)
    write_landing(world, landing)
    started = time.perf_counter()
    pipeline.catch_up(arm_config, history[-1], spark)
    pipeline.run_day(arm_config, history[-1], spark, steps=steps)
    return arm_config, landing, time.perf_counter() - started


def simulate_seed(config: Config, spark: SparkSession, seed: int, days: int, root: str,
                  sim_id: str, arms: list[Arm] | None = None) -> tuple[pd.DataFrame, list[float]]:
    """One seed: every arm over `days` simulated days (control and treatment if `arms` is None).
    Returns the daily figures and the nightly job's seconds per night and plan arm."""
    shutil.rmtree(root, ignore_errors=True)
    arms = arms or parse_arms(None)
    base_config = _arm_config(config, root, seed)
    params = WorldParams.from_config(base_config)
    world = generate_world(params)
    dynamics, feed = dynamics_from_config(base_config), feed_from_config(base_config)
    history = [(params.start + pd.Timedelta(days=d)).isoformat() for d in range(params.n_days)]
    steps = tuple(config["simulation"]["nightly_steps"])
    nightly: list[float] = []
    planned: dict[str, tuple[Config, str]] = {}
    for arm in arms:
        if arm.runs_nightly_job:
            arm_config, landing, seconds = _plan_arm_setup(config, arm, root, seed, world, history, spark, steps)
            planned[arm.name] = (arm_config, landing)
            nightly.append(seconds)
    start_state = state_after_history(world, dynamics)
    states = {arm.name: start_state.fork() for arm in arms}
    window_days = plan_window_days(config["features"])
    f = config["features"]
    rows = []
    for index in range(1, days + 1):
        for arm in arms:
            state = states[arm.name]
            today = open_day(state, dynamics)
            plan = None
            if arm.runs_nightly_job:
                published = read_published_plan(planned[arm.name][0]["storage"]["warehouse"],
                                                state.date(state.day - 1).isoformat())
                plan = plan_positions(published.feed_plan() if published is not None else None)
            elif arm.kind in BASELINES:
                plan = baseline_plan(state, today, feed, arm.kind, window_days)
            served = serve(state, today, feed, plan)
            events = serve_and_observe(state, dynamics, served.user, served.item)
            quits = close_day(state, dynamics)
            figures = day_metrics(state, today, served, dynamics, quits=quits,
                                  new_creator_days=f["new_creator_days"], new_item_days=window_days,
                                  reach_threshold=config["evaluation"]["reach_threshold"], first_day=0)
            rows.append({"run_id": sim_id, "seed": seed, "arm": arm.name, "day_index": index,
                         "date": state.date(state.day).isoformat(), "plan_published": plan is not None and len(plan) > 0,
                         **figures})
            if arm.runs_nightly_job and index < days:
                arm_config, landing = planned[arm.name]
                land_day(state, events, landing)
                nightly.append(_nightly(arm_config, state.date(state.day).isoformat(), spark, steps))
        LOG.info("simulate seed %s day %d/%d (%s): %s", seed, index, days, " | ".join(a.name for a in arms), {
            name: " | ".join(f"{r[name]:.3g}" for r in rows[-len(arms):]) for name in (
                "creators_with_like", "new_creators_posting", "new_item_coverage", "creator_exposure_gini",
                "user_value_per_active_user", "plan_exposures")})
    return pd.DataFrame(rows), nightly


def run(config: Config, spark: SparkSession, *, days: int | None = None, n_seeds: int | None = None,
        arms: list[str] | None = None) -> SimulationOutput:
    """Simulate every seed, then write the figures (and the report page) in one go. `arms`: the
    `--arm` specs (`jobs.simulation.arms`); none: control and treatment."""
    if config["source"]["kind"] != "synthetic":
        raise FairshotError("simulate runs the synthetic world only (source.kind=synthetic): "
                            "real logs cannot say what users would have done under another feed")
    started = time.perf_counter()
    days = int(days or config["simulation"]["days"])
    seeds = seeds_of(config, int(n_seeds or config["simulation"]["seeds"]))
    chosen = parse_arms(arms)
    sim_id = simulation_id(config, days, seeds, chosen)
    if storage.is_object_store(config["storage"]["warehouse"]):
        raise ConfigError(f"storage.warehouse: simulate keeps each arm's world in a local folder under the "
                          f"warehouse, and {config['storage']['warehouse']} is an object store; run it with a "
                          "local warehouse (--warehouse ./warehouse)")
    base = storage.join(config["storage"]["warehouse"], "simulation", sim_id)
    frames, nightly = [], []
    for seed in seeds:
        with feature_contexts_kept_across_nights():  # the loop never rewrites an ingested day
            daily, seconds = simulate_seed(config, spark, seed, days, os.path.join(base, f"seed={seed}"), sim_id,
                                           chosen)
        frames.append(daily)
        nightly.extend(seconds)
    daily = pd.concat(frames, ignore_index=True)
    summary = summarize(daily).assign(run_id=sim_id, days=days)
    fork_ds = str(daily["date"].min())
    for key, frame in (("audit.simulation_daily", daily), ("audit.simulation_summary", summary)):
        io.write_partition(spark, config, key, io.frame_from_pandas(spark, key, frame), ds=fork_ds, run_id=sim_id)
    output = SimulationOutput(sim_id, daily, summary, nightly, time.perf_counter() - started)
    from jobs.simulation.report import write_report

    output.report_path = write_report(config, output)
    return output
