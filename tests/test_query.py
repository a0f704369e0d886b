"""`fairshot query`: the project's SQL files over the real Delta tables through DuckDB, without Spark,
giving what `fairshot sql` (Spark) gives."""
from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.analysis.query import run_query_file
from jobs.config import load_config
from jobs.cli import main
from jobs.errors import QueryError
from jobs.warehouse.catalog import bind_parameters, run_sql_file, statements
from tests.conftest import PIPELINE_DAYS

DS = PIPELINE_DAYS[-1]


def test_statements_split_only_outside_strings_and_comments():
    text = "-- a; comment\nSELECT 'a;b' AS s, \"c;d\" FROM t; /* x; y */ SELECT 1;\n\n"
    assert statements(text) == ["SELECT 'a;b' AS s, \"c;d\" FROM t", "SELECT 1"]
    assert statements("SELECT 'it''s; fine'") == ["SELECT 'it''s; fine'"]


def test_duckdb_strings_escape_a_quote_by_doubling_it():
    assert bind_parameters("WHERE c = :c", {"c": "it's"}, dialect="duckdb") == "WHERE c = 'it''s'"


@pytest.mark.parametrize("path", ["sql/feed_plan.sql", "sql/creator_outcomes_by_size.sql", "sql/item_explanations.sql"])
def test_query_gives_what_spark_sql_gives(spark, published_world, path):
    """The same file, the same views (published runs only), the same rows in the same order."""
    ours = run_query_file(published_world, path, {"ds": DS}).to_pandas()
    sparks = run_sql_file(spark, published_world, path, {"ds": DS}).toPandas()
    assert len(ours) > 0
    pd.testing.assert_frame_equal(ours, sparks, check_dtype=False)


def test_query_cli_writes_each_format_and_names_a_missing_parameter(published_world, tmp_path, capsys):
    where = ["--env", "test", "--warehouse", published_world["storage"]["warehouse"]]
    assert main([*where, "query", "sql/feed_plan.sql", "--ds", DS, "--limit", "3"]) == 0
    shown = capsys.readouterr().out
    assert shown.splitlines()[0].split() == ["user_key", "item_key", "creator_key", "user_id", "item_id",
                                             "creator_id", "x", "user_rank"]
    assert "first 3 shown" in shown
    expected = run_query_file(published_world, "sql/feed_plan.sql", {"ds": DS}).to_pandas()

    assert main([*where, "query", "sql/feed_plan.sql", "--ds", DS, "--format", "parquet",
                 "--output", str(tmp_path / "plan.parquet")]) == 0
    pd.testing.assert_frame_equal(pq.read_table(tmp_path / "plan.parquet").to_pandas(), expected)
    assert main([*where, "query", "sql/feed_plan.sql", "--ds", DS, "--format", "csv",
                 "--output", str(tmp_path / "plan.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "plan.csv")) == len(expected)
    capsys.readouterr()
    assert main([*where, "query", "sql/feed_plan.sql", "--ds", DS, "--format", "json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(expected) and set(json.loads(lines[0])) == set(expected.columns)

    custom = tmp_path / "by_creator.sql"
    custom.write_text("SELECT count(*) AS n FROM feed_plan WHERE ds = :ds AND selected AND creator_id = :creator")
    creator = int(expected["creator_id"].iloc[0])
    assert main([*where, "query", str(custom), "--ds", DS, "--param", f"creator={creator}"]) == 0
    assert int(capsys.readouterr().out.split()[1]) == int((expected["creator_id"] == creator).sum())

    assert main([*where, "query", "sql/feed_plan.sql"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "fairshot: QueryError: sql/feed_plan.sql: parameter(s) :ds not given (--ds binds :ds, --param NAME=VALUE any other)"]


def test_a_warehouse_without_tables_gives_no_rows_not_an_error(tmp_path, capsys):
    """No Spark here: a table that does not exist yet is an empty one, typed by its schema."""
    assert main(["--env", "test", "--warehouse", str(tmp_path / "empty"), "query", "sql/feed_plan.sql",
                 "--ds", DS]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "user_key  item_key  creator_key  user_id  item_id  creator_id  x  user_rank", "(0 rows)"]


def test_a_plan_published_before_the_source_keys_were_kept_reads_them_as_empty(tmp_path):
    """A gold table written before a column was added (here: the *_key columns) is still queried:
    the new column reads as null, as Spark reads it, instead of every view failing."""
    from deltalake import write_deltalake

    from jobs.warehouse.feed_reader import read_published_plan

    warehouse = tmp_path / "old"
    run = f"{DS}-old"
    write_deltalake(str(warehouse / "gold" / "allocation_runs"),
                    pd.DataFrame({"run_id": [run], "status": ["published"], "gold_versions": ["{}"], "ds": [DS]}), partition_by=["ds"])
    write_deltalake(str(warehouse / "gold" / "allocations"), pd.DataFrame({
        "run_id": [run, run], "user_id": [1, 2], "item_id": [10, 10], "creator_id": [5, 5], "x": [1.0, 0.5],
        "selected": [True, True], "user_rank": [1, 1], "expected_exposure": [0.9, 0.4],
        "expected_likes": [0.1, 0.05], "ds": [DS, DS]}), partition_by=["ds", "run_id"])
    for name, row in (("item_quotas", {"item_id": 10, "creator_id": 5, "quota": 1.4}),
                      ("creator_outcomes", {"creator_id": 5, "expected_new_likes": 0.15})):
        write_deltalake(str(warehouse / "gold" / name), pd.DataFrame([{"run_id": run, **row, "ds": DS}]),
                        partition_by=["ds", "run_id"])
    config = load_config("test", [f"storage.warehouse={warehouse}"])
    feed = run_query_file(config, "sql/feed_plan.sql", {"ds": DS}).to_pandas()
    assert feed["user_id"].tolist() == [1, 2] and feed["user_key"].isna().all()
    assert read_published_plan(str(warehouse), DS).feed_plan()["user_key"].isna().all()


def test_a_bad_format_is_named_before_anything_runs(tmp_path, capsys):
    """Checked first: the file does not even exist, and the answer is still about --format."""
    where = ["--env", "test", "--warehouse", str(tmp_path / "empty"), "query", "no/such.sql", "--ds", DS]
    assert main([*where, "--format", "xml"]) == 1
    assert "--format must be one of table, csv, json, parquet, got 'xml'" in capsys.readouterr().err
    assert main([*where, "--format", "parquet"]) == 1
    assert "--format parquet needs --output FILE" in capsys.readouterr().err


def test_a_query_error_is_one_line_with_the_file(published_world, tmp_path):
    bad = tmp_path / "bad.sql"
    bad.write_text("SELECT * FROM gold_no_such_table")
    with pytest.raises(QueryError, match=r"bad.sql: CatalogException: .*gold_no_such_table"):
        run_query_file(published_world, str(bad), {})
