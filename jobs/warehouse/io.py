"""All table reads and writes. Every write replaces exactly one partition -- a `ds`, or a
(`ds`, `run_id`) for the gold data tables -- in one Delta commit, so a reader sees the old
partition or the new one, never a mix.

Two engines behind one interface (docs/DESIGN.md, 'Storage'):
- `delta-spark`: Spark's own Delta writer (`replaceWhere`), where the Delta jars are on Spark's
  classpath (`jobs.warehouse.delta_jars`: `make venv` fetches them); what `storage.engine: auto` picks then;
- `delta-rs`: Spark writes plain Parquet, the files move into the table folder (invisible until
  committed), and one delta-rs transaction adds them and removes the partition's old files. For a
  machine without the jars (`spark.delta_jars: none`, or a set-up that could not fetch them). The
  commit is written here rather than by `deltalake.write_deltalake` because that one takes the
  data in the driver's memory; this way the executors write it.
Both produce ordinary Delta tables that either engine, and any Delta reader, can read. Table
locations are URIs (`jobs.warehouse.storage`): a local folder or a bucket alike.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote

from jobs.config import Config
from jobs.errors import DataContractError, StorageError
from jobs.warehouse import failpoints, storage
from jobs.warehouse.tables import TableSpec, table

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionFilter:
    """Which `ds` partitions to read: one day, or an inclusive range (either end open)."""

    ds: str | None = None
    since: str | None = None
    until: str | None = None

    def accepts(self, value: str) -> bool:
        if self.ds is not None:
            return value == self.ds
        return (self.since is None or value >= self.since) and (self.until is None or value <= self.until)

    def sql(self) -> str | None:
        if self.ds is not None:
            return f"ds = '{self.ds}'"
        clauses = ([f"ds >= '{self.since}'"] if self.since else []) + ([f"ds <= '{self.until}'"] if self.until else [])
        return " AND ".join(clauses) or None


class Engine(Protocol):
    name: str

    def write_partition(self, spark: SparkSession, uri: str, spec: TableSpec, df: DataFrame, *,
                        partition: dict[str, str], run_id: str) -> int: ...

    def write_partitions(self, spark: SparkSession, uri: str, spec: TableSpec, df: DataFrame, *,
                         days: list[str], metadata: dict[str, str]) -> int: ...

    def delete_partitions(self, spark: SparkSession, uri: str, spec: TableSpec, ds: str,
                          run_ids: list[str]) -> int | None: ...

    def read(self, spark: SparkSession, uri: str, spec: TableSpec, where: PartitionFilter,
             version: int | None) -> DataFrame: ...

    def version(self, spark: SparkSession, uri: str) -> int | None: ...


class DeltaRsEngine:
    name = "delta-rs"

    def write_partition(self, spark: SparkSession, uri: str, spec: TableSpec, df: DataFrame, *,
                        partition: dict[str, str], run_id: str) -> int:
        import pyarrow.parquet as pq
        from deltalake import DeltaTable
        from deltalake import Schema as DeltaSchema
        from deltalake.exceptions import DeltaError
        from deltalake.transaction import AddAction, CommitProperties, create_table_with_add_actions
        from pyarrow import fs

        if DeltaTable.is_deltatable(uri):
            found = DeltaTable(uri).metadata().partition_columns
            if found != list(spec.partition_by):
                raise StorageError(
                    f"table {spec.key} at {uri} is partitioned by {found}, this version of fairshot partitions it by "
                    f"{list(spec.partition_by)} (runs side by side, so a publish never empties the plan); "
                    "it was written by an older fairshot: move the table aside or use a fresh warehouse")
        token = f"{run_id}-{uuid.uuid4().hex[:8]}"
        staging = storage.join(uri, "_staging", token)
        relative = "/".join(f"{column}={partition[column]}" for column in spec.partition_by)
        files, root = storage.filesystem(uri)
        staging_path, partition_path = f"{root}/_staging/{token}", f"{root}/{relative}"
        ds = partition["ds"]
        moved: list[str] = []
        try:
            df.drop(*spec.partition_by).write.mode("error").parquet(storage.spark_uri(staging))
            if not storage.is_object_store(uri):      # an object store has no folders to make
                files.create_dir(partition_path, recursive=True)
            actions = []
            written = [info for info in files.get_file_info(fs.FileSelector(staging_path))
                       if info.base_name.endswith(".parquet")]
            for info in sorted(written, key=lambda found: found.base_name):
                target_name = f"{token}-{info.base_name}"
                target = f"{partition_path}/{target_name}"
                files.move(info.path, target)      # a rename on disk; copy and delete on an object store
                moved.append(target)
                stat = files.get_file_info(target)
                actions.append(AddAction(
                    path=f"{relative}/{target_name}", size=stat.size, partition_values=dict(partition),
                    modification_time=int(stat.mtime.timestamp() * 1000), data_change=True,
                    stats=json.dumps({"numRecords": pq.read_metadata(target, filesystem=files).num_rows}),
                ))
            schema = DeltaSchema.from_arrow(described_arrow_schema(spec))
            commit = CommitProperties(custom_metadata={"run_id": run_id, "ds": ds, "engine": self.name})
            if DeltaTable.is_deltatable(uri):
                DeltaTable(uri).create_write_transaction(
                    actions, "overwrite", schema, partition_by=list(spec.partition_by),
                    partition_filters=[(column, "=", value) for column, value in partition.items()],
                    commit_properties=commit)
            else:
                create_table_with_add_actions(uri, schema, actions, mode="append",
                                              partition_by=list(spec.partition_by), name=spec.name,
                                              description=spec.description, commit_properties=commit)
        except (DeltaError, OSError) as error:
            for path in moved:  # never committed, so invisible; remove them to leave no litter
                if files.get_file_info(path).type != fs.FileType.NotFound:
                    files.delete_file(path)
            raise StorageError(f"table {spec.key}: could not commit {relative}: {error}") from error
        finally:
            if files.get_file_info(staging_path).type != fs.FileType.NotFound:
                files.delete_dir(staging_path)
        return DeltaTable(uri).version()

    def write_partitions(self, spark: SparkSession, uri: str, spec: TableSpec, df: DataFrame, *,
                         days: list[str], metadata: dict[str, str]) -> int:
        """Several ds partitions in one transaction: Spark writes them into a staging folder by ds,
        each file moves into its day's folder, one overwrite commit adds them all and removes
        every old file of those days."""
        import pyarrow.parquet as pq
        from deltalake import DeltaTable
        from deltalake import Schema as DeltaSchema
        from deltalake.exceptions import DeltaError
        from deltalake.transaction import AddAction, CommitProperties, create_table_with_add_actions
        from pyarrow import fs

        token = f"days-{uuid.uuid4().hex[:8]}"
        files, root = storage.filesystem(uri)
        staging_path = f"{root}/_staging/{token}"
        moved: list[str] = []
        try:
            df.write.mode("error").partitionBy("ds").parquet(storage.spark_uri(storage.join(uri, "_staging", token)))
            actions = []
            written = [info for info in files.get_file_info(fs.FileSelector(staging_path, recursive=True))
                       if info.base_name.endswith(".parquet")]
            for info in sorted(written, key=lambda found: found.path):
                folder = info.path[len(staging_path) + 1:].rsplit("/", 1)[0]      # ds=YYYY-MM-DD
                day = unquote(folder.split("=", 1)[1])
                if not storage.is_object_store(uri):
                    files.create_dir(f"{root}/{folder}", recursive=True)
                target_name = f"{token}-{info.base_name}"
                target = f"{root}/{folder}/{target_name}"
                files.move(info.path, target)
                moved.append(target)
                stat = files.get_file_info(target)
                actions.append(AddAction(
                    path=f"{folder}/{target_name}", size=stat.size, partition_values={"ds": day},
                    modification_time=int(stat.mtime.timestamp() * 1000), data_change=True,
                    stats=json.dumps({"numRecords": pq.read_metadata(target, filesystem=files).num_rows}),
                ))
            schema = DeltaSchema.from_arrow(described_arrow_schema(spec))
            commit = CommitProperties(custom_metadata={**metadata, "engine": self.name})
            if DeltaTable.is_deltatable(uri):
                DeltaTable(uri).create_write_transaction(
                    actions, "overwrite", schema, partition_by=list(spec.partition_by),
                    partition_filters=[("ds", "in", list(days))], commit_properties=commit)
            else:
                create_table_with_add_actions(uri, schema, actions, mode="append",
                                              partition_by=list(spec.partition_by), name=spec.name,
                                              description=spec.description, commit_properties=commit)
        except (DeltaError, OSError) as error:
            for path in moved:
                if files.get_file_info(path).type != fs.FileType.NotFound:
                    files.delete_file(path)
            raise StorageError(f"table {spec.key}: could not commit ds {days[0]}..{days[-1]}: {error}") from error
        finally:
            if files.get_file_info(staging_path).type != fs.FileType.NotFound:
                files.delete_dir(staging_path)
        return DeltaTable(uri).version()

    def delete_partitions(self, spark: SparkSession, uri: str, spec: TableSpec, ds: str,
                          run_ids: list[str]) -> int | None:
        from deltalake import DeltaTable
        from deltalake.transaction import CommitProperties

        if not run_ids or not DeltaTable.is_deltatable(uri):
            return None
        table = DeltaTable(uri)
        table.delete(_run_predicate(ds, run_ids),
                     commit_properties=CommitProperties(custom_metadata={"ds": ds, "removed_runs": ",".join(run_ids)}))
        return table.version()

    def read(self, spark: SparkSession, uri: str, spec: TableSpec, where: PartitionFilter,
             version: int | None) -> DataFrame:
        import pyarrow as pa
        from deltalake import DeltaTable

        if not DeltaTable.is_deltatable(uri):
            return spark.createDataFrame([], spec.schema)
        delta = DeltaTable(uri, version=version)
        actions = pa.table(delta.get_add_actions(flatten=True)).to_pydict()
        base = storage.spark_uri(uri)
        files = [f"{base}/{unquote(path)}"
                 for path, ds in zip(actions["path"], actions["partition.ds"]) if where.accepts(ds)]
        if not files:
            return spark.createDataFrame([], spec.schema)
        # ds comes from the file paths (basePath partition discovery), typed by the schema.
        return spark.read.schema(spec.schema).option("basePath", base).parquet(*files)

    def version(self, spark: SparkSession, uri: str) -> int | None:
        return _log_version(uri)


_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


class DeltaSparkEngine:
    name = "delta-spark"

    def write_partition(self, spark: SparkSession, uri: str, spec: TableSpec, df: DataFrame, *,
                        partition: dict[str, str], run_id: str) -> int:
        """Replace the partition (replaceWhere)."""
        metadata = json.dumps({"run_id": run_id, **partition, "engine": self.name})
        where = " AND ".join(f"{column} = '{value}'" for column, value in partition.items())
        return self._replace(spark, uri, spec, df, where, metadata)

    def write_partitions(self, spark: SparkSession, uri: str, spec: TableSpec, df: DataFrame, *,
                         days: list[str], metadata: dict[str, str]) -> int:
        """Several ds partitions in one commit (replaceWhere over the days)."""
        listed = ", ".join(f"'{day}'" for day in days)
        return self._replace(spark, uri, spec, df, f"ds IN ({listed})", json.dumps({**metadata, "engine": self.name}))

    def _replace(self, spark: SparkSession, uri: str, spec: TableSpec, df: DataFrame, where: str,
                 metadata: str) -> int:
        """One commit replacing the rows `where` selects. The commit that creates a table also gives
        it its description; the columns' comments travel in the frame's schema (`conform`)."""
        location = storage.spark_uri(uri)
        if self.version(spark, uri) is None:
            # DataFrameWriterV2 takes table properties but no commit options: the commit's metadata
            # goes through the session for this one write.
            spark.conf.set(_USER_METADATA, metadata)
            try:
                (df.writeTo(f"delta.`{location}`").using("delta").partitionedBy(*spec.partition_by)
                 .tableProperty("comment", spec.description).create())
            finally:
                spark.conf.unset(_USER_METADATA)
        else:
            # mergeSchema: a warehouse written by an older fairshot lacks the columns added since;
            # `conform` has already held the frame to this version's columns, so nothing else can join.
            (df.write.format("delta").mode("overwrite")
             .option("mergeSchema", "true")
             .option("replaceWhere", where)
             .option("userMetadata", metadata)
             .partitionBy(*spec.partition_by)
             .save(location))
        version = self.version(spark, uri)
        assert version is not None
        return version

    def delete_partitions(self, spark: SparkSession, uri: str, spec: TableSpec, ds: str,
                          run_ids: list[str]) -> int | None:
        if not run_ids or self.version(spark, uri) is None:
            return None
        spark.sql(f"DELETE FROM delta.`{storage.spark_uri(uri)}` WHERE {_run_predicate(ds, run_ids)}")
        return self.version(spark, uri)

    def read(self, spark: SparkSession, uri: str, spec: TableSpec, where: PartitionFilter,
             version: int | None) -> DataFrame:
        from pyspark.sql import functions as F

        if self.version(spark, uri) is None:
            return spark.createDataFrame([], spec.schema)
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        df = reader.load(storage.spark_uri(uri))
        condition = where.sql()
        # a table an older fairshot wrote may lack columns added since: they read as nulls, as in
        # delta-rs's reader (Parquet read by this version's schema)
        return (df.where(condition) if condition else df).select(*[
            F.col(f.name) if f.name in df.columns else F.lit(None).cast(f.dataType).alias(f.name)
            for f in spec.schema.fields])

    def version(self, spark: SparkSession, uri: str) -> int | None:
        return _log_version(uri)


def _log_version(uri: str) -> int | None:
    """The table's latest version from its Delta log (delta-rs reads it without a Spark job), or
    None where there is no table yet."""
    from deltalake import DeltaTable

    return DeltaTable(uri).version() if DeltaTable.is_deltatable(uri) else None


def partition_writer(config: Config, key: str, ds: str, *, depth: int = 200) -> str | None:
    """The run_id of the newest commit that wrote partition `ds` of `key`, from the Delta log's
    commit metadata (both engines stamp it; delta-rs reads it without a Spark job). None when no
    commit among the newest `depth` wrote that partition."""
    from deltalake import DeltaTable

    uri = table_uri(config, key)
    if not DeltaTable.is_deltatable(uri):
        return None
    for commit in DeltaTable(uri).history(depth):
        metadata = dict(commit)
        if commit.get("userMetadata"):            # Spark's Delta writer keeps it as one JSON string
            try:
                metadata.update(json.loads(commit["userMetadata"]))
            except ValueError:
                continue
        if metadata.get("ds") == ds and metadata.get("run_id"):
            return str(metadata["run_id"])
        if ds in json.loads(metadata.get("days") or "[]"):      # a multi-day commit (a catch-up's ingest)
            return str(json.loads(metadata["run_ids"])[ds])
    return None


def _run_predicate(ds: str, run_ids: list[str]) -> str:
    quoted = ", ".join(f"'{rid}'" for rid in run_ids)
    return f"ds = '{ds}' AND run_id IN ({quoted})"


def delta_jars_available(spark: SparkSession) -> bool:
    """Whether Spark can load Delta's data source (its jars are on the driver's classpath)."""
    try:
        loader = spark._jvm.java.lang.Thread.currentThread().getContextClassLoader()  # type: ignore[union-attr]
        spark._jvm.java.lang.Class.forName("io.delta.sql.DeltaSparkSessionExtension", False, loader)  # type: ignore[union-attr]
        return True
    except Exception:  # py4j raises its own error types for ClassNotFoundException
        return False


def resolve_engine(spark: SparkSession, config: Config) -> Engine:
    choice = config["storage"]["engine"]
    if choice == "delta-rs" or (choice == "auto" and not delta_jars_available(spark)):
        return DeltaRsEngine()
    return DeltaSparkEngine()


def table_uri(config: Config, key: str) -> str:
    spec = table(key)
    return storage.join(config["storage"]["warehouse"], spec.layer, spec.name)


def described_arrow_schema(spec: TableSpec):  # noqa: ANN201 - a pyarrow.Schema
    """The table's Arrow schema with each column's description as its field metadata "comment"
    (what Spark's Delta writer stores too), so delta-rs writes the same column comments."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow = to_arrow_schema(spec.schema, timezone="UTC")
    return pa.schema([field.with_metadata({"comment": spec.column_description(field.name)}) for field in arrow])


def conform(df: DataFrame, spec: TableSpec, partition: dict[str, str]) -> DataFrame:
    """Cast to the table's schema and column order, stamping the partition and carrying each
    column's description (metadata "comment"); fail on missing columns."""
    from pyspark.sql import functions as F

    missing = [f.name for f in spec.schema.fields if f.name not in partition and f.name not in df.columns]
    if missing:
        raise DataContractError(spec.key, ", ".join(missing), "required column present",
                                f"the output lacks {missing}")
    return df.select(*[
        (F.lit(partition[f.name]) if f.name in partition else F.col(f.name)).cast(f.dataType).alias(
            f.name, metadata=f.metadata)
        for f in spec.schema.fields
    ])


def frame_from_pandas(spark: SparkSession, key: str, frame: pd.DataFrame) -> DataFrame:
    """A Spark DataFrame with table `key`'s columns (minus ds), typed by its schema."""
    from pyspark.sql.types import StructType

    spec = table(key)
    schema = StructType([f for f in spec.schema.fields if f.name != "ds"])
    missing = [name for name in schema.fieldNames() if name not in frame.columns]
    if missing:
        raise DataContractError(key, ", ".join(missing), "required column present", f"the output lacks {missing}")
    return spark.createDataFrame(frame[schema.fieldNames()], schema=schema)


def write_partition(spark: SparkSession, config: Config, key: str, df: DataFrame, *, ds: str,
                    run_id: str) -> int:
    """Replace partition `ds` of table `key` (for the run-partitioned gold tables: `ds` and
    `run_id`, leaving other runs' rows alone) with `df` in one commit; returns the new version."""
    spec = table(key)
    engine = resolve_engine(spark, config)
    partition = {"ds": ds, "run_id": run_id} if "run_id" in spec.partition_by else {"ds": ds}
    failpoints.before_commit(key)
    version = engine.write_partition(spark, table_uri(config, key), spec, conform(df, spec, partition),
                                     partition=partition, run_id=run_id)
    failpoints.after_commit(key)
    LOG.info("wrote %s %s -> version %s (%s)", key, " ".join(f"{k}={v}" for k, v in partition.items()),
             version, engine.name)
    return version


def write_partitions(spark: SparkSession, config: Config, key: str, df: DataFrame, *, days: list[str],
                     run_ids: dict[str, str]) -> int:
    """Replace days `days` of a ds-partitioned table with `df` (which carries `ds`) in one commit:
    a catch-up's many days cost one commit per table, not one per day. A day of `days` without
    rows in `df` is left empty, as a one-day write of no rows leaves it."""
    spec = table(key)
    if list(spec.partition_by) != ["ds"]:
        raise ValueError(f"{key} is partitioned by {list(spec.partition_by)}: write it a partition at a time")
    if len(days) == 1:
        return write_partition(spark, config, key, df.drop("ds"), ds=days[0], run_id=run_ids[days[0]])
    engine = resolve_engine(spark, config)
    metadata = {"days": json.dumps(sorted(days)), "run_ids": json.dumps({day: run_ids[day] for day in sorted(days)})}
    failpoints.before_commit(key)
    version = engine.write_partitions(spark, table_uri(config, key), spec, conform(df, spec, {}),
                                      days=sorted(days), metadata=metadata)
    failpoints.after_commit(key)
    LOG.info("wrote %s ds=%s..%s (%d days) -> version %s (%s)", key, min(days), max(days), len(days), version,
             engine.name)
    return version


def delete_runs(spark: SparkSession, config: Config, key: str, ds: str, run_ids: list[str]) -> int | None:
    """Remove the rows of `run_ids` for `ds` from a run-partitioned table in one commit (the files
    stay for time travel until a VACUUM); returns the new version, or None if nothing was to do."""
    spec = table(key)
    if "run_id" not in spec.partition_by:
        raise ValueError(f"{key} is not partitioned by run_id")
    failpoints.before_commit(key)
    version = resolve_engine(spark, config).delete_partitions(spark, table_uri(config, key), spec, ds,
                                                              sorted(run_ids))
    if version is not None:
        failpoints.after_commit(key)
        LOG.info("removed runs %s of %s ds=%s -> version %s", sorted(run_ids), key, ds, version)
    return version


def read_table(spark: SparkSession, config: Config, key: str, *, ds: str | None = None,
               since: str | None = None, until: str | None = None,
               version: int | None = None) -> DataFrame:
    """Read table `key` (optionally one partition or a ds range, optionally an older version)."""
    spec = table(key)
    where = PartitionFilter(ds=ds, since=since, until=until)
    return resolve_engine(spark, config).read(spark, table_uri(config, key), spec, where, version)


def read_published(spark: SparkSession, config: Config, key: str, ds: str) -> DataFrame:
    """The feed's read contract on Spark: the rows of gold table `key` for ds's published run
    (none if ds has no published run). `jobs.warehouse.feed_reader` is the same rule without Spark."""
    from pyspark.sql import functions as F

    ledger = read_table(spark, config, "gold.allocation_runs", ds=ds)
    runs = [r.run_id for r in ledger.where(F.col("status") == "published").select("run_id").collect()]
    if len(runs) > 1:
        raise DataContractError("gold.allocation_runs", "status", "at most one published run per ds",
                                f"ds={ds} has {len(runs)}: {runs}")
    rows = read_table(spark, config, key, ds=ds)
    return rows.where(F.col("run_id") == (runs[0] if runs else None))


def run_partitions(config: Config, key: str, ds: str) -> dict[str, dt.datetime]:
    """The runs a run-partitioned table holds for ds, each with when its files were last written
    (from the Delta log, whatever engine wrote it: no data is scanned)."""
    import pyarrow as pa
    from deltalake import DeltaTable

    uri = table_uri(config, key)
    if not DeltaTable.is_deltatable(uri):
        return {}
    actions = pa.table(DeltaTable(uri).get_add_actions(flatten=True)).to_pydict()
    written: dict[str, dt.datetime] = {}
    for day, rid, stamp in zip(actions["partition.ds"], actions["partition.run_id"], actions["modification_time"]):
        if day == ds:
            moment = stamp if isinstance(stamp, dt.datetime) else dt.datetime.fromtimestamp(stamp / 1000, dt.UTC)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
            written[rid] = max(written.get(rid, moment), moment)
    return written


def table_version(spark: SparkSession, config: Config, key: str) -> int | None:
    return resolve_engine(spark, config).version(spark, table_uri(config, key))
