"""Spark's jars from Maven Central -- Delta Lake's, and Hadoop's S3 connector for a warehouse in a
bucket: fetched once at install, then put on Spark's classpath offline.

`delta-spark`'s own helper (`configure_spark_with_delta_pip`) names the Maven artifact that
matches the installed pyspark and delta-spark; Spark's Ivy resolves it with its dependencies.
Doing that at every session start would need the network on every run, so `make venv` runs
`python -m jobs.warehouse.delta_jars` once: the jars land in the virtualenv (`<prefix>/fairshot-delta/jars`)
and every session after lists them in `spark.jars`, which also ships them to a cluster's executors.

`spark.delta_jars` in the config chooses: `auto` (the installed folder when it is there, else no
jars: the delta-rs engine writes), `none`, `packages` (resolve from Maven at session start, for a
cluster node with the network), or a folder of jars.

The S3 connector (`hadoop-aws` of the Hadoop version pyspark bundles, with the AWS SDK: about
700 MB) is fetched only on request (`make s3-jars`), and put on the classpath only when the
warehouse is in a bucket; `spark.s3_jars` chooses among the same four as `spark.delta_jars`.
"""
from __future__ import annotations

import glob
import os
import shutil
import sys
from collections.abc import Callable

from jobs.errors import ConfigError

# Spark's Delta extension and catalog: what makes `format("delta")`, DELETE and DESCRIBE HISTORY work.
DELTA_SESSION_OPTIONS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # `replaceWhere` re-reads what it writes to check every row is inside the partition; fairshot
    # stamps the partition columns itself (`jobs.warehouse.io.conform`), so the check is one job per commit for nothing.
    "spark.databricks.delta.replaceWhere.constraintCheck.enabled": "false",
}


def installed_folder(kind: str = "delta") -> str:
    """Where `python -m jobs.warehouse.delta_jars [--s3]` puts Spark's Ivy cache; the jars are in its `jars/`."""
    return os.path.join(sys.prefix, f"fairshot-{kind}")


def delta_package() -> str:
    """The Maven coordinate matching the installed pyspark and delta-spark (delta's own rule)."""
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    # a builder of its own, so the setting cannot leak into the session fairshot starts
    return configure_spark_with_delta_pip(SparkSession.Builder())._options["spark.jars.packages"]


def s3_connector_package() -> str:
    """`hadoop-aws` of exactly the Hadoop version inside pyspark (a mismatch fails at the first
    read with a NoSuchMethodError), which brings the AWS SDK bundle it was built against."""
    import pyspark

    found = glob.glob(os.path.join(os.path.dirname(pyspark.__file__), "jars", "hadoop-client-api-*.jar"))
    if not found:
        raise RuntimeError("pyspark's jars hold no hadoop-client-api-*.jar: cannot tell which hadoop-aws matches")
    version = os.path.basename(found[0])[len("hadoop-client-api-"):-len(".jar")]
    return f"org.apache.hadoop:hadoop-aws:{version}"


def _jars_in(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "*.jar")))


def _classpath(setting: str, choice: str, kind: str, package: Callable[[], str]) -> tuple[list[str], list[str]]:
    """(jars, packages) for one `spark.*_jars` choice: the installed folder's jars for `auto` (none
    if it was never fetched), Maven coordinates for `packages`, or a folder's jars."""
    if choice == "none":
        return [], []
    if choice == "packages":
        return [], [package()]
    folder = os.path.join(installed_folder(kind), "jars") if choice == "auto" else choice
    found = _jars_in(folder)
    if not found and choice != "auto":
        raise FileNotFoundError(f"{setting}: no .jar files in {folder}")
    return found, []


def session_options(choice: str, shuffle_partitions: int, *, s3_choice: str | None = None) -> dict[str, str]:
    """The Spark options that put Delta on the classpath for `spark.delta_jars = choice` (none when
    there are no jars to use: then `storage.engine: auto` falls back to delta-rs), and the S3
    connector for `spark.s3_jars = s3_choice` when the warehouse is in a bucket (None: it is not)."""
    jars, packages = _classpath("spark.delta_jars", choice, "delta", delta_package)
    options: dict[str, str] = {}
    if jars or packages:
        # Delta rebuilds a table's state with this many tasks (default 50): on a small local session
        # that is 50 tiny tasks for every read and commit.
        options = {**DELTA_SESSION_OPTIONS, "spark.databricks.delta.snapshotPartitions": str(shuffle_partitions)}
    if s3_choice is not None:
        s3_jars, s3_packages = _classpath("spark.s3_jars", s3_choice, "s3", s3_connector_package)
        if not (s3_jars or s3_packages) and s3_choice != "none":
            raise ConfigError(
                f"storage.warehouse is in an object store and Hadoop's S3 connector is not installed "
                f"({os.path.join(installed_folder('s3'), 'jars')} is empty): run `make s3-jars` once, or set "
                "spark.s3_jars: packages (Maven at session start) or a folder of jars")
        jars, packages = jars + s3_jars, packages + s3_packages
    if jars:
        options["spark.jars"] = ",".join(jars)
    if packages:
        options["spark.jars.packages"] = ",".join(packages)
    return options


def fetch(folder: str | None = None, *, kind: str = "delta") -> list[str]:
    """Resolve Delta's jars (`kind="delta"`) or the S3 connector's (`"s3"`) from Maven Central into
    `folder` (Spark's Ivy does it, in a process of its own) and return them."""
    import subprocess

    package, expected = ((delta_package(), "io.delta_delta-spark") if kind == "delta"
                         else (s3_connector_package(), "org.apache.hadoop_hadoop-aws"))
    folder = folder or installed_folder(kind)
    # A fresh Python: Ivy resolves at the JVM's start, so this must not find a session already running.
    script = ("from pyspark.sql import SparkSession; import sys; SparkSession.builder.master('local[1]')"
              ".appName('fairshot-fetch-jars').config('spark.jars.ivy', sys.argv[1])"
              ".config('spark.jars.packages', sys.argv[2]).config('spark.ui.enabled', 'false').getOrCreate().stop()")
    subprocess.run([sys.executable, "-c", script, folder, package], check=True)
    jars = _jars_in(os.path.join(folder, "jars"))
    if not any(os.path.basename(jar).startswith(expected) for jar in jars):
        raise RuntimeError(f"{package} was not fetched into {folder}/jars (is Maven Central reachable?)")
    shutil.rmtree(os.path.join(folder, "cache"), ignore_errors=True)   # Ivy's copy of the same jars
    return jars


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Fetch Spark's jars from Maven Central, once, for offline runs.")
    parser.add_argument("--s3", action="store_true", help="Hadoop's S3 connector (a warehouse in a bucket), not Delta's")
    parser.add_argument("folder", nargs="?", help="where to put them (default: inside this virtualenv)")
    args = parser.parse_args()
    kind = "s3" if args.s3 else "delta"
    fetched = fetch(args.folder, kind=kind)
    print(f"{len(fetched)} jars for {delta_package() if kind == 'delta' else s3_connector_package()} "
          f"in {os.path.dirname(fetched[0])}")
