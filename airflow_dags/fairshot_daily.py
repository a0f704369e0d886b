"""The nightly fairshot run for the last complete day of logs (`ds`).

    logs_complete -> catch_up -> ingest -> features -> candidates -> allocate -> publish -> report
                                   \\-> previous_day_planned -> evaluate_previous_day -> report_previous_day

- **Which day.** A daily data-interval timetable: the run that starts after midnight UTC is for
  the day that just ended (its data interval), so ds is a day whose logs can be complete; a manual
  run at a date plans the last day that ended before it. The sensor then
  waits for the landing area's watermark (`_COMPLETE_THROUGH`, written by whoever lands the logs;
  `fairshot mark-complete` for a static export) to reach ds. It reads one small file: no Spark.
- **History.** `catch_up` ingests the days of ds's feature window that the source has and bronze
  lacks, as `fairshot run` does, so a first run never plans from one day of history.
- **Evaluation.** ds's plan can only be scored once ds+1's logs are in, so each night evaluates
  yesterday's plan (ds-1) against today's ingest and re-renders yesterday's report; no step
  ingests a day of its own accord.
- **Failures.** Each task calls one idempotent `jobs` step, so a retry or a backfill
  (`airflow backfill create --dag-id fairshot_daily --from-date ... --to-date ... --max-active-runs 1`:
  one day at a time, so each finds the day before's plan to evaluate) is safe. A
  failed publish gate, a data-contract breach or a config error fails at once (the same inputs
  fail the same way); anything else is retried. Tasks have timeouts and share a pool
  (`FAIRSHOT_POOL`, one slot on one machine: Spark sessions do not share 2 cores well); a failure
  calls `FAIRSHOT_ON_FAILURE` (`module:function`) if set, after logging.
- **Outputs.** `publish` declares the gold tables as Assets, so downstream DAGs can be scheduled
  on a new plan.
- **How.** `FAIRSHOT_RUNNER=python` (default): each task runs its step in the worker's Python.
  `FAIRSHOT_RUNNER=spark-submit`: each step is `spark-submit jobs/cli.py <step>` on the
  `FAIRSHOT_SPARK_CONN` connection's master, so the steps run on a cluster.
- **Where.** Params `env` (conf/<env>.yaml), `warehouse` (a URI; empty = the config's) and
  `overrides` (as `--set`) apply per run: `airflow dags trigger fairshot_daily -c '{"warehouse": "/data/fairshot"}'`.

Heavy imports (Spark, numpy, `jobs`) happen inside the tasks, never at parse time; XCom carries
only table versions.
"""
from __future__ import annotations

import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, ExceptionRetryPolicy, Param, RetryAction, RetryRule, dag, task

LOG = logging.getLogger(__name__)
PLAN_STEPS = ("ingest", "features", "candidates", "allocate", "publish", "report")
PUBLISHED = ("allocations", "item_quotas", "creator_outcomes", "allocation_runs")
ASSETS = [Asset(name=f"fairshot.gold.{name}", uri=f"x-fairshot://gold/{name}", group="fairshot")
          for name in PUBLISHED]
TIMEOUTS = {"catch_up": 3, "ingest": 1, "features": 2, "candidates": 3, "allocate": 2, "publish": 0.5,
            "report": 0.5, "evaluate_previous_day": 2, "report_previous_day": 0.5}  # hours
# The day the run is for: its data interval's day. For a scheduled run that is `{{ ds }}`; a manual
# run (`airflow dags test fairshot_daily 2026-04-14`) gets the last complete day before its date.
DAY = "{{ data_interval_start | ds }}"
# python: each task runs its step in the worker's Python (Spark local mode or `spark.master`);
# spark-submit: each step is submitted to a cluster (apache-airflow-providers-apache-spark).
RUNNER = os.environ.get("FAIRSHOT_RUNNER", "python")
CLI = Path(__file__).resolve().parent.parent / "jobs" / "cli.py"
POOL = os.environ.get("FAIRSHOT_POOL", "default_pool")

# Deterministic failures: the same inputs and config fail the same way, so a retry only delays the page.
FAIL_FAST = ExceptionRetryPolicy(rules=[RetryRule(
    exception=["jobs.errors.PublishGateFailed", "jobs.errors.ConfigError", "features.errors.DataContractError"],
    action=RetryAction.FAIL, reason="deterministic failure: retrying the same inputs cannot help")])


def _config(params: dict):  # noqa: ANN202 - jobs.config.Config, imported in the task
    from jobs.config import load_config

    overrides = [f"storage.warehouse={params['warehouse']}"] if params.get("warehouse") else []
    return load_config(params.get("env") or "local", overrides + list(params.get("overrides") or []))


