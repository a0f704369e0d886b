"""candidates: silver features -> silver.candidates, the (user, item) pairs the optimiser may use."""
from __future__ import annotations

from typing import TYPE_CHECKING

from features.ranking import heads_table
from features.retrieval import (
    available_users,
    eligible_items,
    excluded_pairs,
    retrieve_by_affinity,
    retrieve_by_embeddings,
    score_candidates,
)
from jobs.config import Config
from jobs.dates import shift
from jobs.steps.candidates import ranking
from jobs.steps.common import StepOutput, job_id
from jobs.warehouse import io
from jobs.warehouse.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def retrieve(config: Config, ds: str, spark: SparkSession, events: DataFrame, item_features: DataFrame,
             affinity: DataFrame, availability: DataFrame, contexts: ranking.FeatureContexts,
             retriever: str | None = None) -> DataFrame:
    """The configured retriever; items the embeddings know nothing about fall back to affinity.
    The ALS factors come from ds's feature context, which the ranking heads read too."""
    c = config["candidates"]
    eligible = eligible_items(item_features, ds=ds)
    available = available_users(availability, min_p_active=c["min_p_active"])
    excluded = excluded_pairs(events, io.read_table(spark, config, "bronze.items", ds=ds), eligible)
    tiers = dict(users_per_item=c["users_per_item"], wide_share=c["wide_share"],
                 wide_pool_factor=c["wide_pool_factor"], seed=int(config["seed"]))
    by_affinity = dict(tiers, items_per_audience=c["items_per_audience"])
    if (retriever or c["retriever"]) == "category_affinity":
        return retrieve_by_affinity(eligible, affinity, available, excluded, **by_affinity)
    context = contexts.get(ds)
    eligible_with_factors = eligible.select("item_id").join(context["item_factors"], "item_id")
    by_embeddings = retrieve_by_embeddings(eligible_with_factors, context["user_factors"], available, excluded,
                                           **tiers)
    unknown = eligible.join(eligible_with_factors.where("factors is not null").select("item_id"), "item_id", "left_anti")
    return by_embeddings.unionByName(retrieve_by_affinity(unknown, affinity, available, excluded, **by_affinity))


def run(config: Config, ds: str, spark: SparkSession | None = None) -> StepOutput:
    spark = spark or get_spark(config)
    read = lambda key: io.read_table(spark, config, key, ds=ds)  # noqa: E731
    events = io.read_table(spark, config, "bronze.events",
                           since=shift(ds, -(config["features"]["lookback_days"] - 1)), until=ds).cache()
    item_features, affinity = read("silver.item_features"), read("silver.user_category_affinity")
    availability = read("silver.user_availability")
    contexts = ranking.FeatureContexts(config, spark)
    retrieved = retrieve(config, ds, spark, events, item_features, affinity, availability, contexts)
    c, weights = config["candidates"], config["allocation"]["value_weights"]
    user_features = read("silver.user_features")
    models = ranking.train_heads(contexts, ds) if c["ranker"] == "heads" else {}
    # The backtest comes first: it fits the Platt maps tonight's scores pass through.
    backtest = ranking.evaluate_heads(contexts, ds) if c["ranker"] == "heads" and c["backtests"] else None
    calibration = backtest.maps if backtest is not None and c["calibrate_heads"] else {}
    if models:
        heuristic = score_candidates(retrieved, item_features, affinity, availability, user_features,
                                     value_weights=weights)
        candidates = ranking.apply_heads(heuristic, models, contexts.get(ds), optimism_z=c["optimism_z"],
                                         value_weights=weights, calibration=calibration)
    else:  # no ranker configured, or no labelled day yet to learn from
        candidates = score_candidates(retrieved, item_features, affinity, availability, user_features,
                                      value_weights=weights, optimism_z=c["optimism_z"])
    output = StepOutput("candidates", ds)
    output.figures["heads"] = sorted(models)
    output.figures["calibrated_heads"] = sorted(set(calibration) & set(models))
    rid = job_id(config, ds)
    output.versions["silver.candidates"] = io.write_partition(spark, config, "silver.candidates", candidates,
                                                              ds=ds, run_id=rid)
    if c["ranker"] == "heads":   # written even when empty: tomorrow's backtest reads it instead of training again
        output.versions["silver.ranking_heads"] = io.write_partition(
            spark, config, "silver.ranking_heads",
            io.frame_from_pandas(spark, "silver.ranking_heads", heads_table(models)), ds=ds, run_id=rid)
    if backtest is not None and not backtest.evaluation.empty:
        for key, frame in (("audit.ranking_evaluation", backtest.evaluation),
                           ("audit.ranking_calibration", backtest.reliability)):
            output.versions[key] = io.write_partition(spark, config, key, io.frame_from_pandas(spark, key, frame),
                                                      ds=ds, run_id=rid)
    if c["backtests"] and config["source"]["kind"] == "synthetic":  # the only source whose truth is known
        evaluation = _evaluate_against_truth(config, ds, spark, events, item_features, affinity, availability,
                                             contexts)
        output.versions["audit.retrieval_evaluation"] = io.write_partition(
            spark, config, "audit.retrieval_evaluation",
            io.frame_from_pandas(spark, "audit.retrieval_evaluation", evaluation), ds=ds, run_id=rid)
        output.figures["recall_at_n"] = evaluation.set_index(["retriever", "items"])["recall_at_n"].round(4).to_dict()
    events.unpersist()
    return output


def _evaluate_against_truth(config: Config, ds: str, spark: SparkSession, events: DataFrame,
                            item_features: DataFrame, affinity: DataFrame, availability: DataFrame,
                            contexts: ranking.FeatureContexts):  # noqa: ANN202
    from jobs.steps.candidates.retrieval_backtest import evaluate, sample_items

    c = config["candidates"]
    # Every available user is scored for each item of the sample (the truth needs them all), so the
    # sample, not the day's item count, bounds the backtest.
    sample = sample_items(eligible_items(item_features, ds=ds), c["backtest_items"], int(config["seed"])).cache()
    sampled = sample.select("item_id")
    candidates = (io.read_table(spark, config, "silver.candidates", ds=ds).join(sampled, "item_id")
                  .select("user_id", "item_id", "source"))
    retrieved = {c["retriever"]: candidates.toPandas()}
    other = "category_affinity" if c["retriever"] == "als" else "als"
    # Affinity's audiences depend on how many items share a category, so it retrieves the whole night
    # (O(items x pool)) and keeps the sample; the embeddings score each sampled item on its own.
    items = item_features if other == "category_affinity" else item_features.join(sampled, "item_id")
    retrieved[other] = (retrieve(config, ds, spark, events, items, affinity, availability, contexts, retriever=other)
                        .join(sampled, "item_id").select("user_id", "item_id", "source").toPandas())
    available = available_users(availability, min_p_active=c["min_p_active"])
    excluded = excluded_pairs(events, io.read_table(spark, config, "bronze.items", ds=ds), sample)
    activity = io.read_table(spark, config, "silver.user_features", ds=ds).select("user_id", "exposures_28")
    frame = evaluate(config, ds, retrieved, available.toPandas(), sampled.toPandas(),
                     excluded.join(sampled, "item_id").toPandas(), activity.toPandas())
    sample.unpersist()
    return frame
