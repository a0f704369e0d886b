"""Creator-side retrieval and scoring: for each eligible item, the users it fits best.

DualRec turns user-side retrieval around: start from the item and look for its audience. Two
retrievers produce (user, item, retrieval_score, source, tier):
- `retrieve_by_embeddings`: ALS user and item factors (skips as negatives, cold-start factors for
  new items), scored for every available user;
- `retrieve_by_affinity`: the user's skip-aware affinity to the item's category (live streams by
  short-video affinity). It is the baseline, and the fallback for items nothing is known about.
Both keep only users likely to show up with room for a creator-side slot, and never offer an item
the user has seen or a creator the user has told us they hate. Most candidates are an item's best
fits (tier 1); a configured share comes from its wider audience (tier 2), so the system can learn
when its first guess was wrong.

`score_candidates` then turns each pair into the probabilities the optimiser needs.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from features.columns import require_columns

LIFT_RANGE = (0.1, 10.0)
WINDOW_PRIOR_EXPOSURES = 24.0  # pseudo-exposures spread evenly over the day in the hourly profile
RETRIEVED = ("user_id", "item_id", "retrieval_score", "source", "tier")


def eligible_items(item_features: DataFrame, *, ds: str) -> DataFrame:
    """The items the creator-side plan holds tonight (`in_plan`): videos, and live streams that air
    tomorrow (ds + 1)."""
    tomorrow = F.date_add(F.lit(ds).cast("date"), 1)
    return item_features.where(
        F.col("in_plan") & ((F.col("item_type") == "video")
                           | ((F.col("item_type") == "live") & (F.to_date("live_start") == tomorrow))))


def available_users(availability: DataFrame, *, min_p_active: float) -> DataFrame:
    require_columns(availability, "silver.user_availability", ["user_id", "p_active", "slot_capacity"])
    return availability.where((F.col("p_active") >= min_p_active) & (F.col("slot_capacity") > 0)).select("user_id")


def excluded_pairs(events: DataFrame, items: DataFrame, eligible: DataFrame) -> DataFrame:
    """(user, eligible item) pairs never to offer: already seen, or by a creator the user hated."""
    seen = events.select("user_id", "item_id")
    hated = (events.where(F.col("is_hate") == 1).join(items.select("item_id", "creator_id"), "item_id")
             .select("user_id", "creator_id").distinct())
    by_hated_creator = hated.join(eligible.select("item_id", "creator_id"), "creator_id").select("user_id", "item_id")
    return seen.unionByName(by_hated_creator).distinct()


def tier_one_size(users_per_item: int, wide_share: float) -> int:
    """How many of an item's candidates are its best fits: also the stride between audiences."""
    return users_per_item - int(round(wide_share * users_per_item))


def _tiers(scored: DataFrame, *, users_per_item: int, wide_share: float, wide_pool_factor: int,
           seed: int) -> DataFrame:
    """Tier 1: the item's best `users_per_item * (1 - wide_share)` users. Tier 2: the rest drawn at
    random (seeded) from the next ranks, up to `wide_pool_factor * users_per_item`."""
    best = tier_one_size(users_per_item, wide_share)
    by_score = Window.partitionBy("item_id").orderBy(F.desc("retrieval_score"), F.asc("user_id"))
    ranked = scored.withColumn("_rank", F.row_number().over(by_score)).where(
        F.col("_rank") <= wide_pool_factor * users_per_item)
    wide = ranked.where(F.col("_rank") > best).withColumn(
        "_draw", F.row_number().over(Window.partitionBy("item_id").orderBy(
            F.xxhash64(F.lit(seed), "user_id", "item_id"), "user_id")))
    return (ranked.where(F.col("_rank") <= best).withColumn("tier", F.lit(1))
            .unionByName(wide.where(F.col("_draw") <= users_per_item - best).drop("_draw").withColumn("tier", F.lit(2)))
            .drop("_rank"))


