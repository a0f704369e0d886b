"""Delta Lake's jars for Spark: fetched once at install, then put on Spark's classpath offline.

`delta-spark`'s own helper (`configure_spark_with_delta_pip`) names the Maven artifact that
matches the installed pyspark and delta-spark; Spark's Ivy resolves it with its dependencies.
Doing that at every session start would need the network on every run, so `make venv` runs
`python -m jobs.delta_jars` once: the jars land in the virtualenv (`<prefix>/fairshot-delta/jars`)
and every session after lists them in `spark.jars`, which also ships them to a cluster's executors.

`spark.delta_jars` in the config chooses: `auto` (the installed folder when it is there, else no
jars: the delta-rs engine writes), `none`, `packages` (resolve from Maven at session start, for a
cluster node with the network), or a folder of jars.
"""
from __future__ import annotations

import glob
import os
import sys

# Spark's Delta extension and catalog: what makes `format("delta")`, DELETE and DESCRIBE HISTORY work.
DELTA_SESSION_OPTIONS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # `replaceWhere` re-reads what it writes to check every row is inside the partition; fairshot
    # stamps the partition columns itself (`jobs.io.conform`), so the check is one job per commit for nothing.
    "spark.databricks.delta.replaceWhere.constraintCheck.enabled": "false",
}


def installed_folder() -> str:
    """Where `python -m jobs.delta_jars` puts Spark's Ivy cache; the jars are in its `jars/`."""
    return os.path.join(sys.prefix, "fairshot-delta")


def delta_package() -> str:
    """The Maven coordinate matching the installed pyspark and delta-spark (delta's own rule)."""
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    # a builder of its own, so the setting cannot leak into the session fairshot starts
    return configure_spark_with_delta_pip(SparkSession.Builder())._options["spark.jars.packages"]


def _jars_in(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "*.jar")))


def session_options(choice: str, shuffle_partitions: int) -> dict[str, str]:
    """The Spark options that put Delta on the classpath for `spark.delta_jars = choice`; none when
    there are no jars to use (then `storage.engine: auto` falls back to delta-rs)."""
    if choice == "none":
        return {}
    if choice == "packages":
        jars = {"spark.jars.packages": delta_package()}
    else:
        folder = os.path.join(installed_folder(), "jars") if choice == "auto" else choice
        found = _jars_in(folder)
        if not found:
            if choice == "auto":
                return {}
            raise FileNotFoundError(f"spark.delta_jars: no .jar files in {folder}")
        jars = {"spark.jars": ",".join(found)}
    # Delta rebuilds a table's state with this many tasks (default 50): on a small local session
    # that is 50 tiny tasks for every read and commit.
    return {**jars, **DELTA_SESSION_OPTIONS,
            "spark.databricks.delta.snapshotPartitions": str(shuffle_partitions)}


def fetch(folder: str | None = None) -> list[str]:
    """Resolve Delta's jars from Maven Central into `folder` (Spark's Ivy does it) and return them."""
    from pyspark.sql import SparkSession

    folder = folder or installed_folder()
    spark = (SparkSession.builder.master("local[1]").appName("fairshot-fetch-delta-jars")
             .config("spark.jars.ivy", folder).config("spark.jars.packages", delta_package())
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.stop()
    jars = _jars_in(os.path.join(folder, "jars"))
    if not any(os.path.basename(jar).startswith("io.delta_delta-spark") for jar in jars):
        raise RuntimeError(f"Delta's jars were not fetched into {folder}/jars (is Maven Central reachable?)")
    return jars


if __name__ == "__main__":
    fetched = fetch(sys.argv[1] if len(sys.argv) > 1 else None)
    print(f"{len(fetched)} jars for {delta_package()} in {os.path.dirname(fetched[0])}")
