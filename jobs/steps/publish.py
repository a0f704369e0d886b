"""publish: audit the staged plan, and only if it passes, make it the feed's plan for ds.

Write -> audit -> publish. The audit is the great-expectations suites plus the model's invariants
(capacities and caps hold, probabilities in range, every id known, one run's rows only). Its
results land in `audit.quality_results` either way. A failed audit raises PublishGateFailed and
leaves every gold data table exactly as it was; the run ledger (`gold.allocation_runs`) gains a row
for the failed attempt, and the run already published for that ds stays the one the feed reads.

A passing run is made visible in three moves, so that no reader and no crash ever sees an empty
or mixed plan:
1. its rows are written to the gold data tables in its own (ds, run_id) partitions, beside the
   published run, which nothing touches;
2. one commit to the ledger marks it published (and the previous run superseded), recording the
   Delta version each gold table had after step 1 -- this commit is the switch the feed follows;
3. runs nobody can still be reading are removed: never the published run nor the one it replaced,
   and nothing superseded or written less than `storage.retain_superseded_hours` ago.
A kill between any two commits leaves the previous plan published and whole; rerunning publish
finishes the job (docs/feed_contract.md).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from allocation import invariants
from jobs.config import Config
from jobs.errors import PublishGateFailed
from jobs.steps.allocate.executor_audit import audit_results_on_executors
from jobs.steps.allocate.problem import OptionalLimits
from jobs.steps.allocate.step import on_executors
from jobs.steps.common import StepOutput, staged_run_id
from jobs.warehouse import io, quality
from jobs.warehouse.spark import get_spark
from jobs.warehouse.tables import PUBLISHED_TABLES, RUN_TABLES

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


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _write_ledger(spark: SparkSession, config: Config, ds: str, record: pd.DataFrame) -> int:
    """The run ledger of a ds, rewritten in one commit. Publishing run R drops R's earlier rows and
    marks any other published run 'superseded', so each ds has at most one published run. A failed
    audit only replaces R's earlier failure: the run the feed reads stays published."""
    key = "gold.allocation_runs"
    rid, status = str(record["run_id"].iloc[0]), str(record["status"].iloc[0])
    ledger = io.read_table(spark, config, key, ds=ds).toPandas()
    same_run = ledger["run_id"] == rid
    if status == "published":
        ledger = ledger[~same_run].copy()
        replaced = ledger["status"] == "published"
        ledger.loc[replaced, "status"] = "superseded"
        ledger.loc[replaced, "superseded_at"] = record["published_at"].iloc[0]
    else:
        ledger = ledger[~(same_run & (ledger["status"] == status))]
    merged = pd.concat([ledger, record], ignore_index=True)
    return io.write_partition(spark, config, key, io.frame_from_pandas(spark, key, merged), ds=ds, run_id=rid)


def stale_runs(ledger: pd.DataFrame, written_at: dict[str, dt.datetime], now: dt.datetime,
               retain_hours: float) -> list[str]:
    """Runs whose gold rows no reader can need any more. Kept: the published run, the run it
    replaced (the feed's fallback), and every run superseded -- or, never published, written --
    within `retain_hours`, since a reader that looked at the ledger just before a flip may still be
    reading it, and a run written but not yet flipped may be a publish in progress."""
    published = set(ledger.loc[ledger["status"] == "published", "run_id"])
    superseded = ledger[ledger["status"] == "superseded"].sort_values("superseded_at")
    keep = published | set(superseded["run_id"].tail(1))
    superseded_at = {r.run_id: dt.datetime.fromisoformat(r.superseded_at).replace(tzinfo=dt.UTC)
                     for r in superseded.itertuples() if r.superseded_at}
    horizon = now - dt.timedelta(hours=retain_hours)
    stale = []
    for rid, written in written_at.items():
        last_readable = max(written, superseded_at.get(rid, written))
        if rid not in keep and last_readable < horizon:
            stale.append(rid)
    return sorted(stale)


def remove_stale_runs(spark: SparkSession, config: Config, ds: str) -> dict[str, list[str]]:
    """Delete stale runs' rows from each run-partitioned table (one commit per table that has any)."""
    ledger = io.read_table(spark, config, "gold.allocation_runs", ds=ds).toPandas()
    now = dt.datetime.now(dt.UTC)
    removed: dict[str, list[str]] = {}
    for key in RUN_TABLES:
        stale = stale_runs(ledger, io.run_partitions(config, key, ds), now,
                           config["storage"]["retain_superseded_hours"])
        if stale:
            io.delete_runs(spark, config, key, ds, stale)
            removed[key] = stale
    return removed


def audit_results(config: Config, ds: str, spark: SparkSession, staged: dict[str, pd.DataFrame],
                  rid: str | None = None) -> list[quality.CheckResult]:
    """Every check the publish gate runs on a staged plan: the quality suites and the model's
    invariants, recomputed from the tables (not trusted from the solver)."""
    availability = io.read_table(spark, config, "silver.user_availability", ds=ds).select(
        "user_id", "p_active", "slot_capacity").toPandas()
    known_items = io.read_table(spark, config, "silver.item_features", ds=ds).select("item_id", "category").toPandas()
    results = [r for name, frame in staged.items() for r in quality.validate_gold(name, frame)]
    rid = rid or staged_run_id(spark, config, ds)
    return results + _invariant_checks(config, rid, staged, availability, known_items)


def run(config: Config, ds: str, spark: SparkSession | None = None) -> StepOutput:
    spark = spark or get_spark(config)
    record = io.read_table(spark, config, "staging.allocation_runs", ds=ds).toPandas()
    if len(record) != 1:
        raise PublishGateFailed(ds, [f"staging.allocation_runs holds {len(record)} runs for ds={ds} (expected one); "
                                     f"run `fairshot allocate --ds {ds}` first"])
    rid = str(record["run_id"].iloc[0])
    staged_frames = {name: io.read_table(spark, config, f"staging.{name}", ds=ds) for name in PUBLISHED_TABLES}
    if on_executors(config, ds, spark):      # a plan too large for the driver is audited where it is
        results = audit_results_on_executors(config, ds, spark, staged_frames, rid)
        rows = {name: frame.count() for name, frame in staged_frames.items()}
    else:
        staged = {name: frame.toPandas() for name, frame in staged_frames.items()}
        results = audit_results(config, ds, spark, staged, rid)
        rows = {name: len(frame) for name, frame in staged.items()}
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
    # 1. The run's rows, in partitions of its own: invisible to the feed until the ledger says so.
    written = {f"gold.{name}": io.write_partition(spark, config, f"gold.{name}", frame, ds=ds, run_id=rid)
               for name, frame in staged_frames.items()}
    output.versions.update(written)
    # 2. The switch: one ledger commit makes the run the feed's plan.
    published = record.assign(status="published", published_at=_now(), superseded_at="",
                              gold_versions=json.dumps(written, sort_keys=True))
    output.versions["gold.allocation_runs"] = _write_ledger(spark, config, ds, published)
    # 3. Rows no reader can still need.
    removed = remove_stale_runs(spark, config, ds)
    output.figures.update(run_id=rid, checks=len(results), rows=rows,
                          removed_runs=sorted({r for runs in removed.values() for r in runs}))
    LOG.info("publish ds=%s: %d checks passed, run %s published", ds, len(results), rid)
    return output
