"""Creator-side retrieval: skip-aware ratings, cold-start factors, exclusions, tiers, optimism."""
from __future__ import annotations

import pandas as pd
import pytest
from pyspark.sql import Row

from features.embeddings import implicit_ratings, with_cold_start_factors
from features.retrieval import excluded_pairs, optimistic_like_rate, retrieve_by_embeddings
from jobs.steps.candidates.retrieval_backtest import recall_at_n


def test_skips_become_negative_ratings(spark):
    events = spark.createDataFrame([
        Row(user_id=1, item_id=1, is_click=0, is_long_view=0, is_like=0, is_follow=0),   # a skip
        Row(user_id=1, item_id=2, is_click=1, is_long_view=1, is_like=1, is_follow=0),
        Row(user_id=1, item_id=2, is_click=0, is_long_view=0, is_like=0, is_follow=0)])  # then skipped once
    ratings = {r.item_id: r.rating for r in implicit_ratings(events).collect()}
    assert ratings == {1: pytest.approx(-1.0), 2: pytest.approx(0.5 + 1.0 + 2.0 - 1.0)}


def test_cold_start_items_borrow_from_their_creator_then_their_category(spark):
    items = spark.createDataFrame([
        Row(item_id=1, creator_id=10, category="A", item_type="video"),
        Row(item_id=2, creator_id=20, category="A", item_type="video"),
        Row(item_id=3, creator_id=10, category="B", item_type="video"),   # new, creator 10 known
        Row(item_id=4, creator_id=30, category="A", item_type="live"),    # new creator, live: category's videos
        Row(item_id=5, creator_id=40, category="C", item_type="video")])  # nothing known
    factors = spark.createDataFrame([Row(item_id=1, factors=[1.0, 0.0]), Row(item_id=2, factors=[0.0, 1.0])])
    rows = {r.item_id: r for r in with_cold_start_factors(items, factors, rank=2).collect()}
    assert (rows[1].factor_source, rows[1].factors) == ("als", [1.0, 0.0])
    assert (rows[3].factor_source, rows[3].factors) == ("creator", [1.0, 0.0])
    assert (rows[4].factor_source, rows[4].factors) == ("category", [0.5, 0.5])
    assert rows[5].factor_source is None and rows[5].factors is None


def test_embeddings_rank_users_exclude_hated_creators_and_fill_tiers(spark):
    items = spark.createDataFrame([Row(item_id=9, creator_id=90, factors=[1.0, 0.0], factor_source="als")])
    users = spark.createDataFrame([Row(user_id=u, factors=[float(10 - u), 1.0]) for u in range(1, 9)])
    available = spark.createDataFrame([Row(user_id=u) for u in range(1, 9)])
    events = spark.createDataFrame([Row(user_id=2, item_id=5, is_hate=1)])         # user 2 hated creator 90
    catalogue = spark.createDataFrame([Row(item_id=5, creator_id=90), Row(item_id=9, creator_id=90)])
    excluded = excluded_pairs(events, catalogue, items)
    picked = retrieve_by_embeddings(items, users, available, excluded, users_per_item=4, wide_share=0.5,
                                    wide_pool_factor=2, seed=3).toPandas()
    tier1 = sorted(picked.loc[picked["tier"] == 1, "user_id"])
    tier2 = sorted(picked.loc[picked["tier"] == 2, "user_id"])
    assert tier1 == [1, 3]                             # the two best, user 2 excluded
    assert len(tier2) == 2 and set(tier2) <= {4, 5, 6, 7, 8}
    again = retrieve_by_embeddings(items, users, available, excluded, users_per_item=4, wide_share=0.5,
                                   wide_pool_factor=2, seed=3).toPandas()
    assert sorted(again.loc[again["tier"] == 2, "user_id"]) == tier2   # seeded


