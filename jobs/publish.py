"""publish: audit the staged plan, and only if it passes, make it the feed's plan for ds.

Write -> audit -> publish. The audit is the great-expectations suites plus the model's invariants
(capacities and caps hold, probabilities in range, every id known, one run's rows only). Its
results land in `audit.quality_results` either way. A failed audit raises PublishGateFailed and
leaves every gold data table exactly as it was; the run ledger (`gold.allocation_runs`) gains a row
for the failed attempt, and the run already published for that ds stays the one the feed reads.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from allocation import invariants
from jobs import io, quality
from jobs.build_problem import OptionalLimits
from jobs.config import Config
from jobs.errors import PublishGateFailed
from jobs.spark import get_spark
from jobs.steps import StepOutput, run_id
from jobs.tables import PUBLISHED_TABLES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOG = logging.getLogger(__name__)


def _invariant_checks(config: Config, run: str, staged: dict[str, pd.DataFrame],
                      availability: pd.DataFrame, known_items: pd.DataFrame) -> list[quality.CheckResult]:
    tolerance = config["publish"]["tolerance"]
    alloc, quotas = staged["allocations"], staged["item_quotas"]
    users = pd.Index(availability["user_id"])
    items = pd.Index(quotas["item_id"])
    user_pos, item_pos = users.get_indexer(alloc["user_id"]), items.get_indexer(alloc["item_id"])
    results: list[quality.CheckResult] = []

    def record(name: str, ok: bool, observed: object) -> None:
        results.append(quality.CheckResult("invariants", "gold.allocations", name, bool(ok), str(observed)))

    unknown_users = int((user_pos < 0).sum())
    unknown_items = int((item_pos < 0).sum() + (~quotas["item_id"].isin(known_items["item_id"])).sum())
    record("user_id in silver.user_availability", unknown_users == 0, f"{unknown_users} unknown")
    record("item_id in silver.item_features", unknown_items == 0, f"{unknown_items} unknown")
    run_ids = set().union(*(set(frame["run_id"]) for frame in staged.values()))
    record("one run_id across staged tables", run_ids <= {run}, sorted(run_ids))
    if unknown_users or unknown_items:
        return results  # the capacity checks below need every id resolved
    x = alloc["x"].to_numpy(float)
    capacity = availability["slot_capacity"].to_numpy(float)
    checks = [
        invariants.probability_range(x, tolerance),
        invariants.user_capacity(user_pos, x, capacity, tolerance),
        invariants.item_cap(item_pos, alloc["expected_exposure"].to_numpy(float), quotas["cap"].to_numpy(float),
                            tolerance),
        invariants.selected_within_capacity(user_pos, alloc["selected"].to_numpy(bool), capacity),
        *_optional_limit_checks(config, alloc, availability, known_items, tolerance),
    ]
    for check in checks:
        record(check.name, check.success, f"max violation {check.max_violation:.3g}")
    exposure_matches = np.allclose(
        np.bincount(item_pos, weights=alloc["expected_exposure"].to_numpy(float), minlength=len(items)),
        quotas["quota"].to_numpy(float), atol=max(tolerance, 1e-9) * 10)
    record("item quota = sum of its expected exposures", exposure_matches, "")
    return results


def _optional_limit_checks(config: Config, alloc: pd.DataFrame, availability: pd.DataFrame,
                           known_items: pd.DataFrame, tolerance: float) -> list[invariants.InvariantResult]:
    """The diversity caps, creator caps and budget config sets, recomputed from the staged plan."""
    planned = availability[availability["user_id"].isin(alloc["user_id"])].reset_index(drop=True)
    limits = OptionalLimits.from_config(config, planned["p_active"].to_numpy(float),
                                        planned["slot_capacity"].to_numpy(float))
    exposure = alloc["expected_exposure"].to_numpy(float)
    per_creator = alloc.groupby("creator_id")["expected_exposure"].sum().to_numpy(float)
    checks = [invariants.InvariantResult("expected exposure per creator <= creator cap",
                                         float(np.max(per_creator - limits.creator_cap, initial=0.0)), tolerance),
              invariants.InvariantResult("total expected exposure <= budget",
                                         max(float(exposure.sum()) - limits.budget, 0.0), tolerance)]
    if limits.category_cap is not None:
        cap = pd.Series(limits.category_cap, index=planned["user_id"])
        category = alloc["item_id"].map(known_items.drop_duplicates("item_id").set_index("item_id")["category"])
        per_group = alloc.assign(category=category.fillna("")).groupby(["user_id", "category"])
        x_sum, picks = per_group["x"].sum(), per_group["selected"].sum()
        group_cap = cap.reindex(x_sum.index.get_level_values("user_id")).to_numpy(float)
        checks += [invariants.InvariantResult("x per user and category <= its cap",
                                              float(np.max(x_sum.to_numpy(float) - group_cap, initial=0.0)), tolerance),
                   invariants.InvariantResult("selected per user and category <= its cap",
                                              float(np.max(picks.to_numpy(float) - np.ceil(group_cap - 1e-9),
                                                           initial=0.0)), 0.0)]
    return checks


def _write_ledger(spark: SparkSession, config: Config, ds: str, record: pd.DataFrame) -> int:
    """The run ledger of a ds. Publishing run R drops R's earlier rows and marks any other published
    run 'superseded', so each ds has at most one published run. A failed audit only replaces R's
    earlier failure: the run the feed reads stays published."""
    key = "gold.allocation_runs"
    rid, status = str(record["run_id"].iloc[0]), str(record["status"].iloc[0])
    ledger = io.read_table(spark, config, key, ds=ds).toPandas()
    same_run = ledger["run_id"] == rid
    if status == "published":
        ledger = ledger[~same_run].copy()
        ledger.loc[ledger["status"] == "published", "status"] = "superseded"
    else:
        ledger = ledger[~(same_run & (ledger["status"] == status))]
    merged = pd.concat([ledger, record], ignore_index=True)
    return io.write_partition(spark, config, key, io.frame_from_pandas(spark, key, merged), ds=ds, run_id=rid)


def audit_results(config: Config, ds: str, spark: SparkSession,
                  staged: dict[str, pd.DataFrame]) -> list[quality.CheckResult]:
    """Every check the publish gate runs on a staged plan: the quality suites and the model's
    invariants, recomputed from the tables (not trusted from the solver)."""
    availability = io.read_table(spark, config, "silver.user_availability", ds=ds).select(
        "user_id", "p_active", "slot_capacity").toPandas()
    known_items = io.read_table(spark, config, "silver.item_features", ds=ds).select("item_id", "category").toPandas()
    results = [r for name, frame in staged.items() for r in quality.validate_gold(name, frame)]
    return results + _invariant_checks(config, run_id(config, ds), staged, availability, known_items)


def run(config: Config, ds: str, spark: SparkSession | None = None) -> StepOutput:
    spark = spark or get_spark(config)
    rid = run_id(config, ds)
    staged_frames = {name: io.read_table(spark, config, f"staging.{name}", ds=ds) for name in PUBLISHED_TABLES}
    staged = {name: frame.toPandas() for name, frame in staged_frames.items()}
    record = io.read_table(spark, config, "staging.allocation_runs", ds=ds).toPandas()
    if record.empty or (record["run_id"] != rid).any():
        raise PublishGateFailed(ds, [f"no staged run {rid} for ds={ds}; run `fairshot allocate --ds {ds}` first"])
    results = audit_results(config, ds, spark, staged)
    output = StepOutput("publish", ds)
    quality_frame = pd.DataFrame([{**r.__dict__, "table_name": r.table, "run_id": rid} for r in results])
    output.versions["audit.quality_results"] = io.write_partition(
        spark, config, "audit.quality_results", io.frame_from_pandas(spark, "audit.quality_results", quality_frame),
        ds=ds, run_id=rid)
    failed = [f"{r.table}: {r.expectation} ({r.observed})" for r in results if not r.success]
    if failed:
        record = record.assign(status="audit_failed", message="; ".join(failed)[:4000])
        output.versions["gold.allocation_runs"] = _write_ledger(spark, config, ds, record)
        raise PublishGateFailed(ds, failed)
    for name, frame in staged_frames.items():
        output.versions[f"gold.{name}"] = io.write_partition(spark, config, f"gold.{name}", frame, ds=ds, run_id=rid)
    # Last: marking the run published is what makes it visible to the feed.
    output.versions["gold.allocation_runs"] = _write_ledger(spark, config, ds, record.assign(status="published"))
    output.figures.update(checks=len(results), rows={name: len(frame) for name, frame in staged.items()})
    LOG.info("publish ds=%s: %d checks passed, run %s published", ds, len(results), rid)
    return output
