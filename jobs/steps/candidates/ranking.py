"""Train, apply and evaluate the ranking heads inside the candidates step.

Heads learn from the latest logged day's exposures, scored with the features of the day before,
and are written to `silver.ranking_heads`. Each run also measures them honestly: the heads trained
one day earlier (last night's, read back from that table, or trained again where last night did
not run under this config) predict ds's exposures (features of ds-1), beside the heuristic scores
they replace. On KuaiRand only the random-exposure
rows (`is_rand = 1`) are scored: the platform's recommender did not pick them, so they are the
unbiased test the dataset was made for. New items (as of the day before) are reported separately.

The same held-out rows fit a Platt map per head, written every night with the heads' reliability
curve (`audit.ranking_calibration`, the report). With `candidates.calibrate_heads` on (off by
default: a crash-and-rerun did not reproduce the maps to the last bit, and they would move the
plan), tonight's candidates are scored through them, and the next night applies yesterday's map
to the next heads' predictions of a day neither has seen (scorer `heads_calibrated`).
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import functions as F

from allocation import metrics
from features.embeddings import with_cold_start_factors
from features.items import PlanWindow, build_creator_features, build_item_features
from features.ranking import (
    HEADS,
    fit_heads,
    head_label,
    heads_from_table,
    platt_map,
    with_calibration,
    with_head_predictions,
    with_ranking_features,
)
from features.retrieval import optimistic_like_rate, score_candidates
from features.users import build_user_category_affinity, build_user_features
from jobs.config import Config
from jobs.dates import shift
from jobs.steps.common import job_id
from jobs.steps.features.factors import SILVER_FACTORS, fit_factors
from jobs.warehouse import io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from features.logistic import LogisticModel

LOG = logging.getLogger(__name__)


# The context's feature frames, and the silver tables the features step writes them to.
SILVER_FEATURES = {"user_features": "silver.user_features", "affinity": "silver.user_category_affinity",
                   "item_features": "silver.item_features", "creator_features": "silver.creator_features"}


def features_as_of(config: Config, spark: SparkSession, day: str, *,
                   from_silver: bool = False) -> dict[str, DataFrame] | None:
    """Everything the heads read, as known at the end of `day` (None if bronze lacks the day).

    The feature frames and ALS factors come from the features step: built here from bronze with
    its own transforms, or, `from_silver`, read from the silver tables that step wrote (only right
    when it wrote `day` under this config: `written_by_this_config`). Training (day before the
    labels) and scoring (ds) go through this one function either way, so their features cannot
    drift apart. New items take cold-start factors here, from the day's catalogue."""
    f, c = config["features"], config["candidates"]
    items = io.read_table(spark, config, "bronze.items", ds=day)
    if items.isEmpty():
        return None
    if from_silver:
        frames = {name: io.read_table(spark, config, key, ds=day) for name, key in SILVER_FEATURES.items()}
        user_factors, item_factors = (io.read_table(spark, config, key, ds=day).drop("ds")
                                      for key in SILVER_FACTORS.values())
    else:
        events = io.read_table(spark, config, "bronze.events", since=shift(day, -(f["lookback_days"] - 1)), until=day)
        users = io.read_table(spark, config, "bronze.users", ds=day)
        creators = io.read_table(spark, config, "bronze.creators", ds=day)
        frames = {"user_features": build_user_features(users, events, ds=day),
                  "affinity": build_user_category_affinity(events, items, prior_strength=f["affinity_prior_strength"]),
                  "item_features": build_item_features(items, events, ds=day, new_item_days=f["new_item_days"],
                                                       prior_strength=f["like_prior_strength"],
                                                       plan=PlanWindow.from_features(f)),
                  "creator_features": build_creator_features(creators, items, events, ds=day,
                                                             new_creator_days=f["new_creator_days"])}
        user_factors, item_factors = fit_factors(config, events)
    return {**frames, "user_factors": user_factors,
            "item_factors": with_cold_start_factors(items.select("item_id", "creator_id", "category", "item_type"),
                                                    item_factors, rank=c["als_rank"])}


