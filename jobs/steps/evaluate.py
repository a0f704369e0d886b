"""evaluate: does the plan help creators, and at what cost to users?

Re-plans ds's candidates under each policy of `allocation.policies` (each user's top-k of the
candidates, the linear creator-side optimiser, fairshot, and fairshot across a sweep of creator
weights) and sets them against a control that is a feed, not a strawman:
- synthetic world: the world's own user-side feed (`jobs.world.control`), ranking every item on
  the shelf, old and new, in the same users' creator-side slots on ds+1 (`world_feed`); user value
  kept is measured against it;
- real logs: the logging feed's first k_u exposures on ds+1 of each planned user who came, k_u the
  user's slots in the plan, scored by the estimator that scores the plans (`logged_slots`: like for
  like, and the baseline of user value kept); beside it everything the feed showed those users,
  with its observed outcomes (`logged`: its totals count the whole feed, so only its shares compare).
Every plan is scored against the best truth there is about the day it is for (`allocation.evaluation`):
- synthetic world: its true outcome probabilities and who really came (its kept truth);
- real logs: who came on ds+1 according to the next day's events (ingested here if the source has
  them), with the models' outcome estimates for pairs nobody was shown;
- otherwise: the model's own estimates, labelled as such.
Results land in `audit.policy_evaluation`, per-item exposure of the main policies in
`audit.policy_item_exposure`, and the forward calibration of ds's availability in
`audit.availability_calibration`.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from allocation import metrics
from allocation.evaluation import (
    Scoring,
    item_exposure_under,
    replay,
    score_exposures,
    score_plan,
    user_value_kept,
    value_at_like_mean,
)
from allocation.happiness import creator_lambda
from allocation.policies import CREATOR_LINEAR, FAIRSHOT, USER_SIDE, run_policies
from jobs.config import Config
from jobs.dates import shift
from jobs.steps.allocate.problem import ProblemFrames, happiness_curve
from jobs.steps.allocate.spark_problem import count_pairs
from jobs.steps.allocate.step import load_problem, solver_from_config
from jobs.steps.common import StepOutput, staged_run_id
from jobs.warehouse import io
from jobs.warehouse.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOG = logging.getLogger(__name__)
WORLD_FEED, LOGGED_SLOTS, LOGGED = "world_feed", "logged_slots", "logged"
MAIN_POLICIES = (WORLD_FEED, LOGGED_SLOTS, LOGGED, USER_SIDE, CREATOR_LINEAR, FAIRSHOT)
OUTCOMES = ("click", "long_view", "like", "follow", "skip")
REPLAY_COLUMNS = ("replay_matched", "replay_like_rate", "replay_like_ci", "replay_long_view_rate", "replay_long_view_ci")


def _true_value(config: Config, probabilities: dict[str, np.ndarray]) -> np.ndarray:
    weights = config["allocation"]["value_weights"]
    return sum(weights[name] * probabilities[name] for name in OUTCOMES)


def model_scoring(config: Config, frames: ProblemFrames) -> Scoring:
    """The model's own estimates, with likes at their calibrated means, not the optimism new items
    are planned with (`p_like_mean`; candidates written before it was kept score with p_like)."""
    pairs = frames.pairs
    mean = pairs["p_like_mean"].to_numpy(float) if "p_like_mean" in pairs else None
    return Scoring.from_model(frames.problem, pairs["p_long_view"].to_numpy(float), pairs["p_skip"].to_numpy(float),
                              like_mean=mean, like_weight=float(config["allocation"]["value_weights"]["like"]))


def _synthetic_truth(config: Config, frames: ProblemFrames, day: str) -> Scoring | None:
    from jobs.sources.synthetic import landing_root, true_pair_probabilities

    root = landing_root(config)
    activity_path = os.path.join(root, "truth", "activity.parquet")
    if not os.path.exists(activity_path):
        return None
    activity = pd.read_parquet(activity_path, columns=["user_id", "ds", "active"])
    activity = activity[activity["ds"] == day].set_index("user_id")["active"]
    if activity.empty:
        return None
    pairs = frames.pairs
    truth = true_pair_probabilities(root, pairs["user_id"].to_numpy(), pairs["item_id"].to_numpy())
    model = model_scoring(config, frames)
    active = frames.users["user_id"].map(activity).fillna(False).to_numpy(float)
    return Scoring("synthetic truth", active, model.pair_seen_if_active, _true_value(config, truth),
                   truth["like"], truth["long_view"], truth["skip"])


def _next_day_logs(config: Config, frames: ProblemFrames, day: str, spark: SparkSession) -> Scoring | None:
    """Who was active on `day` per bronze.events, ingesting that day first if the source has it."""
    from jobs.sources.base import make_source
    from jobs.steps import ingest

    def present() -> bool:
        return bool(io.read_table(spark, config, "bronze.events", ds=day).limit(1).count())

    if not present() and day in make_source(config).available_days(spark):
        ingest.run(config, day, spark)
    if not present():
        return None
    came = {r.user_id for r in io.read_table(spark, config, "bronze.events", ds=day)
            .select("user_id").distinct().collect()}
    model = model_scoring(config, frames)
    active = frames.users["user_id"].isin(came).to_numpy(float)
    return Scoring("next-day logs", active, model.pair_seen_if_active, model.pair_value, model.pair_like,
                   model.pair_long_view, model.pair_skip)


def scoring_for(config: Config, frames: ProblemFrames, ds: str, spark: SparkSession) -> Scoring:
    day = shift(ds, 1)
    found = (_synthetic_truth(config, frames, day) if config["source"]["kind"] == "synthetic"
             else _next_day_logs(config, frames, day, spark))
    if found is None:
        LOG.warning("evaluate ds=%s: no truth about %s yet; scoring against the model's own estimates", ds, day)
        found = model_scoring(config, frames)
    return found


@dataclass(frozen=True)
class Scored:
    """A control's exposures: per row, the item's position among the problem's items (-1 for
    another item), how many exposures, and the value and outcome rates per exposure."""

    policy: str
    item: np.ndarray
    exposure: np.ndarray
    value: np.ndarray
    like: np.ndarray
    long_view: np.ndarray
    skip: np.ndarray
    seconds: float
    truth: str = ""


def world_feed_control(config: Config, frames: ProblemFrames, scoring: Scoring, ds: str) -> Scored | None:
    """The synthetic world's feed in the plan's users' slots on ds+1, under the world's truth."""
    from jobs.sources.synthetic import landing_root, true_pair_probabilities
    from jobs.world.control import world_feed_in_plan_slots

    if scoring.truth != "synthetic truth":
        return None
    started = time.perf_counter()
    slots = world_feed_in_plan_slots(config, landing_root(config), ds, frames.users, scoring.user_active > 0.5)
    if slots is None:
        return None
    truth = true_pair_probabilities(landing_root(config), slots.user_id, slots.item_id)
    item = pd.Index(frames.items["item_id"]).get_indexer(slots.item_id)
    return Scored(WORLD_FEED, item, np.ones(item.size), _true_value(config, truth), truth["like"],
                  truth["long_view"], truth["skip"], time.perf_counter() - started)


def logged_control(config: Config, frames: ProblemFrames, scoring: Scoring, ds: str,
                   spark: SparkSession) -> Scored | None:
    """What the logging feed showed the plan's users on ds+1, with the outcomes it observed."""
    from features.users import logged_outcomes_per_item

    if scoring.truth != "next-day logs":
        return None
    started = time.perf_counter()
    events = io.read_table(spark, config, "bronze.events", ds=shift(ds, 1))
    users = spark.createDataFrame(frames.users[["user_id"]])
    per_item = logged_outcomes_per_item(events, users).toPandas()   # one row per item shown
    if per_item.empty:
        return None
    n = per_item["exposures"].to_numpy(float)
    rate = {name: per_item[name].to_numpy(float) / n for name in OUTCOMES}
    item = pd.Index(frames.items["item_id"]).get_indexer(per_item["item_id"])
    return Scored(LOGGED, item, n, _true_value(config, rate), rate["like"], rate["long_view"], rate["skip"],
                  time.perf_counter() - started, truth="observed: logged on ds+1")