def retrieve_by_affinity(items: DataFrame, affinity: DataFrame, available: DataFrame, excluded: DataFrame, *,
                         users_per_item: int, wide_share: float = 0.0, wide_pool_factor: int = 1,
                         seed: int = 0, items_per_audience: int | None = None) -> DataFrame:
    """Each item's best users by affinity to its category (live streams by short-video affinity),
    without scoring every user for every item.

    The ranking depends on the item only through its category and kind, so every item of a
    category would get the same best users. Those users have a few slots a day, so on a big night
    most items would reach nobody (at 200k users, 2.6M pairs fell on 5,691 users and the plan
    covered 8% of new items). So at most `items_per_audience` items share an audience: the key's
    items in a seeded order form groups of that size, and group g reads the key's ranking from rank
    g x (tier-1 size) on. With no more items than that in a key (None: no limit) every item reads
    the head, and a night's audiences grow with its items, not with its users.

    Users are ranked once per (category, kind); item i reads only its window of that list: the
    `pool` ranks `_tiers` looks at plus e_i, the number of its excluded pairs. Removing at most e_i
    users from the window's first pool + e_i leaves the item's best `pool` allowed users past its
    offset, exactly what ranking every user would give (tests/test_retrieval.py compares the two),
    at O(users log users) per category and O(items x (pool + e_i)) pairs instead of O(items x users)."""
    require_columns(affinity, "silver.user_category_affinity", ["user_id", "category", "affinity", "video_affinity"])
    key = ["category", "_kind"]
    pool = wide_pool_factor * users_per_item
    stride = max(tier_one_size(users_per_item, wide_share), 1)
    kind = F.when(F.col("item_type") == "live", F.lit("live")).otherwise(F.lit("video"))
    wanted = items.select("item_id", "category", kind.alias("_kind"))
    if items_per_audience:
        seeded = Window.partitionBy(*key).orderBy(F.xxhash64(F.lit(seed), "item_id"), "item_id")
        group = F.floor((F.row_number().over(seeded) - 1) / items_per_audience)
    else:
        group = F.lit(0).cast("long")
    n_excluded = excluded.join(wanted.select("item_id"), "item_id").groupBy("item_id").agg(
        F.count(F.lit(1)).alias("_excluded"))
    wanted = (wanted.withColumn("_group", group).withColumn("_offset", F.col("_group") * stride)
              .join(n_excluded, "item_id", "left")
              .withColumn("_depth", F.lit(pool) + F.coalesce("_excluded", F.lit(0))).drop("_excluded"))
    depth = wanted.groupBy(*key).agg(F.max(F.col("_offset") + F.col("_depth")).alias("_key_depth"),
                                     F.max("_depth").alias("_window"), F.max("_group").alias("_groups"))
    scores = (affinity.join(available, "user_id")
              .select("user_id", "category", F.array(
                  F.struct(F.lit("video").alias("_kind"), F.col("affinity").alias("retrieval_score")),
                  F.struct(F.lit("live").alias("_kind"),
                           F.coalesce("video_affinity", "affinity").alias("retrieval_score"))).alias("_by_kind"))
              .select("user_id", "category", F.explode("_by_kind").alias("_k"))
              .select("user_id", "category", "_k._kind", "_k.retrieval_score")
              .join(F.broadcast(depth), key))
    by_score = Window.partitionBy(*key).orderBy(F.desc("retrieval_score"), F.asc("user_id"))
    # a user at rank r is in the window of every group g with g x stride < r <= g x stride + window
    first = F.greatest(F.lit(0), F.ceil((F.col("_key_rank") - F.col("_window")) / stride))
    last = F.least(F.col("_groups"), F.floor((F.col("_key_rank") - 1) / stride))
    heads = (scores.withColumn("_key_rank", F.row_number().over(by_score))
             .where(F.col("_key_rank") <= F.col("_key_depth")).where(first <= last)
             .withColumn("_group", F.explode(F.sequence(first.cast("long"), last.cast("long"))))
             .drop("_key_depth", "_window", "_groups"))
    scored = (wanted.join(heads, [*key, "_group"])
              .where((F.col("_key_rank") > F.col("_offset")) & (F.col("_key_rank") <= F.col("_offset") + F.col("_depth")))
              .join(excluded, ["user_id", "item_id"], "left_anti")
              .select("user_id", "item_id", "retrieval_score",
                      F.when(F.col("_kind") == "live", F.lit("cross_domain_affinity"))
                      .otherwise(F.lit("category_affinity")).alias("source")))
    return _tiers(scored, users_per_item=users_per_item, wide_share=wide_share, wide_pool_factor=wide_pool_factor,
                  seed=seed).select(*RETRIEVED)