def written_by_this_config(config: Config, day: str) -> bool:
    """Whether the features step's newest write of `day` (its features and ALS factors) was this
    config's run of it."""
    expected = job_id(config, day)
    return all(io.partition_writer(config, key, day) == expected
               for key in (*SILVER_FEATURES.values(), *SILVER_FACTORS.values()))


_KEPT: dict[tuple[str, str], dict[str, dict[str, DataFrame] | None]] | None = None
_KEPT_DAYS = 2


@contextlib.contextmanager
def feature_contexts_kept_across_nights() -> Iterator[None]:
    """Within the block, candidates steps of one warehouse and config share their feature contexts,
    so night ds reuses the context of ds-1 that night ds-1 built (one ALS fit a night, not two).
    Only for loops that never rewrite a bronze day once ingested, such as the simulation; a normal
    step builds its contexts afresh (ALS from bronze, features from silver where this config wrote
    them), because a backfill may have changed a day."""
    global _KEPT
    previous, _KEPT = _KEPT, {}
    try:
        yield
    finally:
        _KEPT = previous


class FeatureContexts:
    """One materialised feature context per day for the length of a step: training, evaluation and
    scoring all read the same few days, and a context built from bronze holds an ALS fit."""

    def __init__(self, config: Config, spark: SparkSession) -> None:
        self.config, self.spark = config, spark
        shared = _KEPT is not None
        key = (str(config["storage"]["warehouse"]), config.hash)
        self._days: dict[str, dict[str, DataFrame] | None] = _KEPT.setdefault(key, {}) if shared else {}
        self._shared = shared

    def get(self, day: str) -> dict[str, DataFrame] | None:
        if day in self._days:
            return self._days[day]
        # The features step's tables where it wrote the day under this config (a normal night: ds and
        # ds-1), else built again from bronze (the first night, a backfill under another config).
        from_silver = written_by_this_config(self.config, day)
        context = features_as_of(self.config, self.spark, day, from_silver=from_silver)
        # What was computed here is materialised once, and so are the factors (new items' cold-start
        # factors are computed here; the checkpoint also gives the heads' training rows the layout
        # they had when the factors were fitted here, so the plans stay the same bits); a silver
        # feature table is cheap to read again.
        kept = None if context is None else {
            name: frame if from_silver and name in SILVER_FEATURES else frame.localCheckpoint()
            for name, frame in context.items()}
        self._days[day] = kept
        if self._shared:  # the newest days only; a step's own older days stay in its local references
            for old in sorted(self._days)[:-_KEPT_DAYS]:
                if old != day:
                    del self._days[old]
        return kept


def labelled_exposures(contexts: FeatureContexts, day: str, *, random_only: bool = False) -> DataFrame | None:
    """`day`'s exposures with their outcomes and ranking features built from the day before."""
    config, spark = contexts.config, contexts.spark
    before = contexts.get(shift(day, -1))
    events = io.read_table(spark, config, "bronze.events", ds=day)
    if before is None or events.isEmpty():
        return None
    if random_only:
        events = events.where(F.col("is_rand") == 1)
    heuristic = _heuristic_scores(config, events.select("user_id", "item_id").distinct(), before)
    featured = with_ranking_features(heuristic, before)
    newness = before["item_features"].select("item_id", F.col("is_new").alias("item_was_new"))
    outcomes = events.select("user_id", "item_id", "is_click", "is_long_view", "is_like", "is_follow")
    return featured.join(newness, "item_id").join(outcomes, ["user_id", "item_id"])


def _heuristic_scores(config: Config, pairs: DataFrame, context: dict[str, DataFrame],
                      optimism_z: float = 0.0) -> DataFrame:
    """Shown (user, item) pairs scored by the heuristic model on `context`'s features, as if each
    user came (the pairs were shown, so p_active is 1)."""
    rows = pairs.select("user_id", "item_id", F.lit(0.0).alias("retrieval_score"), F.lit("logged").alias("source"),
                        F.lit(0).alias("tier"))
    everyone = context["user_features"].select("user_id", F.lit(1.0).alias("p_active"))
    return score_candidates(rows, context["item_features"], context["affinity"], everyone, context["user_features"],
                            value_weights=config["allocation"]["value_weights"], optimism_z=optimism_z)


