"""A real Spark cluster: a standalone master and two workers on 127.0.0.1, started from the installed
pyspark. The nightly job run there publishes the plan local mode publishes, bit for bit, and a
night allocated with its pairs on the cluster's executors (the dual solver's Spark mode) is certified
within its gap of that optimum."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

import pandas as pd
import pytest

from jobs.warehouse import io
from tests.conftest import PIPELINE_DAYS, copied_world, free_port

NIGHT = ("features", "candidates", "allocate", "publish")
# Backtests off (they write only audit tables); adaptive execution off, as in local mode, so Spark
# partitions the work alike.
OVERRIDES = ("features.backtests=false", "candidates.backtests=false", "spark.adaptive_execution=disabled")
GOLD = {"gold.allocations": ["user_id", "item_id"], "gold.item_quotas": ["item_id"],
        "gold.creator_outcomes": ["creator_id"]}



@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """spark://127.0.0.1:<port> with two one-core workers; stopped (whole process groups) after."""
    from pyspark.find_spark_home import _find_spark_home

    home = _find_spark_home()
    root = tmp_path_factory.mktemp("standalone")
    env = {**os.environ, "SPARK_HOME": home, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(root / "logs"),
           "SPARK_PID_DIR": str(root), "PYSPARK_PYTHON": sys.executable}
    spark_class = os.path.join(home, "bin", "spark-class")
    port, ui = free_port(), free_port()
    commands = [[spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                 "--webui-port", str(ui)]]
    for k in range(2):
        commands.append([spark_class, "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}",
                         "--host", "127.0.0.1", "--cores", "1", "--memory", "1g", "--webui-port", str(free_port()),
                         "--work-dir", str(root / f"worker{k}")])
    logs = [open(root / f"process{k}.log", "w") for k in range(len(commands))]
    processes = [subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                 for command, log in zip(commands, logs)]
    try:
        deadline = time.monotonic() + 120
        alive = 0
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5) as answer:
                    alive = sum(w["state"] == "ALIVE" for w in json.load(answer)["workers"])
            except OSError:
                alive = 0
            if alive == 2:
                break
            time.sleep(1)
        assert alive == 2, "the standalone cluster did not come up: " + (root / "process0.log").read_text()[-2000:]
        yield f"spark://127.0.0.1:{port}"
    finally:
        for process in processes:
            with_group = os.getpgid(process.pid) if process.poll() is None else None
            if with_group is not None:
                os.killpg(with_group, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(os.getpgid(process.pid), signal.SIGKILL)
        for log in logs:
            log.close()


def _copy_of(world, tmp_path, name: str):
    """The published tiny world's warehouse (bronze, silver, landing, gold) under another folder."""
    return copied_world(world, tmp_path / name / "warehouse", *OVERRIDES)


def _published(spark, config, ds: str) -> dict[str, pd.DataFrame]:
    return {key: io.read_published(spark, config, key, ds).toPandas().drop(columns=["run_id", "ds"])
            .sort_values(order).reset_index(drop=True) for key, order in GOLD.items()}


@pytest.fixture(scope="module")
def cluster_nights(published_world, cluster, tmp_path_factory):
    """One driver on the cluster runs both tests' work, one after the other, each on a copy of the
    shared world: the night (features to publish) and, on the second copy, allocate and publish
    with the pairs on the executors. One driver JVM instead of two: a cold driver costs about a
    minute here, which the two runs share."""
    ds = PIPELINE_DAYS[-1]
    root = tmp_path_factory.mktemp("cluster-nights")
    night, executors = _copy_of(published_world, root, "cluster"), _copy_of(published_world, root, "executors")
    script = textwrap.dedent(f"""
        from jobs import pipeline
        from jobs.steps import allocate, publish
        from jobs.warehouse.spark import get_spark
        from tests.conftest import make_config

        config = make_config({night['storage']['warehouse']!r}, *{OVERRIDES!r}, "spark.master={cluster}",
                             "spark.driver_memory=1g")
        spark = get_spark(config)
        assert spark.sparkContext.master == {cluster!r}, spark.sparkContext.master
        pipeline.run_day(config, {ds!r}, spark, steps={NIGHT!r})
        print("executors:", spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1)  # minus the driver
        on_executors = make_config({executors['storage']['warehouse']!r}, *{OVERRIDES!r}, "spark.master={cluster}",
                                   "spark.driver_memory=1g", "spark.allocate_on_executors=always",
                                   "allocation.dual_gap_tolerance=0.01")
        allocate.run(on_executors, {ds!r}, spark)
        publish.run(on_executors, {ds!r}, spark)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return done, night, executors


def test_the_nightly_job_on_a_standalone_cluster_publishes_the_local_plan(spark, published_world, cluster_nights):
    ds = PIPELINE_DAYS[-1]
    local = published_world          # its night for ds ran in local mode (backtests on: they write only audit tables)
    done, remote, _ = cluster_nights
    assert done.returncode == 0, done.stderr[-4000:]
    assert "executors: 2" in done.stdout                  # the work ran on the two workers, not in the driver
    here, there = _published(spark, local, ds), _published(spark, remote, ds)
    # The same plan to the last bit. The LP's optimum is often not unique, so inputs that differ in
    # their last bits (a double sum in another order) can pick another optimal plan: the features'
    # sums are order-independent for that reason (features.availability.exact_sum).
    for key in GOLD:
        assert len(here[key]) > 0
        pd.testing.assert_frame_equal(there[key], here[key], check_exact=True, obj=key)
    runs = {name: io.read_published(spark, config, "gold.allocation_runs", ds).toPandas()
            for name, config in (("local", local), ("cluster", remote))}
    assert runs["cluster"]["status"].tolist() == ["published"]
    assert runs["cluster"]["objective"].iloc[0] == runs["local"]["objective"].iloc[0]
    assert runs["cluster"]["n_pairs"].iloc[0] == runs["local"]["n_pairs"].iloc[0]


def test_the_nightly_allocate_runs_on_the_clusters_executors(spark, published_world, cluster_nights):
    """spark.allocate_on_executors=always on the standalone cluster: the pair blocks under the
    warehouse's _scratch (file://), the dual solver's passes and every pair's rounding, rank and
    explanation in the workers' Python. The plan is certified within its gap of the exact plan
    local mode published, passes the publish audit, and its blocks are gone afterwards."""
    ds = PIPELINE_DAYS[-1]
    done, _, remote = cluster_nights
    assert done.returncode == 0, done.stderr[-4000:]
    runs = {name: io.read_published(spark, config, "gold.allocation_runs", ds).toPandas().iloc[0]
            for name, config in (("local", published_world), ("cluster", remote))}
    cluster_run, exact = runs["cluster"], runs["local"]
    scale = max(1.0, abs(exact["objective"]))
    assert cluster_run["solver"] == "dual:executors" and cluster_run["gap"] <= 0.01
    assert cluster_run["bound"] >= exact["objective"] - 1e-6 * scale
    assert exact["objective"] - cluster_run["objective"] <= 0.01 * scale
    assert cluster_run["n_pairs"] == exact["n_pairs"] and cluster_run["max_violation"] <= 1e-9
    plan = io.read_published(spark, remote, "gold.allocations", ds).toPandas()
    assert len(plan) == exact["n_pairs"] and plan["selected"].any()
    scratch = os.path.join(remote["storage"]["warehouse"], "_scratch")
    assert not any(files for _, _, files in os.walk(scratch))