def retrieve_by_embeddings(items: DataFrame, user_factors: DataFrame, available: DataFrame, excluded: DataFrame, *,
                           users_per_item: int, wide_share: float, wide_pool_factor: int, seed: int,
                           users_per_block: int = 20_000, items_per_block: int = 64) -> DataFrame:
    """Each item's best users by the dot product of ALS factors, without joining every item to every
    user. `items` carry `factors` and `factor_source` (features.embeddings.with_cold_start_factors);
    items without factors are left to the affinity retriever.

    Users and items are gathered into blocks; each task takes one item block and one user block,
    scores them against each other in numpy (the products summed in the order Spark's `dot` sums
    them, so the scores are the same bits) and keeps per item the head of its list: the `pool`
    ranks `_tiers` looks at plus e_i, its excluded pairs, by (score desc, user_id asc). The item's
    best pool + e_i users overall are among the heads of its blocks, and dropping its at most e_i
    excluded users leaves its best `pool` allowed users: what scoring every pair gives
    (tests/test_retrieval.py compares the two). Pairs shuffled: O(items x blocks x (pool + e_i))
    instead of O(items x users)."""
    pool = wide_pool_factor * users_per_item
    users = user_factors.join(available, "user_id").select("user_id", "factors")
    n_user_blocks = max(1, -(-users.count() // users_per_block))
    with_factors = items.where(F.col("factors").isNotNull()).select("item_id", "factors", "factor_source")
    n_excluded = excluded.join(with_factors.select("item_id"), "item_id").groupBy("item_id").agg(
        F.count(F.lit(1)).alias("_excluded"))
    wanted = (with_factors.join(n_excluded, "item_id", "left")
              .withColumn("_depth", F.lit(pool) + F.coalesce("_excluded", F.lit(0))).drop("_excluded"))
    n_item_blocks = max(1, -(-wanted.count() // items_per_block))
    user_blocks = (users.groupBy(F.pmod(F.xxhash64("user_id"), F.lit(n_user_blocks)).alias("_user_block"))
                   .agg(F.collect_list(F.struct("user_id", "factors")).alias("_users")))
    item_blocks = (wanted.groupBy(F.pmod(F.xxhash64("item_id"), F.lit(n_item_blocks)).alias("_item_block"))
                   .agg(F.collect_list(F.struct("item_id", "factors", "factor_source", "_depth")).alias("_items")))
    heads = item_blocks.crossJoin(user_blocks).select("_items", "_users").mapInPandas(
        _block_heads, "user_id long, item_id long, retrieval_score double, factor_source string")
    scored = (heads.join(excluded, ["user_id", "item_id"], "left_anti")
              .select("user_id", "item_id", "retrieval_score",
                      F.when(F.col("factor_source") == "als", F.lit("als"))
                      .otherwise(F.concat(F.lit("als_cold_start_"), F.col("factor_source"))).alias("source")))
    return _tiers(scored, users_per_item=users_per_item, wide_share=wide_share, wide_pool_factor=wide_pool_factor,
                  seed=seed).select(*RETRIEVED)


def _factor_matrix(rows: list[dict]) -> np.ndarray:
    """A block's factors, one row per Arrow struct (a dict)."""
    return np.stack([np.asarray(row["factors"]) for row in rows]) if len(rows) else np.zeros((0, 0))


def _block_heads(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Per (item block, user block): each item's best `_depth` users of the block, ties at the cut
    broken by user_id as the window in `_tiers` breaks them."""
    for batch in batches:
        for item_rows, user_rows in zip(batch["_items"], batch["_users"]):
            item_rows, user_rows = list(item_rows), list(user_rows)
            if not item_rows or not user_rows:
                continue
            item_factors, user_factors = _factor_matrix(item_rows), _factor_matrix(user_rows)
            user_ids = np.array([row["user_id"] for row in user_rows], dtype=np.int64)
            scores = np.zeros((len(item_rows), len(user_rows)))
            for k in range(item_factors.shape[1]):       # Spark's dot: ((0 + a0 b0) + a1 b1) + ...
                scores += np.multiply.outer(item_factors[:, k], user_factors[:, k])
            out = []
            for row, item_scores in zip(item_rows, scores):
                depth = min(int(row["_depth"]), user_ids.size)
                cut = np.partition(item_scores, user_ids.size - depth)[user_ids.size - depth]
                near = np.flatnonzero(item_scores >= cut)
                keep = near[np.lexsort((user_ids[near], -item_scores[near]))[:depth]]
                out.append(pd.DataFrame({"user_id": user_ids[keep], "item_id": np.int64(row["item_id"]),
                                         "retrieval_score": item_scores[keep], "factor_source": row["factor_source"]}))
            if out:
                yield pd.concat(out, ignore_index=True)


def live_window_share(prior_exposures: float = WINDOW_PRIOR_EXPOSURES) -> Column:
    """P(the user is on during the live window | they come that day), from their hourly profile.

    A live stream is only worth a slot if the user shows up while it airs. The profile's share of
    the window's hours is shrunk towards the window's share of the day (hours/24) with
    `prior_exposures` pseudo-exposures, so a user seen twice is not ruled out of the evening."""
    start_hour = F.hour("live_start")
    hours = F.greatest(F.lit(1), F.ceil((F.unix_timestamp("live_end") - F.unix_timestamp("live_start")) / 3600.0)
                       ).cast("int")
    in_profile = F.aggregate(
        F.sequence(F.lit(0), hours - 1), F.lit(0.0),
        lambda total, h: total + F.coalesce(
            F.element_at("hourly_profile", (((start_hour + h) % 24) + 1).cast("int")), F.lit(0.0)))
    seen = F.coalesce(F.col("exposures_28"), F.lit(0)).cast("double")
    share = (in_profile * seen + hours / 24.0 * prior_exposures) / (seen + prior_exposures)
    return F.least(F.lit(1.0), share)


def _lift(rate: str, global_rate: str) -> Column:
    low, high = LIFT_RANGE
    ratio = F.coalesce(F.try_divide(F.col(rate), F.col(global_rate)), F.lit(1.0))  # no global signal: no lift
    return F.least(F.lit(high), F.greatest(F.lit(low), ratio))


def optimistic_like_rate(z: float) -> Column:
    """A new item's like rate at its Beta posterior mean + z standard deviations: while evidence is
    thin the optimiser bets on the item instead of burying it; the bet shrinks as exposures come in."""
    a, b = F.col("like_alpha"), F.col("like_beta")
    sd = F.sqrt(a * b / (F.pow(a + b, 2) * (a + b + 1)))
    return F.when(F.col("is_new"), F.least(F.lit(1.0), a / (a + b) + z * sd)).otherwise(F.col("like_rate"))


def score_candidates(retrieved: DataFrame, items: DataFrame, affinity: DataFrame, availability: DataFrame,
                     user_features: DataFrame, *, value_weights: Mapping[str, float],
                     optimism_z: float = 0.0) -> DataFrame:
    """p_available, p_click .. p_skip and the user value of each retrieved pair. Item rates are the
    smoothed ones, lifted by how much more (or less) than average the user engages with the
    category; users with no history in the category get no lift."""
    require_columns(user_features, "silver.user_features", ["user_id", "hourly_profile", "exposures_28"])
    is_live = F.col("item_type") == "live"
    overall = affinity.agg((F.sum("positives") / F.sum("exposures")).alias("_global_positive"),
                           (F.sum("skips") / F.sum("exposures")).alias("_global_skip"))
    pairs = (retrieved
             .join(items.select("item_id", "creator_id", "category", "item_type", "is_new", "live_start", "live_end",
                                "click_rate", "long_view_rate", "like_rate", "like_alpha", "like_beta",
                                "follow_rate", F.col("skip_rate").alias("item_skip_rate")), "item_id")
             .join(affinity.select("user_id", "category", "positive_rate", "skip_rate"), ["user_id", "category"], "left")
             .join(availability.select("user_id", "p_active"), "user_id")
             .join(user_features.select("user_id", "hourly_profile", "exposures_28"), "user_id", "left")
             .crossJoin(F.broadcast(overall))
             .withColumn("_like_mean_rate", F.col("like_rate"))
             .withColumn("like_rate", optimistic_like_rate(optimism_z)))
    positive_lift = _lift("positive_rate", "_global_positive")
    scored = pairs.select(
        "user_id", "item_id", "creator_id", "source", "retrieval_score", "tier",
        (F.col("p_active") * F.when(is_live, live_window_share()).otherwise(F.lit(1.0))).alias("p_available"),
        *[F.least(F.lit(1.0), F.col(f"{name}_rate") * positive_lift).alias(f"p_{name}")
          for name in ("click", "long_view", "like", "follow")],
        F.least(F.lit(1.0), F.col("item_skip_rate") * _lift("skip_rate", "_global_skip")).alias("p_skip"),
        F.least(F.lit(1.0), F.col("_like_mean_rate") * positive_lift).alias("p_like_mean"),
    )
    value = sum(F.lit(float(value_weights[name])) * F.col(f"p_{name}")
                for name in ("click", "long_view", "like", "follow", "skip"))
    return scored.withColumn("user_value", value)
