"""How well retrieval finds each item's audience, against the synthetic world's truth.

recall@N: of the N available users an eligible item truly pleases most (highest true like
probability, never-seen pairs only), the share the retriever returned. The configured retriever
is measured beside the category-affinity retriever and a popularity baseline (the N most active
users) in the same run, on the same items and users: a seeded sample of the eligible items
(`candidates.backtest_items`), since the truth ranks every available user for each.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from jobs.sources.synthetic import landing_root, true_pair_probabilities

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from jobs.config import Config

LOG = logging.getLogger(__name__)


def sample_items(eligible: DataFrame, size: int, seed: int) -> DataFrame:
    """A seeded sample of `size` eligible items (all of them for 0), with their creators: the
    same items for every retriever, and for the same inputs and seed the same items every run."""
    from pyspark.sql import functions as F

    chosen = eligible.select("item_id", "creator_id")
    if size <= 0:
        return chosen
    return chosen.orderBy(F.xxhash64(F.lit(seed), "item_id"), "item_id").limit(int(size))


def recall_at_n(retrieved: pd.DataFrame, truth: pd.DataFrame, n: int) -> pd.Series:
    """Per item: |retrieved ∩ true top-n| / min(n, users with a true score). Both frames hold
    user_id, item_id; `truth` also true_like."""
    best = (truth.sort_values(["item_id", "true_like", "user_id"], ascending=[True, False, True])
            .groupby("item_id").head(n))
    hits = best.merge(retrieved[["user_id", "item_id"]], on=["user_id", "item_id"]).groupby("item_id").size()
    return (hits.reindex(best["item_id"].unique(), fill_value=0) / best.groupby("item_id").size()).rename("recall")


def evaluate(config: Config, ds: str, retrieved: dict[str, pd.DataFrame], available: pd.DataFrame,
             eligible: pd.DataFrame, excluded: pd.DataFrame, activity: pd.DataFrame) -> pd.DataFrame:
    """`retrieved`: retriever name -> (user_id, item_id, source). Returns one row per retriever and
    item group (all eligible items; items with no ALS factors of their own)."""
    n = int(config["candidates"]["users_per_item"])
    grid = available[["user_id"]].merge(eligible[["item_id"]], how="cross")
    grid = grid.merge(excluded, on=["user_id", "item_id"], how="left", indicator=True)
    grid = grid[grid["_merge"] == "left_only"].drop(columns="_merge")
    grid["true_like"] = true_pair_probabilities(landing_root(config), grid["user_id"].to_numpy(),
                                                grid["item_id"].to_numpy())["like"]
    popular = available.merge(activity, on="user_id", how="left").fillna({"exposures_28": 0})
    top_users = popular.sort_values(["exposures_28", "user_id"], ascending=[False, True]).head(n)["user_id"]
    retrieved = {**retrieved, "popularity": grid[grid["user_id"].isin(top_users)][["user_id", "item_id"]]}
    main = retrieved.get("als")
    cold = (set(main.loc[main["source"].str.startswith("als_cold") | ~main["source"].str.startswith("als"), "item_id"])
            if main is not None else set())
    rows = []
    for name, frame in retrieved.items():
        recall = recall_at_n(frame, grid, n)
        for group, items in (("all", recall.index), ("cold_start", [i for i in recall.index if i in cold])):
            values = recall.reindex(items)
            rows.append({"predicted_for": ds, "retriever": name, "items": group, "n": n, "n_items": len(values),
                         "recall_at_n": float(values.mean()) if len(values) else float("nan")})
    frame = pd.DataFrame(rows)
    for row in frame.itertuples():
        LOG.info("retrieval recall@%d on %s items (%d): %s = %.3f", row.n, row.items, row.n_items, row.retriever,
                 row.recall_at_n)
    return frame
