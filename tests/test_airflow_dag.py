"""The DAG as Airflow sees it: a real DagBag, the timetable's day, the watermark sensor, the
retry policy; and one real run of the whole DAG (`airflow dags test`, as the README says) on the
tiny world."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "airflow_dags"
ORDER = ["logs_complete", "catch_up", "ingest", "features", "candidates", "allocate", "publish", "report"]


def load_dag(home: Path):
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    dagbag_module = pytest.importorskip("airflow.dag_processing.dagbag",
                                        reason="Airflow is not installed (make test installs it)")
    bag = dagbag_module.DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.dags["fairshot_daily"]


@pytest.fixture(scope="module")
def dag(tmp_path_factory):
    return load_dag(tmp_path_factory.mktemp("airflow"))


def test_dag_orders_the_steps_and_evaluates_yesterday_after_todays_ingest(dag):
    assert dag.catchup is False and dag.max_active_runs == 1 and dag.dagrun_timeout is not None
    for upstream, downstream in zip(ORDER, ORDER[1:]):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    assert dag.get_task("previous_day_planned").upstream_task_ids == {"ingest"}
    assert dag.get_task("evaluate_previous_day").upstream_task_ids == {"previous_day_planned"}
    assert dag.get_task("report_previous_day").upstream_task_ids == {"evaluate_previous_day"}
    assert {asset.name for asset in dag.get_task("publish").outlets} >= {"fairshot.gold.allocations",
                                                                         "fairshot.gold.allocation_runs"}
    for task_id in ORDER[1:]:
        task = dag.get_task(task_id)
        assert task.execution_timeout is not None and task.retries >= 1 and task.on_failure_callback


def test_spark_submit_mode_submits_each_step_with_the_delta_jars(tmp_path, monkeypatch):
    """FAIRSHOT_RUNNER=spark-submit: every Spark step is `spark-submit jobs/cli.py <step> --ds ...`."""
    monkeypatch.setenv("FAIRSHOT_RUNNER", "spark-submit")
    dag = load_dag(tmp_path)
    for task_id in ORDER[1:] + ["evaluate_previous_day", "report_previous_day"]:
        task = dag.get_task(task_id)
        assert type(task).__name__ == "SparkSubmitOperator" and task.application == str(ROOT / "jobs" / "cli.py")
        assert task.application_args[1:3] == ["--ds", "{{ data_interval_start | ds }}"
                                               if "previous" not in task_id else
                                               "{{ macros.ds_add(data_interval_start | ds, -1) }}"]
    assert dag.get_task("catch_up").application_args[0] == "catch-up"
    assert any("io.delta_delta-spark" in jar for jar in dag.get_task("publish").conf["spark.jars"].split(","))


def test_the_run_after_midnight_is_for_the_day_that_ended(dag):
    """Not the day that has just begun: its logs cannot be complete yet."""
    from airflow.serialization.encoders import coerce_to_core_timetable

    timetable = coerce_to_core_timetable(dag.timetable)
    midnight = dt.datetime(2026, 4, 15, tzinfo=dt.UTC)
    interval = timetable.infer_manual_data_interval(run_after=midnight)
    assert interval.start.date().isoformat() == "2026-04-14" and interval.end == midnight
    assert dag.get_task("ingest").op_kwargs["day"] == "{{ data_interval_start | ds }}"


def test_a_failed_gate_or_bad_data_fails_at_once_and_the_rest_is_retried(dag):
    from airflow.sdk import RetryAction

    from jobs.errors import DataContractError, PublishGateFailed, StorageError

    policy = dag.get_task("publish").retry_policy
    for error in (PublishGateFailed("2026-04-14", ["plan covers no item"]),
                  DataContractError("bronze.events", "ts", "parseable", "3 rows")):
        assert policy.evaluate(error, 1, 3).action == RetryAction.FAIL
    assert policy.evaluate(StorageError("commit conflict"), 1, 3).action != RetryAction.FAIL
    assert policy.evaluate(ConnectionError("metastore"), 1, 3).action != RetryAction.FAIL


def test_the_sensor_waits_for_the_watermark_not_for_some_rows(tmp_path):
    from jobs.config import load_config
    from jobs.sources.base import source_root
    from jobs.sources.landing import complete_through, mark_complete_through

    config = load_config("test", [f"storage.warehouse={tmp_path / 'warehouse'}"])
    root = source_root(config)
    os.makedirs(os.path.join(root, "events", "ds=2026-04-14"))   # a day's files, still arriving
    assert complete_through(root) is None
    mark_complete_through(root, "2026-04-13")
    assert complete_through(root) == "2026-04-13" < "2026-04-14"
    mark_complete_through(root, "2026-04-14")
    assert complete_through(root) == "2026-04-14"


def test_airflow_dags_test_plans_the_day_from_its_whole_history(published_world, tmp_path):
    """The commands of docs/data-engineers.md, verbatim but for the folders: a fresh Airflow home,
    `airflow db migrate`, `fairshot sample`, then `FAIRSHOT_ENV=test airflow dags test` at the
    midnight after the last logged day. Every table of the day must hold the rows the shared world's
    nights (the pipeline called directly) wrote: the DAG runs the same steps, nothing more or less.

    Earlier nights ingested all but the last three days (the shared world's bronze stands in for
    them): the DAG's catch-up ingests the two days it finds missing in one pass and its ingest the
    day it plans, so both paths run. About 100 s: `airflow db migrate`, then the whole DAG in a
    JVM of its own: the one run of the DAG as a scheduler runs it. (Spark's own Delta writer, which
    this run used until 2026-12-08 at 45 s more, runs a whole night in tests/test_object_store.py,
    each table compared with delta-rs's, and each table operation on disk in tests/test_io.py.)"""
    import shutil

    import pandas as pd
    from deltalake import DeltaTable

    from jobs.analysis.fingerprint import canonical
    from jobs.warehouse import io
    from jobs.warehouse.tables import REGISTRY
    from tests.conftest import PIPELINE_DAYS

    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "FAIRSHOT_ENV": "test",
           "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    warehouse = tmp_path / "warehouse"

    def run(*command: str) -> str:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        return done.stdout + done.stderr

    run("fairshot", "sample", "--env", "test", "--warehouse", str(warehouse))
    shutil.copytree(Path(published_world["storage"]["warehouse"]) / "bronze", warehouse / "bronze")
    for table in (warehouse / "bronze").iterdir():
        DeltaTable(str(table)).delete("ds >= '2026-04-12'")
    run("airflow", "db", "migrate")
    before = DeltaTable(str(warehouse / "bronze" / "events")).version()
    output = run("airflow", "dags", "test", "fairshot_daily", "2026-04-15", "-c", json.dumps({"warehouse": str(warehouse)}))
    assert "state=success" in output
    # the missing days (catch-up, one commit) and the planned day (ingest) were both written
    assert DeltaTable(str(warehouse / "bronze" / "events")).version() >= before + 2

    ds = PIPELINE_DAYS[-1]                               # the sample's last logged day, 2026-04-14
    events = DeltaTable(str(warehouse / "bronze" / "events")).to_pandas(columns=["ds"])
    assert sorted(events["ds"].unique()) == [f"2026-04-{day:02d}" for day in range(9, 15)]  # all 6 days
    ledger = DeltaTable(str(warehouse / "gold" / "allocation_runs")).to_pandas()
    assert ledger.loc[ledger["status"] == "published", "ds"].tolist() == [ds]

    compared = []
    for spec in REGISTRY.values():
        ours = str(warehouse / spec.layer / spec.name)
        if not DeltaTable.is_deltatable(ours) or spec.key == "audit.step_timings":   # how long, not what
            continue
        theirs = DeltaTable(io.table_uri(published_world, spec.key)).to_pandas(partitions=[("ds", "=", ds)])
        pd.testing.assert_frame_equal(canonical(DeltaTable(ours).to_pandas(partitions=[("ds", "=", ds)])),
                                      canonical(theirs), check_dtype=False, obj=spec.key)
        compared.append(spec.key)
    assert {"silver.user_features", "silver.candidates", "gold.allocations", "gold.allocation_runs"} <= set(compared)


@pytest.mark.spark   # its own JVM, through spark-submit: not for `make test-fast`
def test_a_step_runs_under_spark_submit_with_the_delta_jars(tmp_path):
    """What the spark-submit mode runs, by hand: `spark-submit --conf ... jobs/cli.py catch-up`.
    The master and jars come from the command line, not the config; the tables are Spark's Delta."""
    from jobs.config import load_config
    from jobs.sources.synthetic import WorldParams, generate_world, landing_root, write_landing
    from jobs.warehouse import delta_jars

    warehouse = tmp_path / "warehouse"
    config = load_config("test", [f"storage.warehouse={warehouse}"])
    write_landing(generate_world(WorldParams.from_config(config)), landing_root(config))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    confs = [arg for key, value in delta_jars.session_options("auto", 2).items() for arg in ("--conf", f"{key}={value}")]
    done = subprocess.run(["spark-submit", "--master", "local[2]", *confs, str(ROOT / "jobs" / "cli.py"),
                           "catch-up", "--ds", "2026-04-10", "--env", "test", "--warehouse", str(warehouse),
                           "--set", "storage.engine=auto"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "2026-04-09" in done.stdout                  # the one day of 04-10's window the source has

    from deltalake import DeltaTable

    events = DeltaTable(str(warehouse / "bronze" / "events"))
    assert sorted(events.to_pandas(columns=["ds"])["ds"].unique()) == ["2026-04-09"]
    assert "Delta-Lake" in json.dumps(events.history(1)[0])      # written by Spark's own Delta writer
