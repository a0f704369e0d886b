"""The nightly fairshot run: wait for the day's events, then ingest -> features -> candidates ->
allocate -> publish -> evaluate -> report for the logical date.

Thin on purpose: every task calls one `jobs` step, which is idempotent per ds, so retries and
backfills (`airflow dags backfill`) are safe. Heavy imports happen inside the tasks, never at parse
time, and XCom carries only table versions.
"""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

STEPS = ("ingest", "features", "candidates", "allocate", "publish", "evaluate", "report")
ENV = os.environ.get("FAIRSHOT_ENV", "local")


def _run_step(step: str, day: str) -> dict[str, int]:
    from jobs.config import load_config
    from jobs.pipeline import run_step

    return run_step(load_config(ENV), step, day).versions


@dag(
    dag_id="fairshot_daily",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["fairshot"],
    doc_md=__doc__,
)
def fairshot_daily() -> None:
    @task.sensor(poke_interval=300, timeout=6 * 3600, mode="reschedule")
    def events_landed(day: str) -> bool:
        from jobs.config import load_config
        from jobs.sources.base import make_source
        from jobs.spark import get_spark

        config = load_config(ENV)
        return day in make_source(config).available_days(get_spark(config))

    previous = events_landed(day="{{ ds }}")
    for step in STEPS:
        current = task(task_id=step)(_run_step)(step=step, day="{{ ds }}")
        previous >> current
        previous = current


fairshot_daily()
