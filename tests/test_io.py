"""Delta storage through both real engines (Spark's Delta writer and delta-rs): partition replace,
time travel, other readers."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from deltalake import DeltaTable
from pyspark.sql import Row

from jobs.errors import DataContractError
from jobs.warehouse import io
from jobs.warehouse.tables import table


def users(spark, *ids):
    return spark.createDataFrame([Row(user_id=i, registered_at=dt.datetime(2026, 1, i)) for i in ids])


def test_auto_writes_with_spark_when_the_installed_jars_are_on_the_classpath(spark, config):
    """`make venv` fetched Delta's jars and the session put them on Spark's classpath."""
    assert io.delta_jars_available(spark)
    assert io.resolve_engine(spark, config.with_overrides(["storage.engine=auto"])).name == "delta-spark"
    assert io.resolve_engine(spark, config.with_overrides(["storage.engine=delta-rs"])).name == "delta-rs"


def commit_run_id(commit: dict) -> str:
    """delta-rs keeps custom metadata at the top of the commit; Spark's writer in `userMetadata`."""
    return commit["run_id"] if "run_id" in commit else json.loads(commit["userMetadata"])["run_id"]


@pytest.mark.parametrize("engine", ["delta-spark", "delta-rs"])
def test_partition_replace_time_travel_and_other_readers(spark, config, engine):
    config = config.with_overrides([f"storage.engine={engine}"])
    assert io.resolve_engine(spark, config).name == engine
    assert io.write_partition(spark, config, "bronze.users", users(spark, 1, 2), ds="2026-04-01", run_id="r") == 0
    assert io.write_partition(spark, config, "bronze.users", users(spark, 3), ds="2026-04-02", run_id="r") == 1
    assert io.write_partition(spark, config, "bronze.users", users(spark, 4), ds="2026-04-01", run_id="r") == 2

    current = {(r.user_id, r.ds) for r in io.read_table(spark, config, "bronze.users").collect()}
    assert current == {(4, "2026-04-01"), (3, "2026-04-02")}
    before = {(r.user_id, r.ds) for r in io.read_table(spark, config, "bronze.users", version=1).collect()}
    assert before == {(1, "2026-04-01"), (2, "2026-04-01"), (3, "2026-04-02")}
    assert [r.user_id for r in io.read_table(spark, config, "bronze.users", ds="2026-04-02").collect()] == [3]

    delta = DeltaTable(io.table_uri(config, "bronze.users"))
    assert delta.metadata().partition_columns == ["ds"]
    frame = delta.to_pandas().sort_values("user_id")
    assert frame["user_id"].tolist() == [3, 4] and frame["ds"].tolist() == ["2026-04-02", "2026-04-01"]
    assert commit_run_id(delta.history(1)[0]) == "r"
    # the registry's descriptions, written by the commit that created the table
    spec = table("bronze.users")
    assert delta.metadata().description == spec.description
    assert {f.name: f.metadata.get("comment") for f in delta.schema().fields} == {
        name: spec.column_description(name) for name in spec.schema.fieldNames()}


def test_reading_a_missing_table_gives_an_empty_typed_frame(spark, config):
    frame = io.read_table(spark, config, "silver.candidates", ds="2026-04-01")
    assert frame.count() == 0 and "user_value" in frame.columns


def test_missing_output_column_names_table_and_column(spark, config):
    frame = spark.createDataFrame([Row(user_id=1)])
    with pytest.raises(DataContractError, match=r"bronze.users.*registered_at.*required column present"):
        io.write_partition(spark, config, "bronze.users", frame, ds="2026-04-01", run_id="r")
    assert io.table_version(spark, config, "bronze.users") is None


def one_row(spark, spec, run_id):
    """A row of `spec`'s columns (ds aside): text is the run id, numbers 0.5 or 7."""
    from pyspark.sql.types import DoubleType, LongType, StringType, StructType

    value = {StringType: run_id, DoubleType: 0.5, LongType: 7}
    columns = StructType([f for f in spec.schema.fields if f.name != "ds"])
    return spark.createDataFrame([{f.name: value[type(f.dataType)] for f in columns.fields}], columns)


@pytest.mark.parametrize("engine", ["delta-spark", "delta-rs"])
def test_a_column_added_since_joins_a_table_an_older_fairshot_wrote(spark, config, engine):
    """Upgrading fairshot must not break the next night's write: a warehouse from an older version
    lacks the columns added since (audit.policy_evaluation.user_share came with the sampled
    evaluation). The write adds the column, described; rows written before read it as null."""
    import dataclasses

    from pyspark.sql.types import StructType

    config = config.with_overrides([f"storage.engine={engine}"])
    key = "audit.policy_evaluation"
    spec = table(key)
    older = dataclasses.replace(spec, schema=StructType([f for f in spec.schema.fields if f.name != "user_share"]))
    uri = io.table_uri(config, key)
    io.resolve_engine(spark, config).write_partition(
        spark, uri, older, io.conform(one_row(spark, older, "old"), older, {"ds": "2026-04-01"}),
        partition={"ds": "2026-04-01"}, run_id="old")
    assert "user_share" not in {f.name for f in DeltaTable(uri).schema().fields}
    assert [r.user_share for r in io.read_table(spark, config, key).collect()] == [None]   # before any new write

    io.write_partition(spark, config, key, one_row(spark, spec, "new"), ds="2026-04-02", run_id="new")
    assert {r.run_id: r.user_share for r in io.read_table(spark, config, key).collect()} == {"old": None, "new": 0.5}
    fields = {f.name: f for f in DeltaTable(uri).schema().fields}
    assert set(fields) == set(spec.schema.fieldNames())
    assert fields["user_share"].metadata.get("comment") == spec.column_description("user_share")
    frame = DeltaTable(uri).to_pandas()                        # another reader sees the new column too
    assert frame.set_index("run_id")["user_share"].to_dict().get("new") == 0.5
