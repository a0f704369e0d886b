"""The publish audit of a plan too large for the driver: `publish.audit_results`' checks, computed
where the plan is.

The staged allocations stay a Spark DataFrame: their great-expectations suite runs on Spark's
engine, and every invariant is an aggregate on the executors (per user, per item, per creator, per
user and category) of which the driver collects only the per-item and per-creator sums and the
worst violations. item_quotas and creator_outcomes are O(items + creators) and are checked in pandas
as always. The checks have the same names and rules as the driver's audit (a test runs both on one
plan), so `audit.quality_results` reads the same whichever ran.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from allocation import invariants
from jobs.config import Config
from jobs.steps.allocate.problem import OptionalLimits
from jobs.warehouse import io, quality

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def audit_results_on_executors(config: Config, ds: str, spark: SparkSession, staged: dict[str, DataFrame],
                               rid: str) -> list[quality.CheckResult]:
    from pyspark.sql import functions as F

    tolerance = config["publish"]["tolerance"]
    alloc = staged["allocations"]
    quotas, outcomes = staged["item_quotas"].toPandas(), staged["creator_outcomes"].toPandas()
    results = [*quality.validate_gold("allocations", alloc), *quality.validate_gold("item_quotas", quotas),
               *quality.validate_gold("creator_outcomes", outcomes)]

    def record(name: str, ok: bool, observed: object) -> None:
        results.append(quality.CheckResult("invariants", "gold.allocations", name, bool(ok), str(observed)))

    availability = io.read_table(spark, config, "silver.user_availability", ds=ds).select(
        "user_id", "p_active", "slot_capacity")
    known = io.read_table(spark, config, "silver.item_features", ds=ds).select("item_id", "category").toPandas()
    quota_items = F.broadcast(spark.createDataFrame(quotas[["item_id"]]))
    unknown_users = alloc.join(availability, "user_id", "left_anti").count()
    unknown_items = alloc.join(quota_items, "item_id", "left_anti").count() + int(
        (~quotas["item_id"].isin(known["item_id"])).sum())
    record("user_id in silver.user_availability", unknown_users == 0, f"{unknown_users} unknown")
    record("item_id in silver.item_features", unknown_items == 0, f"{unknown_items} unknown")
    run_ids = ({row[0] for row in alloc.select("run_id").distinct().collect()}
               | set(quotas["run_id"]) | set(outcomes["run_id"]))
    record("one run_id across staged tables", run_ids <= {rid}, sorted(run_ids))
    if unknown_users or unknown_items:
        return results  # the capacity checks below need every id resolved

    planned = alloc.join(availability, "user_id")
    share = config["allocation"]["max_category_share"]
    excess = user_excess(planned.join(F.broadcast(spark.createDataFrame(
        known.drop_duplicates("item_id").assign(category=known["category"].fillna("")))), "item_id", "left"), share)
    slots = planned.select("user_id", "p_active", "slot_capacity").distinct().agg(
        F.sum(F.col("p_active") * F.col("slot_capacity"))).first()[0]
    exposure = _sums(alloc, "item_id", quotas["item_id"])
    checks = [
        invariants.InvariantResult("x in [0, 1]", excess.x_range, tolerance),
        invariants.InvariantResult("sum_i x_ui <= k_u", excess.load, tolerance),
        invariants.InvariantResult("sum_u a_u x_ui <= cap_i",
                                   float(np.max(exposure - quotas["cap"].to_numpy(float), initial=0.0)), tolerance),
        invariants.InvariantResult("selected per user <= k_u", excess.picks, 0.0),
    ]
    limits = OptionalLimits.of_slots(config, float(slots or 0.0), None)
    per_creator = alloc.groupBy("creator_id").agg(F.sum("expected_exposure")).toPandas()
    checks += [invariants.InvariantResult("expected exposure per creator <= creator cap",
                                          float(np.max(per_creator.iloc[:, 1].to_numpy(float) - limits.creator_cap,
                                                       initial=0.0)), tolerance),
               invariants.InvariantResult("total expected exposure <= budget",
                                          max(float(exposure.sum()) - limits.budget, 0.0), tolerance)]
    if share < 1.0:
        checks += [invariants.InvariantResult("x per user and category <= its cap", excess.group_load, tolerance),
                   invariants.InvariantResult("selected per user and category <= its cap", excess.group_picks, 0.0)]
    for check in checks:
        record(check.name, check.success, f"max violation {check.max_violation:.3g}")
    record("item quota = sum of its expected exposures",
           np.allclose(exposure, quotas["quota"].to_numpy(float), atol=max(tolerance, 1e-9) * 10), "")
    return results


class UserExcess(NamedTuple):
    """A plan's worst excess over the per-user limits (0 where none is exceeded)."""

    x_range: float       # of x outside [0, 1] (inf for NaN)
    load: float          # of a user's x over its slots
    picks: float         # of a user's picks over its slots (a fractional cap allows its ceiling)
    group_load: float    # of a user's x in one category over its cap (0 without category caps)
    group_picks: float


def user_excess(planned: DataFrame, category_share: float) -> UserExcess:
    """`planned`: a plan's pairs (user_id, x, selected) with their user's slot_capacity and item's
    category. Aggregated on the executors; the category caps are max(1, floor(share x slots)), off
    at a share of 1, as `problem.OptionalLimits` has them. Used by the audit, and by
    allocate for its ledger row's max_violation."""
    from pyspark.sql import functions as F

    selected = F.col("selected").cast("double")

    def worst(keys: list[str], cap) -> tuple[float, float]:  # noqa: ANN001 - a Column
        row = (planned.groupBy(*keys).agg((F.sum("x") - cap).alias("load"),
                                          (F.sum(selected) - F.ceil(cap - 1e-9)).alias("picks"))
               .agg(F.max("load"), F.max("picks")).first())
        return max(row[0] or 0.0, 0.0), max(row[1] or 0.0, 0.0)

    overall = planned.agg(F.min("x"), F.max("x"), F.sum(F.when(F.isnan("x"), 1).otherwise(0))).first()
    x_range = float("inf") if overall[2] else max(-(overall[0] or 0.0), (overall[1] or 0.0) - 1.0, 0.0)
    load, picks = worst(["user_id"], F.first("slot_capacity"))
    group = (worst(["user_id", "category"], F.greatest(F.lit(1.0), F.floor(category_share * F.first("slot_capacity"))))
             if category_share < 1.0 else (0.0, 0.0))
    return UserExcess(x_range, load, picks, *group)


def _sums(alloc: DataFrame, key: str, order: pd.Series) -> np.ndarray:
    """Expected exposure summed per `key` on the executors, in `order`'s order (0 where none)."""
    from pyspark.sql import functions as F

    sums = alloc.groupBy(key).agg(F.sum("expected_exposure").alias("sum")).toPandas().set_index(key)["sum"]
    return order.map(sums).fillna(0.0).to_numpy(float)