def logged_in_plan_slots(config: Config, frames: ProblemFrames, scoring: Scoring, ds: str,
                         spark: SparkSession) -> Scored | None:
    """Like for like on real logs: the logging feed's first k_u exposures on ds+1 of each planned
    user who came (k_u the user's creator-side slots in the plan), among the items ds knew, scored
    by the estimator that scores the plans (`score_as_planned`: ds's features and heads, likes at
    their calibrated means). The same users, the same number of slots, the same estimator: what
    the feed would have done with the slots fairshot plans."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from jobs.steps.candidates.ranking import FeatureContexts, score_as_planned

    if scoring.truth != "next-day logs":
        return None
    started = time.perf_counter()
    slots = spark.createDataFrame(frames.users[["user_id", "slot_capacity"]])
    known = io.read_table(spark, config, "silver.item_features", ds=ds).select("item_id")
    first = (io.read_table(spark, config, "bronze.events", ds=shift(ds, 1)).join(slots, "user_id").join(known, "item_id")
             .withColumn("_slot", F.row_number().over(Window.partitionBy("user_id").orderBy("ts", "item_id")))
             .where(F.col("_slot") <= F.col("slot_capacity"))
             .groupBy("user_id", "item_id").agg(F.count(F.lit(1)).alias("exposures")))
    scored = score_as_planned(FeatureContexts(config, spark), ds, first.select("user_id", "item_id"))
    if scored is None:
        return None
    rows = (first.join(scored.select("user_id", "item_id", "user_value", "p_like", "p_like_mean", "p_long_view",
                                     "p_skip"), ["user_id", "item_id"])
            .orderBy("user_id", "item_id").toPandas())
    if rows.empty:
        return None
    value = value_at_like_mean(rows["user_value"].to_numpy(float), rows["p_like"].to_numpy(float),
                               rows["p_like_mean"].to_numpy(float), float(config["allocation"]["value_weights"]["like"]))
    item = pd.Index(frames.items["item_id"]).get_indexer(rows["item_id"])
    return Scored(LOGGED_SLOTS, item, rows["exposures"].to_numpy(float), value, rows["p_like_mean"].to_numpy(float),
                  rows["p_long_view"].to_numpy(float), rows["p_skip"].to_numpy(float), time.perf_counter() - started)


def random_exposures(config: Config, frames: ProblemFrames, ds: str, spark: SparkSession) -> pd.DataFrame | None:
    """ds+1's random exposures (`is_rand` = 1: the logging feed did not choose them) of the problem's
    users, each with its pair's position in the problem (-1: not a candidate pair) and its observed
    like and long view; None on a day without any (the synthetic world, a CSV)."""
    from pyspark.sql import functions as F

    events = io.read_table(spark, config, "bronze.events", ds=shift(ds, 1)).where(F.col("is_rand") == 1)
    users = spark.createDataFrame(frames.users[["user_id"]])
    shown = events.join(users, "user_id").select("user_id", "item_id", "is_like", "is_long_view").toPandas()
    if shown.empty:
        return None
    pairs = pd.MultiIndex.from_frame(frames.pairs[["user_id", "item_id"]])
    return shown.assign(pair=pairs.get_indexer(pd.MultiIndex.from_frame(shown[["user_id", "item_id"]])))


def replay_figures(exposures: pd.DataFrame | None, x: np.ndarray | None) -> dict[str, float]:
    """The policy (plan x; None: the random exposures themselves) replayed on `random_exposures`."""
    if exposures is None:
        return {}
    return replay(exposures["pair"].to_numpy(), x, {"like": exposures["is_like"].to_numpy(float),
                                                     "long_view": exposures["is_long_view"].to_numpy(float)})


def evaluate_policies(config: Config, frames: ProblemFrames, scoring: Scoring, rid: str,
                      predicted_for: str, controls: Sequence[Scored] = (),
                      replayed: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per policy, per-item exposure of the main policies) for one problem and truth; the
    controls come first, and the one in the plans' slots is the baseline of user value kept
    (`baseline_policy`; else the top-k).
    `replayed`: the day's random exposures (`random_exposures`), on which every policy is also
    scored by replay, observed rather than estimated."""
    e = config["evaluation"]
    problem = frames.problem
    is_new = frames.items["is_new"].to_numpy(bool)
    is_new_creator = frames.creators["is_new_creator"].to_numpy(bool)
    share = frames.user_share
    curve = happiness_curve(config)     # the night's: a sample's problem carries tau x its share
    plans = run_policies(problem, solver_from_config(config, problem.n_pairs), tuple(float(w) for w in e["creator_weights"]),
                         weight=config["allocation"]["creator_weight"],
                         lambda_of=lambda w: share * creator_lambda(w, curve, problem.pair_value))
    rows, exposures = [], []

    def row_of(policy: str, weight: float, seconds: float, error: str | None, truth: str) -> dict[str, object]:
        return {"run_id": rid, "predicted_for": predicted_for, "policy": policy, "creator_weight": weight,
                "truth": truth, "reach_threshold": float(e["reach_threshold"]), "n_new_items": int(is_new.sum()),
                "user_share": share, "solve_seconds": seconds, "error": error}

    def exposure_rows(policy: str, item_exposure: np.ndarray) -> pd.DataFrame:
        return frames.items[["item_id", "creator_id", "is_new"]].assign(
            run_id=rid, policy=policy, exposure=item_exposure / share,
            creator_trailing_likes=frames.creators["trailing_likes"].to_numpy(float)[problem.item_creator])

    for control in controls:
        figures = score_exposures(problem, control.item, control.exposure, value=control.value, like=control.like,
                                  long_view=control.long_view, skip=control.skip, is_new_item=is_new,
                                  is_new_creator=is_new_creator, reach_threshold=e["reach_threshold"],
                                  user_share=share)
        rows.append({**row_of(control.policy, float("nan"), control.seconds, None, control.truth or scoring.truth),
                     **figures, "uac_hit_rate": float("nan"),
                     **(replay_figures(replayed, None) if control.policy == LOGGED else {})})
        planned = control.item >= 0
        exposures.append(exposure_rows(control.policy, np.bincount(
            control.item[planned], weights=control.exposure[planned], minlength=problem.n_items)))
    for plan in plans:
        row = row_of(plan.policy, plan.creator_weight, plan.seconds, plan.error, scoring.truth)
        if plan.x is None:
            LOG.warning("evaluate: policy %s has no plan (%s); recorded, the rest goes on", plan.policy, plan.error)
            rows.append(row)
            continue
        figures = score_plan(problem, plan.x, scoring, is_new_item=is_new, is_new_creator=is_new_creator,
                             reach_threshold=e["reach_threshold"], user_share=share)
        rows.append({**row, **figures, **replay_figures(replayed, plan.x)})
        if plan.policy in MAIN_POLICIES:
            exposures.append(exposure_rows(plan.policy, item_exposure_under(problem, plan.x, scoring)))
    table = pd.DataFrame(rows)
    table = table.reindex(columns=list(dict.fromkeys([*table.columns, *REPLAY_COLUMNS])))
    # a failed variant's figures are NaN, and so are the replay's where the day has no random exposure
    base = baseline_policy(table)
    baseline = float(table.loc[table["policy"] == base, "user_value"].iloc[0])
    table["user_value_kept"] = [user_value_kept(v, baseline) for v in table["user_value"]]
    table.loc[table["policy"] == LOGGED, "user_value_kept"] = float("nan")   # its totals are the whole feed's
    return table, pd.concat(exposures, ignore_index=True)