def score_as_planned(contexts: FeatureContexts, ds: str, pairs: DataFrame) -> DataFrame | None:
    """Any (user_id, item_id) pairs scored as ds's candidates were: the heuristic on ds's features,
    then ds's heads through the Platt maps the night used, with the same optimism. `evaluate` grades
    what the logging feed chose with it, so that the feed and the plans are scored by one estimator
    (a pair that was a candidate gets the candidate's probabilities). None without ds's features."""
    config = contexts.config
    context, c = contexts.get(ds), config["candidates"]
    if context is None:
        return None
    models = heads_of(contexts, ds) if c["ranker"] == "heads" else {}
    if not models:      # the candidates step's own two branches: optimism in the heuristic, or on the heads
        return _heuristic_scores(config, pairs, context, optimism_z=c["optimism_z"])
    maps = maps_fitted_on(config, contexts.spark, ds) if c["calibrate_heads"] else {}
    return apply_heads(_heuristic_scores(config, pairs, context), models, context, optimism_z=c["optimism_z"],
                       value_weights=config["allocation"]["value_weights"], calibration=maps)


def train_heads(contexts: FeatureContexts, day: str) -> dict[str, LogisticModel]:
    training = labelled_exposures(contexts, day)
    if training is None:
        return {}
    config = contexts.config
    return fit_heads(training, reg_param=config["candidates"]["ranking_reg_param"],
                     max_rows=config["candidates"]["heads_max_rows"], seed=int(config["seed"]))


def heads_of(contexts: FeatureContexts, day: str) -> dict[str, LogisticModel]:
    """The heads trained on `day`'s exposures: read from `silver.ranking_heads` where this config's
    candidates step wrote them for `day` (a normal night's yesterday), else trained again. Either
    way the same rows and the same fit (`features.logistic` orders its rows), so a night's backtest
    does not depend on whether last night ran."""
    config, spark = contexts.config, contexts.spark
    if io.partition_writer(config, "silver.ranking_heads", day) == job_id(config, day):
        return heads_from_table(io.read_table(spark, config, "silver.ranking_heads", ds=day).toPandas())
    return train_heads(contexts, day)


@dataclass
class HeadBacktest:
    """What the night's backtest of the heads found: figures per head and scorer, reliability points,
    and the Platt maps fitted on the held-out day (for tonight's candidates)."""

    evaluation: pd.DataFrame = field(default_factory=pd.DataFrame)
    reliability: pd.DataFrame = field(default_factory=pd.DataFrame)
    maps: dict[str, tuple[float, float]] = field(default_factory=dict)


def maps_fitted_on(config: Config, spark: SparkSession, day: str) -> dict[str, tuple[float, float]]:
    """The Platt maps the night of `day` fitted in its backtest (and scored its candidates through,
    under `candidates.calibrate_heads`), from `audit.ranking_evaluation`."""
    rows = (io.read_table(spark, config, "audit.ranking_evaluation", ds=day)
            .where((F.col("scorer") == "heads") & (F.col("items") == "all") & F.col("platt_slope").isNotNull())
            .select("head", "platt_slope", "platt_intercept").collect())
    return {r["head"]: (float(r["platt_slope"]), float(r["platt_intercept"])) for r in rows}


