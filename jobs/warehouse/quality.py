"""Great-expectations suites: the data-quality half of the publish gate.

One suite per table, all of its expectations validated in one pass. A plan the driver holds is
validated as pandas frames, which takes milliseconds where a Spark batch takes seconds; a plan too
large for the driver (allocated on the executors) has its allocations validated as a Spark
DataFrame, on Spark's engine, the same suite.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class CheckResult:
    suite: str
    table: str
    expectation: str
    success: bool
    observed: str


def _suites() -> dict[str, list[Any]]:
    import great_expectations as gx

    E = gx.expectations
    between = lambda column, low=0.0, high=None: E.ExpectColumnValuesToBeBetween(  # noqa: E731
        column=column, min_value=low, max_value=high)
    not_null = lambda *columns: [E.ExpectColumnValuesToNotBeNull(column=c) for c in columns]  # noqa: E731
    return {
        "allocations": [
            *not_null("run_id", "user_id", "item_id", "creator_id", "x", "selected", "user_rank"),
            between("x", 0.0, 1.0), between("expected_exposure"), between("expected_likes"), between("user_rank", 1),
            E.ExpectColumnValuesToBeInSet(column="selected", value_set=[True, False]),
            E.ExpectCompoundColumnsToBeUnique(column_list=["user_id", "item_id"]),
        ],
        "item_quotas": [
            *not_null("run_id", "item_id", "creator_id", "quota", "cap", "floor"),
            E.ExpectColumnValuesToBeUnique(column="item_id"),
            between("quota"), between("cap"), between("floor"), between("floor_shortfall"),
            between("expected_likes"), between("n_candidates"),
        ],
        "creator_outcomes": [
            *not_null("run_id", "creator_id", "trailing_likes", "expected_new_likes", "happiness_gain"),
            E.ExpectColumnValuesToBeUnique(column="creator_id"),
            between("trailing_likes"), between("expected_new_likes"), between("happiness_gain"),
            between("marginal_value"),
        ],
    }


@functools.lru_cache(maxsize=1)
def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.data_sources.add_pandas("fairshot")
    context.data_sources.add_spark("fairshot_spark")
    return context


def _describe(config: Any) -> str:
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id",)}
    return f"{config.type}({', '.join(f'{k}={v}' for k, v in sorted(kwargs.items()))})"


def validate_gold(table: str, frame: pd.DataFrame | DataFrame) -> list[CheckResult]:
    """Validate one gold table's frame (pandas or Spark) against its suite; every expectation gets a
    result row."""
    import great_expectations as gx
    import pandas as pd

    context = _context()
    source = context.data_sources.get("fairshot" if isinstance(frame, pd.DataFrame) else "fairshot_spark")
    suite_name = f"gold.{table}"
    try:
        asset = source.get_asset(table)
    except LookupError:
        asset = source.add_dataframe_asset(name=table)
        asset.add_batch_definition_whole_dataframe("whole")
    suite = gx.ExpectationSuite(name=suite_name, expectations=_suites()[table])
    outcome = asset.get_batch_definition("whole").get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    results = []
    for item in outcome.results:
        observed = {k: item.result.get(k) for k in ("observed_value", "unexpected_count", "partial_unexpected_list")
                    if item.result.get(k) not in (None, [])}
        if item.exception_info and item.exception_info.get("raised_exception"):
            observed["exception"] = item.exception_info.get("exception_message")
        results.append(CheckResult(suite_name, f"gold.{table}", _describe(item.expectation_config),
                                   bool(item.success), json.dumps(observed, default=str)))
    return results
