"""A seeded sample of users, for work that needs a night's pairs on one machine but not all of them.

Hash-based rather than `DataFrame.sample`: the same users are kept in every table it filters, on
every machine, partitioning and run, so a sample of the candidates and a sample of availability
line up, and the same seed keeps the same users tomorrow.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

BUCKETS = 1 << 20


def keep_user_sample(frame: DataFrame, seed: int, share: float) -> DataFrame:
    """The rows of about `share` of the users: those whose xxhash64(seed, user_id) falls in the
    lowest `share` of 2^20 buckets."""
    bucket = F.pmod(F.xxhash64(F.lit(int(seed)), F.col("user_id")), F.lit(BUCKETS))
    return frame.where(bucket < F.lit(int(round(share * BUCKETS))))