def test_new_items_get_an_optimistic_like_rate_that_shrinks_with_evidence(spark):
    frame = spark.createDataFrame([
        Row(item_id=1, is_new=True, like_alpha=2.0, like_beta=18.0, like_rate=0.1),      # 20 pseudo-exposures
        Row(item_id=2, is_new=True, like_alpha=20.0, like_beta=180.0, like_rate=0.1),    # much more evidence
        Row(item_id=3, is_new=False, like_alpha=2.0, like_beta=18.0, like_rate=0.1)])
    rates = {r.item_id: r.p for r in frame.select("item_id", optimistic_like_rate(1.28).alias("p")).collect()}
    assert rates[3] == pytest.approx(0.1)
    assert rates[1] > rates[2] > 0.1
    sd = (2 * 18 / (20 ** 2 * 21)) ** 0.5
    assert rates[1] == pytest.approx(0.1 + 1.28 * sd)


def test_recall_at_n_by_hand():
    truth = pd.DataFrame({"user_id": [1, 2, 3, 1, 2, 3], "item_id": [7, 7, 7, 8, 8, 8],
                          "true_like": [0.9, 0.5, 0.1, 0.2, 0.3, 0.4]})
    retrieved = pd.DataFrame({"user_id": [1, 3, 1], "item_id": [7, 7, 8]})
    recall = recall_at_n(retrieved, truth, 2)
    assert recall.to_dict() == {7: 0.5, 8: 0.0}


