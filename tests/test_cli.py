"""The README's first command, on the tiny world: `fairshot demo` end to end through the CLI."""
from __future__ import annotations

from deltalake import DeltaTable

from jobs.cli import main
from tests.conftest import PIPELINE_DAYS


def test_demo_publishes_and_says_where(tmp_path, capsys, spark):
    warehouse = tmp_path / "warehouse"
    # the command is under test here, not the heads (tests/test_pipeline.py runs those)
    assert main(["demo", "--env", "test", "--set", f"storage.warehouse={warehouse}",
                 "--set", "candidates.ranker=heuristic", "--set", "candidates.backtests=false"]) == 0
    out = capsys.readouterr().out
    assert "published" in out and str(warehouse) in out
    # the query it suggests reads this warehouse, not the default one
    assert f"fairshot query sql/feed_plan.sql --ds {PIPELINE_DAYS[-1]} --env test --warehouse {warehouse}`" in out
    runs = DeltaTable(str(warehouse / "gold" / "allocation_runs")).to_pandas()
    assert runs["status"].tolist() == ["published"]
    # it ends with the policy table and the report's path
    assert "policies (audit.policy_evaluation)" in out and "user_side" in out
    assert f"report: {runs['report_path'].iloc[0]}" in out and (tmp_path / "reports").is_dir()
    assert main(["tables", "--env", "test", "--set", f"storage.warehouse={warehouse}"]) == 0
    assert "gold.allocations" in capsys.readouterr().out


def test_sql_parameters_are_bound_outside_strings_and_comments_and_a_missing_one_is_named():
    """fairshot binds `:name` itself (Delta's SQL extension drops Spark's own parameter binding)."""
    import pytest

    from jobs.errors import QueryError
    from jobs.warehouse.catalog import bind_parameters

    statement = "SELECT ':ds' AS s, n::int, `:ds` -- :ds\nFROM t WHERE ds = :ds AND n > :n /* :n */"
    bound = bind_parameters(statement, {"ds": "it's", "n": 3})
    assert bound == "SELECT ':ds' AS s, n::int, `:ds` -- :ds\nFROM t WHERE ds = 'it\\'s' AND n > 3 /* :n */"
    with pytest.raises(QueryError, match=r"feed_plan.sql: parameter\(s\) :ds not given"):
        bind_parameters("SELECT * FROM feed_plan WHERE ds = :ds", {}, "feed_plan.sql")


def test_sql_without_its_parameter_is_one_line_naming_it(tmp_path, capsys, spark):
    code = main(["--env", "test", "--set", f"storage.warehouse={tmp_path / 'w'}", "sql", "sql/feed_plan.sql"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err == ["fairshot: QueryError: sql/feed_plan.sql: parameter(s) :ds not given "
                                 "(--ds binds :ds, --param NAME=VALUE any other)"]