def control_policy(table: pd.DataFrame) -> str:
    """The row set beside fairshot's headline figures: a feed in the plans' own slots where there is
    one (the world's, or the logged feed's first k_u), else the whole logged feed, else the top-k."""
    present = set(table["policy"])
    return next((name for name in (WORLD_FEED, LOGGED_SLOTS, LOGGED) if name in present), USER_SIDE)


def baseline_policy(table: pd.DataFrame) -> str:
    """What user value kept is measured against: a feed in the same slots, scored by the same
    truth, where there is one and its value is above zero (a share of a negative value says
    nothing: on KuaiRand the logged feed's skips outweigh its long views), else each user's top-k
    of the candidates. The whole logged feed's totals cover every slot, so it is never the baseline."""
    value = table.set_index("policy")["user_value"] if "user_value" in table else pd.Series(dtype=float)
    return next((name for name in (WORLD_FEED, LOGGED_SLOTS) if value.get(name, 0.0) > 0), USER_SIDE)


def calibration_frame(frames: ProblemFrames, scoring: Scoring, rid: str, predicted_for: str,
                      bins: int) -> pd.DataFrame:
    """Reliability of ds's p_active for the day it predicts (forward, not the backtest)."""
    if scoring.truth == "model estimates":
        return pd.DataFrame(columns=["run_id", "predicted_for", "truth", "bin", "n_users", "mean_predicted",
                                     "observed_rate"])
    points = metrics.calibration_bins(frames.problem.user_availability, scoring.user_active, bins)
    return pd.DataFrame([{"run_id": rid, "predicted_for": predicted_for, "truth": scoring.truth,
                          "bin": p["bin"], "n_users": p["n"], "mean_predicted": p["mean_predicted"],
                          "observed_rate": p["observed_rate"]} for p in points])


