"""User availability (DualRec's UAC): will the user come tomorrow, and how many creator-side items
can they absorb if they do?

A creator-side match is wasted on a user who does not return, so every pair's value is weighted
by p_active. This first estimate is a recency-weighted, smoothed frequency: active days count
with weight 0.5^(age / half_life), shrunk towards the population's active rate with
`prior_days` pseudo-days so that new users are neither certain nor hopeless.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.users import with_age_days


def build_user_availability(users: DataFrame, events: DataFrame, *, ds: str, lookback_days: int,
                            prior_days: float, half_life_days: float, slot_share: float,
                            max_slots: int) -> DataFrame:
    decay = 0.5 ** (1.0 / half_life_days)
    active_days = (events.select("user_id", "ds").groupBy("user_id", "ds").agg(F.count(F.lit(1)).alias("requests"))
                   .transform(with_age_days(ds)).where(F.col("age_days") < lookback_days))
    per_user = active_days.groupBy("user_id").agg(
        F.sum(F.pow(F.lit(decay), F.col("age_days"))).alias("weighted_active"),
        F.count(F.lit(1)).alias("active_days"),
        F.sum("requests").alias("requests"))
    registered_days = F.least(F.lit(lookback_days),
                              F.greatest(F.lit(1), F.datediff(F.lit(ds).cast("date"), F.to_date("registered_at")) + 1))
    base = (users.select("user_id", "registered_at").join(per_user, "user_id", "left")
            .na.fill(0, ["weighted_active", "active_days", "requests"])
            .withColumn("observable_days", registered_days)
            # sum_{a < n} decay^a, the weight of every day the user could have been active
            .withColumn("weighted_days", (1 - F.pow(F.lit(decay), F.col("observable_days"))) / (1 - decay)))
    population = base.agg(
        (F.sum("active_days") / F.sum("observable_days")).alias("_rate"),
        (F.sum("requests") / F.greatest(F.sum("active_days"), F.lit(1))).alias("_requests_per_day"))
    requests_if_active = F.when(F.col("active_days") > 0, F.col("requests") / F.col("active_days")).otherwise(
        F.col("_requests_per_day"))
    return (base.crossJoin(F.broadcast(population))
            .withColumn("p_active", (F.col("weighted_active") + prior_days * F.col("_rate"))
                        / (F.col("weighted_days") + prior_days))
            .withColumn("_requests_if_active", requests_if_active)
            .withColumn("expected_requests", F.col("p_active") * F.col("_requests_if_active"))
            .withColumn("slot_capacity", F.least(F.lit(max_slots), F.round(slot_share * F.col("_requests_if_active")))
                        .cast("int"))
            .select("user_id", "p_active", "expected_requests", "slot_capacity"))
