"""The feed's read contract without Spark: the published plan of a ds, read with `deltalake` alone.

The rule (docs/feed_contract.md), which the SQL views in sql/views.sql follow too:
1. in `gold/allocation_runs`, the ds's one row with status 'published' names the run;
2. the plan is the rows of `gold/allocations`, `gold/item_quotas` and `gold/creator_outcomes`
   with that ds and that run_id (both are partition columns, so a reader prunes to one folder).
Publishing writes a run's rows first and flips the ledger last, in one commit, and removes an old
run's rows only after it has been superseded for `storage.retain_superseded_hours`: a reader that
follows the rule sees one whole plan, whatever it reads while a publish runs. The ledger row also
records, in `gold_versions`, the Delta version of each gold table right after the run was written,
so `at_recorded_versions=True` time-travels to exactly what was published.

This module imports neither Spark nor the rest of fairshot: an online service can vendor it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

DATA_TABLES = ("allocations", "item_quotas", "creator_outcomes")
FEED_COLUMNS = ["ds", "run_id", "user_id", "item_id", "creator_id", "x", "selected", "user_rank",
                "user_key", "item_key", "creator_key"]


class ContractError(RuntimeError):
    """The ledger breaks the contract (more than one published run for a ds)."""


@dataclass(frozen=True)
class PublishedPlan:
    ds: str
    run_id: str
    ledger_version: int
    gold_versions: dict[str, int]
    allocations: pd.DataFrame
    item_quotas: pd.DataFrame
    creator_outcomes: pd.DataFrame

    def feed_plan(self) -> pd.DataFrame:
        """The same rows and columns as the `feed_plan` SQL view (a plan published before the source's
        keys were kept has them empty)."""
        return self.allocations.reindex(columns=FEED_COLUMNS)


def _uri(warehouse: str, name: str) -> str:
    return f"{warehouse.rstrip('/')}/gold/{name}"


def _read(uri: str, ds: str, run_id: str | None = None, version: int | None = None) -> pd.DataFrame:
    from deltalake import DeltaTable

    partitions = [("ds", "=", ds)] + ([("run_id", "=", run_id)] if run_id is not None else [])
    table = DeltaTable(uri, version=version)
    return table.to_pyarrow_table(partitions=partitions).to_pandas()


def published_run(warehouse: str, ds: str, ledger_version: int | None = None) -> pd.Series | None:
    """The ledger row of ds's published run (None if ds has none)."""
    from deltalake import DeltaTable

    uri = _uri(warehouse, "allocation_runs")
    if not DeltaTable.is_deltatable(uri):
        return None
    ledger = _read(uri, ds, version=ledger_version)
    published = ledger[ledger["status"] == "published"]
    if len(published) > 1:
        raise ContractError(f"gold.allocation_runs: {len(published)} published runs for ds={ds}")
    return None if published.empty else published.iloc[0]


def read_published_plan(warehouse: str, ds: str, *, at_recorded_versions: bool = False) -> PublishedPlan | None:
    """ds's published plan, or None if no run of ds was ever published."""
    from deltalake import DeltaTable

    ledger = _uri(warehouse, "allocation_runs")
    if not DeltaTable.is_deltatable(ledger):
        return None
    ledger_version = DeltaTable(ledger).version()   # one ledger snapshot for the whole read
    run = published_run(warehouse, ds, ledger_version)
    if run is None:
        return None
    recorded = json.loads(run["gold_versions"] or "{}")
    frames = {}
    for name in DATA_TABLES:
        version = recorded.get(f"gold.{name}") if at_recorded_versions else None
        frames[name] = _read(_uri(warehouse, name), ds, str(run["run_id"]), version).reset_index(drop=True)
    return PublishedPlan(ds, str(run["run_id"]), int(ledger_version), recorded, **frames)
