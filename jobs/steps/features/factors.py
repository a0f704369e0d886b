"""The night's ALS fit: the features step fits it once and writes it to silver; the candidates step
reads it back for tonight's scores and yesterday's for the heads' training rows.

Before, the candidates step fitted ALS twice a night (for ds and for ds-1), on one core (one block
keeps reruns identical): at 20,000 users two fits and their checkpoints were a quarter of the step.
Fitting each day once, when its features are built, halves the fits and leaves the candidates step
reading tables.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from features.embeddings import fit_embeddings, implicit_ratings
from jobs.config import Config

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SILVER_FACTORS = {"user_factors": "silver.user_factors", "item_factors": "silver.item_factors"}


def reads_factors(config: Config) -> bool:
    """Whether a candidates step under `config` reads ALS factors: the ranking heads take the ALS
    score as a feature, and the ALS retriever ranks by it."""
    c = config["candidates"]
    return c["ranker"] == "heads" or c["retriever"] == "als"


def fit_factors(config: Config, events: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(user factors, item factors) of the logs in `events` (the features window of one day), under
    the configured rank, regularisation, confidence and seed."""
    c = config["candidates"]
    return fit_embeddings(implicit_ratings(events), rank=c["als_rank"], reg_param=c["als_reg_param"],
                          alpha=c["als_alpha"], max_iter=c["als_iterations"], seed=int(config["seed"]))
