"""One SparkSession factory for local mode and for a cluster.

Local mode is tuned for a 2-core machine: few shuffle partitions, no adaptive re-planning, no UI, UTC everywhere (naive
datetimes were otherwise read in the process's zone) and Parquet timestamps as INT64 micros, which
is what Delta readers expect. Delta's jars go on the classpath when they are installed
(`jobs.warehouse.delta_jars`), so that `storage.engine: auto` writes with Spark's own Delta writer; for a
warehouse in a bucket, Hadoop's S3 connector too, set from the AWS environment (`s3a_options`).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from jobs.config import Config
from jobs.warehouse import delta_jars, storage

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def get_spark(config: Config) -> SparkSession:
    """The shared session for this process (created on first use)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("TZ", "UTC")
    spark_conf = config["spark"]
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    in_bucket = storage.is_object_store(config["storage"]["warehouse"])
    if not launched_by_spark_submit():  # else spark-submit's --master, --jars and --conf stand
        master = os.environ.get("FAIRSHOT_SPARK_MASTER", spark_conf["master"])
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.master(master).config("spark.driver.memory", spark_conf["driver_memory"])
        for key, value in delta_jars.session_options(spark_conf["delta_jars"], spark_conf["shuffle_partitions"],
                                                     s3_choice=spark_conf["s3_jars"] if in_bucket else None).items():
            builder = builder.config(key, value)
    if in_bucket:
        for key, value in s3a_options(os.environ).items():
            builder = builder.config(key, value)
    java_options = " ".join(["-Duser.timezone=UTC", *spark_conf["java_options"].split()])
    builder = (
        builder
        .appName(spark_conf["app_name"])
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.executor.extraJavaOptions", java_options)
        .config("spark.sql.shuffle.partitions", str(spark_conf["shuffle_partitions"]))
        .config("spark.default.parallelism", str(spark_conf["shuffle_partitions"]))
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
    )
    for key, value in codegen_options(spark_conf["codegen"]).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(spark_conf["log_level"])
    spark.conf.set("spark.sql.adaptive.enabled", str(adaptive_execution(spark_conf["adaptive_execution"],
                                                                        spark.sparkContext.master)).lower())
    return spark


def codegen_options(enabled: bool) -> dict[str, str]:
    """Code generation off: no whole-stage code and no generated expression classes, so a query
    compiles nothing and its rows are interpreted. Per row that is slower; on the tiny world a
    night is CPU-bound in the JVM, and the JIT compiling (Spark's own code and the classes it
    generates for every query) was 121 of the JVM's 192 CPU-seconds (Java Flight Recorder's
    compiler statistics), so the suite turns it off (conf/test.yaml; docs/development.md)."""
    if enabled:
        return {}
    return {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}


def s3a_options(environ: Mapping[str, str]) -> dict[str, str]:
    """Hadoop's S3 connector configured from the AWS environment that delta-rs and pyarrow read,
    so one set of variables points every engine at the same bucket. The connector finds the keys
    (AWS_ACCESS_KEY_ID, ...) itself; an endpoint of its own (MinIO, Ceph, a test server) is
    addressed by path (`host/bucket/key`), as those servers expect."""
    options = {}
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["spark.hadoop.fs.s3a.endpoint"] = endpoint
        options["spark.hadoop.fs.s3a.path.style.access"] = "true"
        options["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https://")).lower()
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        options["spark.hadoop.fs.s3a.endpoint.region"] = region
    return options


def adaptive_execution(choice: str, master: str) -> bool:
    """Adaptive query execution re-plans a query between its stages, in jobs of their own. On a
    cluster that pays (skewed joins, partitions sized to the data); in local mode on a few
    partitions there is little to re-plan and the extra jobs cost about a quarter of a small
    night's features and candidates steps (measured on the tiny world: 60 s -> 46 s)."""
    if choice == "auto":
        return not master.startswith("local")
    return choice == "enabled"


def launched_by_spark_submit() -> bool:
    """Whether this Python was started by `spark-submit` (its JVM is already running, configured by
    the command line: the Airflow DAG's spark-submit mode, a cluster's job submission)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ
