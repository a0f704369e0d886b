"""The table registry: every Delta table fairshot writes, its layer, schema and partitioning.

Staging copies of the gold tables sit in their own layer so an allocation can be audited before it
is published (write -> audit -> publish); the feed and analysts only ever read `gold`.

The gold data tables are partitioned by run as well as by day: writing a run adds or replaces only
that run's rows, so the run the ledger (`gold.allocation_runs`) calls published stays whole while
the next one is written beside it. Publishing is then one commit to the ledger.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import StructField, StructType

from features import schemas
from features.descriptions import COLUMNS, TABLES


@dataclass(frozen=True)
class TableSpec:
    """A table; its schema's fields carry their descriptions (metadata "comment"), which become the
    Delta table's column comments when it is created."""

    name: str
    layer: str
    schema: StructType
    partition_by: tuple[str, ...] = ("ds",)

    def __post_init__(self) -> None:
        columns = TABLES[self.key][1]
        object.__setattr__(self, "schema", StructType([
            StructField(f.name, f.dataType, f.nullable, {**f.metadata, "comment": columns.get(f.name) or COLUMNS[f.name]})
            for f in self.schema.fields]))

    @property
    def key(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def description(self) -> str:
        return TABLES[self.key][0]

    def column_description(self, column: str) -> str:
        return self.schema[column].metadata["comment"]


_GOLD_OUTPUTS = {
    "allocations": schemas.ALLOCATIONS,
    "item_quotas": schemas.ITEM_QUOTAS,
    "creator_outcomes": schemas.CREATOR_OUTCOMES,
}
PUBLISHED_TABLES: tuple[str, ...] = tuple(_GOLD_OUTPUTS)
# Tables with one partition per run of a day, whose superseded runs publish's cleanup removes.
RUN_TABLES: tuple[str, ...] = (*(f"gold.{name}" for name in _GOLD_OUTPUTS), "audit.allocation_explanations")

_SPECS = [
    TableSpec("events", "bronze", schemas.EVENTS),
    TableSpec("events_rejected", "bronze", schemas.EVENTS_REJECTED),
    TableSpec("items", "bronze", schemas.ITEMS),
    TableSpec("creators", "bronze", schemas.CREATORS),
    TableSpec("users", "bronze", schemas.USERS),
    TableSpec("id_map", "bronze", schemas.ID_MAP),
    TableSpec("user_features", "silver", schemas.USER_FEATURES),
    TableSpec("user_category_affinity", "silver", schemas.USER_CATEGORY_AFFINITY),
    TableSpec("user_availability", "silver", schemas.USER_AVAILABILITY),
    TableSpec("availability_evaluation", "audit", schemas.AVAILABILITY_EVALUATION),
    TableSpec("item_features", "silver", schemas.ITEM_FEATURES),
    TableSpec("creator_features", "silver", schemas.CREATOR_FEATURES),
    TableSpec("user_factors", "silver", schemas.USER_FACTORS),
    TableSpec("item_factors", "silver", schemas.ITEM_FACTORS),
    TableSpec("candidates", "silver", schemas.CANDIDATES),
    TableSpec("ranking_heads", "silver", schemas.RANKING_HEADS),
    TableSpec("retrieval_evaluation", "audit", schemas.RETRIEVAL_EVALUATION),
    TableSpec("ranking_evaluation", "audit", schemas.RANKING_EVALUATION),
    TableSpec("ranking_calibration", "audit", schemas.RANKING_CALIBRATION),
    *(TableSpec(name, "staging", schema) for name, schema in _GOLD_OUTPUTS.items()),
    TableSpec("allocation_runs", "staging", schemas.ALLOCATION_RUNS),
    *(TableSpec(name, "gold", schema, ("ds", "run_id")) for name, schema in _GOLD_OUTPUTS.items()),
    TableSpec("allocation_runs", "gold", schemas.ALLOCATION_RUNS),
    TableSpec("quality_results", "audit", schemas.QUALITY_RESULTS),
    TableSpec("solver_trace", "audit", schemas.SOLVER_TRACE),
    TableSpec("solver_duals", "audit", schemas.SOLVER_DUALS),
    # run-partitioned like gold: the published run's explanation stays while the next is written
    TableSpec("allocation_explanations", "audit", schemas.ALLOCATION_EXPLANATIONS, ("ds", "run_id")),
    TableSpec("policy_evaluation", "audit", schemas.POLICY_EVALUATION),
    TableSpec("policy_item_exposure", "audit", schemas.POLICY_ITEM_EXPOSURE),
    TableSpec("availability_calibration", "audit", schemas.AVAILABILITY_CALIBRATION),
    TableSpec("step_timings", "audit", schemas.STEP_TIMINGS),
    TableSpec("simulation_daily", "audit", schemas.SIMULATION_DAILY, ("ds", "run_id")),
    TableSpec("simulation_summary", "audit", schemas.SIMULATION_SUMMARY, ("ds", "run_id")),
]
REGISTRY: dict[str, TableSpec] = {spec.key: spec for spec in _SPECS}


def table(key: str) -> TableSpec:
    """Look a table up by 'layer.name', e.g. 'silver.candidates'."""
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"unknown table {key!r}; known: {sorted(REGISTRY)}") from None