def exhaustive_affinity_retrieval(items, affinity, available, excluded, *, users_per_item, wide_share,
                                  wide_pool_factor, seed, items_per_audience=None):
    """The reference: rank every available user for every item of their category, skip the ranks
    of the audiences before the item's (groups of `items_per_audience` items in seeded order, each
    one tier 1 deeper), drop the excluded pairs, then tier."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from features.retrieval import RETRIEVED, _tiers, tier_one_size

    is_live = F.col("item_type") == "live"
    kind = F.when(is_live, F.lit("live")).otherwise(F.lit("video"))
    seeded = Window.partitionBy("category", kind).orderBy(F.xxhash64(F.lit(seed), "item_id"), "item_id")
    audience = F.floor((F.row_number().over(seeded) - 1) / (items_per_audience or 10 ** 9))
    offset = audience * tier_one_size(users_per_item, wide_share)
    by_score = Window.partitionBy("item_id").orderBy(F.desc("retrieval_score"), F.asc("user_id"))
    ranked = (items.select("item_id", "category", "item_type", offset.alias("_offset"))
              .join(affinity.select("user_id", "category", "affinity", "video_affinity"), "category")
              .join(available, "user_id")
              .select("user_id", "item_id", "_offset",
                      F.when(is_live, F.coalesce("video_affinity", "affinity")).otherwise(F.col("affinity"))
                      .alias("retrieval_score"),
                      F.when(is_live, F.lit("cross_domain_affinity")).otherwise(F.lit("category_affinity"))
                      .alias("source"))
              .withColumn("_rank", F.row_number().over(by_score)))
    scored = (ranked.where(F.col("_rank") > F.col("_offset")).join(excluded, ["user_id", "item_id"], "left_anti")
              .drop("_rank", "_offset"))
    return _tiers(scored, users_per_item=users_per_item, wide_share=wide_share, wide_pool_factor=wide_pool_factor,
                  seed=seed).select(*RETRIEVED)


def test_affinity_retrieval_reads_only_each_lists_head_and_equals_ranking_every_user(spark):
    """Ties, missing video affinity, live and video items, exclusions deep into an item's list
    and the random wider tier: the same pairs, scores and tiers as scoring every user."""
    import numpy as np
    import pandas as pd

    from features.retrieval import retrieve_by_affinity

    rng = np.random.default_rng(7)
    users = np.arange(1, 301)
    affinity = pd.DataFrame([{"user_id": int(u), "category": c, "affinity": float(rng.choice([0.1, 0.2, rng.random()])),
                              "video_affinity": None if rng.random() < 0.2 else float(rng.random())}
                             for u in users for c in "ABC" if rng.random() < 0.8])
    items = pd.DataFrame({"item_id": np.arange(1000, 1040), "category": rng.choice(list("ABC"), 40),
                          "item_type": rng.choice(["video", "live"], 40)})
    # some items had most of their best users already: exclusions up to 150 of 300 users deep
    excluded = pd.DataFrame([{"user_id": int(u), "item_id": int(i)} for i in items["item_id"]
                             for u in rng.choice(users, int(rng.integers(0, 150)), replace=False)])
    available = pd.DataFrame({"user_id": users[rng.random(users.size) < 0.9]})
    frames = [spark.createDataFrame(f) for f in (items, affinity, available, excluded)]
    frames[1] = frames[1].selectExpr("user_id", "category", "affinity", "cast(video_affinity as double) video_affinity")
    key = ["item_id", "user_id"]
    for per_audience in (None, 40, 3):   # all read the head (40 >= any key's items); audiences 3 items wide
        settings = {"users_per_item": 20, "wide_share": 0.3, "wide_pool_factor": 3, "seed": 11,
                    "items_per_audience": per_audience}
        ours = retrieve_by_affinity(*frames, **settings).toPandas().sort_values(key).reset_index(drop=True)
        reference = exhaustive_affinity_retrieval(*frames, **settings).toPandas().sort_values(key).reset_index(drop=True)
        assert len(ours) == 40 * 20
        pd.testing.assert_frame_equal(ours, reference)


def test_affinity_audiences_spread_a_categorys_items_over_its_ranking(spark):
    """60 items of one category, audiences of 5: each user is a best fit (tier 1) of at most 5 of
    them, the 12 audiences are consecutive blocks of the category's ranking, and the seed decides
    which items share one."""
    import pandas as pd

    from features.retrieval import retrieve_by_affinity

    users = range(1, 2001)
    affinity = spark.createDataFrame(pd.DataFrame({"user_id": list(users), "category": "A",
                                                   "affinity": [1.0 - u / 4000 for u in users],
                                                   "video_affinity": [0.0] * 2000}))
    items = spark.createDataFrame(pd.DataFrame({"item_id": range(100, 160), "category": "A", "item_type": "video"}))
    available = affinity.select("user_id")
    excluded = spark.createDataFrame([], "user_id long, item_id long")

    def picked(seed, per_audience):
        return retrieve_by_affinity(items, affinity, available, excluded, users_per_item=10, wide_share=0.2,
                                    wide_pool_factor=3, seed=seed, items_per_audience=per_audience).toPandas()

    spread, crowded = picked(1, 5), picked(1, None)
    tier1 = spread[spread["tier"] == 1]
    assert tier1.groupby("user_id").size().max() == 5 and tier1["user_id"].nunique() == 12 * 8
    blocks = tier1.groupby("item_id")["user_id"].agg(["min", "max"])
    assert ((blocks["max"] - blocks["min"]) == 7).all() and ((blocks["min"] - 1) % 8 == 0).all()
    assert crowded.loc[crowded["tier"] == 1, "user_id"].nunique() == 8   # everyone's best 8, without audiences
    assert spread["user_id"].nunique() > 3 * crowded["user_id"].nunique()   # ~ ranks 1..118 against 1..30
    shuffled = picked(2, 5)
    together = lambda frame: set(frame[frame["tier"] == 1].groupby("user_id")["item_id"].apply(frozenset))  # noqa: E731
    assert together(shuffled) != together(spread)


def test_the_item_sample_is_seeded_and_bounded(spark):
    from jobs.steps.candidates.retrieval_backtest import sample_items

    eligible = spark.createDataFrame([(i, i % 7) for i in range(100)], "item_id long, creator_id long")
    first = [r.item_id for r in sample_items(eligible, 10, seed=3).collect()]
    assert len(set(first)) == 10 and first == [r.item_id for r in sample_items(eligible, 10, seed=3).collect()]
    assert set(first) != {r.item_id for r in sample_items(eligible, 10, seed=4).collect()}
    assert sample_items(eligible, 0, seed=3).count() == 100 and sample_items(eligible, 500, seed=3).count() == 100


def test_the_retrieval_backtest_scores_only_its_sample_of_items(spark, published_world):
    """Through the candidates step's backtest on the shared world: every retriever is scored on the
    same 5 items (the truth ranks every available user for each; the sample bounds that)."""
    from jobs.dates import shift
    from jobs.steps.candidates import ranking
    from jobs.steps.candidates import step as build_candidates
    from jobs.warehouse import io
    from tests.conftest import PIPELINE_DAYS

    config = published_world.with_overrides(["candidates.backtest_items=5"])
    ds = PIPELINE_DAYS[-1]
    read = lambda key: io.read_table(spark, config, key, ds=ds)  # noqa: E731
    events = io.read_table(spark, config, "bronze.events", since=shift(ds, -(config["features"]["lookback_days"] - 1)),
                           until=ds)
    frame = build_candidates._evaluate_against_truth(
        config, ds, spark, events, read("silver.item_features"), read("silver.user_category_affinity"),
        read("silver.user_availability"), ranking.FeatureContexts(config, spark))
    scored = frame[frame["items"] == "all"]
    assert set(scored["retriever"]) == {"category_affinity", "als", "popularity"}
    assert (scored["n_items"] == 5).all() and scored["recall_at_n"].between(0, 1).all()


def exhaustive_embedding_retrieval(items, user_factors, available, excluded, *, users_per_item, wide_share,
                                   wide_pool_factor, seed):
    """The reference: every item with factors joined to every available user, scored by Spark's dot."""
    from pyspark.sql import functions as F

    from features.embeddings import dot
    from features.retrieval import RETRIEVED, _tiers

    users = user_factors.join(available, "user_id").select("user_id", F.col("factors").alias("_user_factors"))
    scored = (items.where(F.col("factors").isNotNull()).select("item_id", "factors", "factor_source")
              .crossJoin(users).join(excluded, ["user_id", "item_id"], "left_anti")
              .select("user_id", "item_id", dot("_user_factors", "factors").alias("retrieval_score"),
                      F.when(F.col("factor_source") == "als", F.lit("als"))
                      .otherwise(F.concat(F.lit("als_cold_start_"), F.col("factor_source"))).alias("source")))
    return _tiers(scored, users_per_item=users_per_item, wide_share=wide_share, wide_pool_factor=wide_pool_factor,
                  seed=seed).select(*RETRIEVED)