def _run_step(step: str, day: str, params: dict | None = None) -> dict[str, int] | list[str]:
    from jobs import pipeline

    config = _config(params or {})
    if step == "catch-up":
        from jobs.warehouse.spark import get_spark

        return pipeline.catch_up(config, day, get_spark(config))
    return pipeline.run_step(config, step, day).versions


def _submitted(step: str, day: str, task_id: str):  # noqa: ANN202 - a SparkSubmitOperator
    """One step as `spark-submit jobs/cli.py <step> --ds <day>` on the `FAIRSHOT_SPARK_CONN`
    connection's master (standalone, YARN, Kubernetes), with the Delta jars `make venv` fetched.
    The step's Python (this virtualenv) must exist on the machine running the driver (client mode)."""
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    from jobs.warehouse import delta_jars

    return SparkSubmitOperator(
        task_id=task_id, application=str(CLI), name=f"fairshot-{step}",
        conn_id=os.environ.get("FAIRSHOT_SPARK_CONN", "spark_default"),
        application_args=[step, "--ds", day, "--env", "{{ params.env }}", "--warehouse", "{{ params.warehouse }}",
                          "--set-all", "{{ params.overrides | join(' ') }}"],
        conf={**delta_jars.session_options("auto", 4), "spark.sql.session.timeZone": "UTC"},
        env_vars={"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable, "TZ": "UTC"},
        execution_timeout=timedelta(hours=TIMEOUTS[task_id]), outlets=ASSETS if step == "publish" else [])


def notify_failure(context: dict) -> None:
    """Log which task failed for which day, then hand over to the platform's own alerting."""
    instance = context.get("task_instance")
    LOG.error("fairshot task %s failed for ds=%s: %s", getattr(instance, "task_id", "?"), context.get("ds"),
              context.get("exception"))
    hook = os.environ.get("FAIRSHOT_ON_FAILURE")
    if hook:
        from importlib import import_module

        module, _, function = hook.partition(":")
        getattr(import_module(module), function)(context)


@dag(
    dag_id="fairshot_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=18),
    params={
        "env": Param(os.environ.get("FAIRSHOT_ENV", "local"), type="string",
                     description="config overlay: conf/<env>.yaml"),
        "warehouse": Param("", type="string", description="warehouse URI; empty = the config's storage.warehouse"),
        "overrides": Param([], type="array", items={"type": "string"},
                           description="config overrides as for --set, e.g. allocation.creator_weight=2.0"),
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10), "retry_policy": FAIL_FAST,
                  "on_failure_callback": notify_failure, "pool": POOL},
    tags=["fairshot"],
    doc_md=__doc__,
)
def fairshot_daily() -> None:
    def timeout(name: str) -> timedelta:
        return timedelta(hours=TIMEOUTS[name])

    @task.sensor(poke_interval=300, timeout=8 * 3600, mode="reschedule", pool="default_pool")
    def logs_complete(day: str, params: dict | None = None) -> bool:
        from jobs.sources.base import source_root
        from jobs.sources.landing import complete_through

        root = source_root(_config(params or {}))
        through = complete_through(root)
        LOG.info("ds=%s: %s declares logs complete through %s", day, root, through)
        return through is not None and through >= day

    @task.short_circuit(retries=0)
    def previous_day_planned(day: str, params: dict | None = None) -> bool:
        """Yesterday's plan exists (not on a first run): evaluate it. Reads the Delta log, no Spark."""
        from jobs import pipeline

        return pipeline.has_plan(_config(params or {}), day)

    def step_task(step: str, day: str, task_id: str | None = None):  # noqa: ANN202 - an operator
        task_id = task_id or step.replace("-", "_")
        if RUNNER == "spark-submit":
            return _submitted(step, day, task_id)
        return task(task_id=task_id, execution_timeout=timeout(task_id),
                    outlets=ASSETS if step == "publish" else [])(_run_step)(step=step, day=day)

    chain = [logs_complete(day=DAY), *(step_task(step, DAY) for step in ("catch-up", *PLAN_STEPS))]
    for upstream, downstream in zip(chain, chain[1:]):
        upstream >> downstream
    previous_day = "{{ macros.ds_add(data_interval_start | ds, -1) }}"
    ingest = chain[2]
    (ingest >> previous_day_planned(day=previous_day)
     >> step_task("evaluate", previous_day, "evaluate_previous_day")
     >> step_task("report", previous_day, "report_previous_day"))


fairshot_daily()