def run(config: Config, ds: str, spark: SparkSession | None = None) -> StepOutput:
    spark = spark or get_spark(config)
    rid = staged_run_id(spark, config, ds)
    frames = load_problem(config, ds, spark, user_share=evaluation_share(config, count_pairs(config, ds, spark)))
    scoring = scoring_for(config, frames, ds, spark)
    predicted_for = shift(ds, 1)
    controls = [control for control in (world_feed_control(config, frames, scoring, ds),
                                        logged_in_plan_slots(config, frames, scoring, ds, spark),
                                        logged_control(config, frames, scoring, ds, spark)) if control is not None]
    replayed = random_exposures(config, frames, ds, spark) if scoring.truth == "next-day logs" else None
    table, exposures = evaluate_policies(config, frames, scoring, rid, predicted_for, controls, replayed)
    calibration = calibration_frame(frames, scoring, rid, predicted_for, config["evaluation"]["calibration_bins"])
    output = StepOutput("evaluate", ds)
    for key, frame in (("audit.policy_evaluation", table), ("audit.policy_item_exposure", exposures),
                       ("audit.availability_calibration", calibration)):
        output.versions[key] = io.write_partition(spark, config, key, io.frame_from_pandas(spark, key, frame),
                                                  ds=ds, run_id=rid)
    output.figures["policies"] = policy_table(table)
    output.figures["user_share"] = frames.user_share
    LOG.info("evaluate ds=%s against %s%s:\n%s", ds, scoring.truth, sample_words(frames.user_share),
             output.figures["policies"])
    return output