def test_embedding_retrieval_in_blocks_equals_scoring_every_pair(spark):
    """User factors in float as ALS gives them, item factors in double as the cold-start means make
    them, ties, exclusions deep into an item's list, several user and item blocks: the same pairs,
    the same score bits and the same tiers as the join of every item with every user."""
    import numpy as np
    from pyspark.sql import functions as F

    rng = np.random.default_rng(5)
    users = np.arange(1, 401)
    user_factors = pd.DataFrame({"user_id": users, "factors": [list(rng.choice([0.5, 1.0, rng.random()], 4))
                                                               for _ in users]})
    items = pd.DataFrame({"item_id": np.arange(2000, 2050), "factors": [list(rng.normal(size=4)) for _ in range(50)],
                          "factor_source": rng.choice(["als", "creator", "category"], 50)})
    items.loc[items.index[:5], "factors"] = None                        # left to the affinity retriever
    excluded = pd.DataFrame([{"user_id": int(u), "item_id": int(i)} for i in items["item_id"]
                             for u in rng.choice(users, int(rng.integers(0, 200)), replace=False)])
    available = pd.DataFrame({"user_id": users[rng.random(users.size) < 0.9]})
    frames = [spark.createDataFrame(items).withColumn("factors", F.col("factors").cast("array<double>")),
              spark.createDataFrame(user_factors).withColumn("factors", F.col("factors").cast("array<float>")),
              spark.createDataFrame(available), spark.createDataFrame(excluded)]
    settings = {"users_per_item": 15, "wide_share": 0.3, "wide_pool_factor": 3, "seed": 4}
    key = ["item_id", "user_id"]
    ours = (retrieve_by_embeddings(*frames, **settings, users_per_block=70, items_per_block=8).toPandas()
            .sort_values(key).reset_index(drop=True))
    reference = exhaustive_embedding_retrieval(*frames, **settings).toPandas().sort_values(key).reset_index(drop=True)
    assert len(ours) == 45 * 15
    pd.testing.assert_frame_equal(ours, reference, check_exact=True)