def evaluate_heads(contexts: FeatureContexts, ds: str) -> HeadBacktest:
    """Heads trained on ds-1 predict ds; the heuristic scores on the same rows are the baseline, and
    the heads through yesterday's Platt maps show whether calibrating helps on unseen rows."""
    config, spark = contexts.config, contexts.spark
    random_only = config["source"]["kind"] == "kuairand"
    bins = config["evaluation"]["calibration_bins"]
    models = heads_of(contexts, shift(ds, -1))
    test = labelled_exposures(contexts, ds, random_only=random_only)
    if not models or test is None:
        return HeadBacktest()
    test = with_head_predictions(test, models, prefix="model_")
    # yesterday's map scored out of sample only where maps are in use: what a night writes must not
    # depend on which earlier nights happened to run the backtest
    before = ({h: m for h, m in maps_fitted_on(config, spark, shift(ds, -1)).items() if h in models}
              if config["candidates"]["calibrate_heads"] else {})
    frame = with_calibration(test.select(
        "item_was_new", *[f"p_{h}" for h in HEADS], *[head_label(h).alias(f"y_{h}") for h in HEADS],
        *[f"model_{h}" for h in models], *[F.col(f"model_{h}").alias(f"cal_{h}") for h in before]),
        before, prefix="cal_").toPandas()
    # tonight's maps, from the rows just collected (one Spark job, not one per head)
    maps = {head: fitted for head in models
            if (fitted := platt_map(frame[f"model_{head}"].to_numpy(float), frame[f"y_{head}"].to_numpy(float)))}
    rows, points = [], []
    for head in HEADS:
        for scorer, column in (("heads", f"model_{head}"), ("heads_calibrated", f"cal_{head}"),
                               ("heuristic", f"p_{head}")):
            if column not in frame:
                continue
            slope, intercept = maps.get(head, (None, None)) if scorer == "heads" else (None, None)
            for group, mask in (("all", slice(None)), ("new", frame["item_was_new"].astype(bool))):
                part = frame.loc[mask]
                p, y = part[column].to_numpy(float), part[f"y_{head}"].to_numpy(float)
                rows.append({"predicted_for": ds, "head": head, "scorer": scorer, "items": group,
                             "rows": "random" if random_only else "all", "n_rows": len(part),
                             "base_rate": float(y.mean()) if len(y) else float("nan"),
                             "auc": metrics.auc(p, y), "log_loss": metrics.log_loss(p, y),
                             "calibration_error": metrics.calibration_error(p, y),
                             "platt_slope": slope, "platt_intercept": intercept})
            if scorer != "heuristic":
                points += [{"predicted_for": ds, "head": head, "scorer": scorer, "bin": point["bin"],
                            "n_rows": point["n"], "mean_predicted": point["mean_predicted"],
                            "observed_rate": point["observed_rate"]}
                           for point in metrics.calibration_bins(frame[column].to_numpy(float),
                                                                 frame[f"y_{head}"].to_numpy(float), bins,
                                                                 equal="count")]
    result = pd.DataFrame(rows)
    for row in result[result["items"] == "all"].itertuples():
        LOG.info("ranking %s on %s (%s rows, %d): %s AUC %.3f log loss %.3f", row.head, row.predicted_for, row.rows,
                 row.n_rows, row.scorer, row.auc, row.log_loss)
    return HeadBacktest(result, pd.DataFrame(points), maps)


def apply_heads(candidates: DataFrame, models: dict[str, LogisticModel], context: dict[str, DataFrame], *,
                optimism_z: float, value_weights: dict[str, float],
                calibration: dict[str, tuple[float, float]] | None = None) -> DataFrame:
    """Replace the heuristic probabilities by the heads' (through their Platt maps, if given), then
    re-apply optimism to new items' p_like (the same posterior-quantile factor the heuristic uses)
    and recompute the user value."""
    featured = with_ranking_features(candidates, context)   # one projection scores every head
    predicted = with_calibration(with_head_predictions(featured, models),
                                 {h: m for h, m in (calibration or {}).items() if h in models})
    boost = context["item_features"].select("item_id", F.try_divide(optimistic_like_rate(optimism_z), F.col("like_rate"))
                                 .alias("_boost"))
    out = (predicted.join(boost, "item_id", "left").withColumn("p_like_mean", F.col("p_like"))
           .withColumn("p_like", F.least(F.lit(1.0), F.col("p_like") * F.coalesce("_boost", F.lit(1.0)))))
    value = sum(F.lit(float(value_weights[h])) * F.col(f"p_{h}") for h in HEADS)
    return out.withColumn("user_value", value)