def evaluation_share(config: Config, n_pairs: int) -> float:
    """The share of the night's users the policies are re-solved for: all of them up to
    `evaluation.max_pairs` candidate pairs; above, a seeded sample holding about that many, so that
    evaluating a night costs the driver O(max_pairs), not O(the night's pairs), at any scale."""
    limit = config["evaluation"]["max_pairs"]
    return 1.0 if n_pairs <= limit else limit / n_pairs


def sample_words(share: float) -> str:
    """'' for the whole night, else how much of it the figures stand for."""
    return "" if share >= 1.0 else f" (policies re-solved for a {share:.1%} sample of users; figures scaled to the night)"


def in_display_order(table: pd.DataFrame) -> pd.DataFrame:
    """The baseline, the linear plan and fairshot first, then the sweep by creator weight."""
    main = table["policy"].map({name: k for k, name in enumerate(MAIN_POLICIES)}).fillna(len(MAIN_POLICIES))
    return (table.assign(_main=main, _w=table["creator_weight"].fillna(-1.0)).sort_values(["_main", "_w"])
            .drop(columns=["_main", "_w"]).reset_index(drop=True))


def policy_table(table: pd.DataFrame) -> str:
    """The policy comparison as fixed-width text, for stdout and logs."""
    table = in_display_order(table)
    e_value = table["reach_threshold"].iloc[0]
    header = (f"{'policy':18} {'user value':>10} {'kept':>6} {'likes':>8} {'long views':>10} {'skips':>8} "
              f"{f'reach-{e_value:g}':>9} {'new cov.':>8} {'creators':>8} {'new cr.':>7} {'Gini':>6} "
              f"{'top1%':>6} {'happy+':>7} {'UAC hit':>7}")
    lines = [f"scored against {table['truth'].iloc[0]} for {table['predicted_for'].iloc[0]}; "
             f"{table['n_new_items'].iloc[0]} new items", header]
    for r in table.itertuples():
        if isinstance(r.error, str) and r.error:
            lines.append(f"{r.policy:18} no plan: {r.error}")
            continue
        lines.append(
            f"{r.policy:18} {r.user_value:10.1f} {_share(r.user_value_kept, 6)} {r.expected_likes:8.1f} "
            f"{r.expected_long_views:10.1f} {r.expected_skips:8.1f} {r.expo_reach:9.0f} {r.new_item_coverage:8.1%} "
            f"{r.creators_with_like_share:8.1%} {r.new_creators_with_like_share:7.1%} {r.exposure_gini:6.3f} "
            f"{r.top1_share:6.1%} {r.happiness_gain:7.2f} {_share(r.uac_hit_rate, 7)}")
    replayed = table[table["replay_matched"].notna()] if "replay_matched" in table else table.iloc[:0]
    if not replayed.empty:
        lines.append("observed, replayed on ds+1's random exposures (a policy's pairs weighted by x; logged: "
                     "the random exposures themselves):")
        for r in replayed.itertuples():
            lines.append(f"  {r.policy:16} matched {r.replay_matched:8.1f}  likes per exposure "
                         f"{r.replay_like_rate:.4f} ± {r.replay_like_ci:.4f}  long views per exposure "
                         f"{r.replay_long_view_rate:.4f} ± {r.replay_long_view_ci:.4f}")
    return "\n".join(lines)


def _share(value: float, width: int) -> str:
    """A percentage, or a dash where the figure does not apply (a feed's UAC hit rate)."""
    return f"{'–':>{width}}" if pd.isna(value) else f"{value:{width}.1%}"
