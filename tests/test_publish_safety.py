"""The feed never sees an empty or mixed plan: runs side by side, one-commit publish, cleanup with
a grace period, a kill -9 at every commit point, and a reader polling while a ds is re-published.

Real Spark (in-process and in killed subprocesses), real Delta tables, real great-expectations."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

from jobs import pipeline
from jobs.steps import allocate, publish
from jobs.warehouse import io
from jobs.warehouse.catalog import register_views
from jobs.warehouse.failpoints import SimulatedCrash, armed
from jobs.warehouse.feed_reader import read_published_plan
from tests.conftest import PIPELINE_DAYS, copied_world

ROOT = Path(__file__).resolve().parent.parent
TUNED = "allocation.creator_weight=3.0"
STAGING = ("staging.allocations", "staging.item_quotas", "staging.creator_outcomes", "staging.allocation_runs")   # a second plan for the same day: a different run


@pytest.fixture
def planned(published_world):
    """A warehouse whose last day has features, candidates and a published run."""
    return published_world, PIPELINE_DAYS[-1]


def copy_of(planned, tmp_path, *overrides):
    config, ds = planned
    return copied_world(config, tmp_path / "warehouse", *overrides), ds


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    key = [c for c in ("user_id", "item_id", "creator_id") if c in frame.columns][:2]
    return frame.sort_values(key).reset_index(drop=True)


def plan_state(config, ds) -> dict[str, pd.DataFrame] | None:
    plan = read_published_plan(config["storage"]["warehouse"], ds)
    if plan is None:
        return None
    return {"run_id": plan.run_id, **{name: canonical(getattr(plan, name).drop(columns=["ds"]))
                                      for name in ("allocations", "item_quotas", "creator_outcomes")}}


def assert_same_plan(left, right):
    assert left is not None and right is not None
    assert left["run_id"] == right["run_id"]
    for name in ("allocations", "item_quotas", "creator_outcomes"):
        pd.testing.assert_frame_equal(left[name], right[name])


def test_two_runs_live_side_by_side_and_every_reader_agrees(spark, planned, tmp_path):
    config, ds = copy_of(planned, tmp_path)
    first = read_published_plan(config["storage"]["warehouse"], ds)
    tuned = config.with_overrides([TUNED])
    allocate.run(tuned, ds, spark)
    publish.run(tuned, ds, spark)
    second = read_published_plan(config["storage"]["warehouse"], ds)
    assert second.run_id != first.run_id and len(second.allocations) > 0
    # both runs' rows stay; the ledger is the switch
    held = set(io.read_table(spark, config, "gold.allocations", ds=ds).select("run_id").distinct().toPandas()["run_id"])
    assert held == {first.run_id, second.run_id}
    ledger = io.read_table(spark, config, "gold.allocation_runs", ds=ds).toPandas()
    ledger = ledger[ledger["status"] != "audit_failed"].set_index("run_id")   # earlier tests may have left one
    assert ledger.loc[second.run_id, "status"] == "published" and ledger.loc[first.run_id, "status"] == "superseded"
    assert ledger.loc[first.run_id, "superseded_at"] == ledger.loc[second.run_id, "published_at"] != ""
    # three forms of the contract: SQL views, the Spark helper, the deltalake reader
    register_views(spark, config)
    via_sql = spark.sql(f"SELECT * FROM feed_plan WHERE ds = '{ds}'").toPandas()
    via_spark = io.read_published(spark, config, "gold.allocations", ds).toPandas()
    columns = list(via_sql.columns)
    reference = canonical(second.feed_plan()[columns])
    pd.testing.assert_frame_equal(canonical(via_sql), reference, check_dtype=False)
    pd.testing.assert_frame_equal(canonical(via_spark[columns]), reference, check_dtype=False)
    quotas_sql = spark.sql(f"SELECT * FROM published_item_quotas WHERE ds = '{ds}'").toPandas()
    pd.testing.assert_frame_equal(canonical(quotas_sql[second.item_quotas.columns]),
                                  canonical(second.item_quotas), check_dtype=False)
    # the recorded versions time-travel to exactly what was published
    recorded = json.loads(ledger.loc[second.run_id, "gold_versions"])
    assert set(recorded) == {"gold.allocations", "gold.item_quotas", "gold.creator_outcomes"}
    travelled = read_published_plan(config["storage"]["warehouse"], ds, at_recorded_versions=True)
    pd.testing.assert_frame_equal(canonical(travelled.allocations), canonical(second.allocations))


def test_cleanup_keeps_the_published_and_the_previous_run_and_removes_older_ones(spark, planned, tmp_path):
    config, ds = copy_of(planned, tmp_path, "storage.retain_superseded_hours=0")
    runs = []
    for weight in (3.0, 6.0):
        tuned = config.with_overrides([f"allocation.creator_weight={weight}"])
        allocate.run(tuned, ds, spark)
        runs.append(publish.run(tuned, ds, spark).figures["run_id"])
    original = planned[0]
    first = read_published_plan(original["storage"]["warehouse"], ds).run_id
    held = set(io.run_partitions(config, "gold.allocations", ds))
    assert held == set(runs)                       # the published run and the one it replaced
    assert first not in held and DeltaTable(io.table_uri(config, "gold.allocations")).history(1)[0][
        "operation"] == "DELETE"
    # the removed run's files are still there for time travel
    latest = DeltaTable(io.table_uri(config, "gold.allocations")).version()
    before = DeltaTable(io.table_uri(config, "gold.allocations"), version=latest - 1).to_pandas(
        partitions=[("ds", "=", ds)])
    assert set(before["run_id"]) == {first, *runs}


def test_grace_period_and_orphans_are_judged_by_the_ledger():
    stamp = pd.Timestamp("2026-05-01 12:00:00", tz="UTC").to_pydatetime()
    hour = pd.Timedelta(hours=1).to_pytimedelta()
    ledger = pd.DataFrame([
        {"run_id": "a", "status": "superseded", "superseded_at": "2026-05-01 08:00:00"},
        {"run_id": "b", "status": "superseded", "superseded_at": "2026-05-01 09:00:00"},
        {"run_id": "c", "status": "published", "superseded_at": ""},
        {"run_id": "f", "status": "audit_failed", "superseded_at": ""},
    ])
    written = {"a": stamp - 9 * hour, "b": stamp - 5 * hour, "c": stamp - 3 * hour,
               "orphan-old": stamp - 6 * hour, "orphan-new": stamp - 0.1 * hour}
    assert publish.stale_runs(ledger, written, stamp, retain_hours=2) == ["a", "orphan-old"]
    assert publish.stale_runs(ledger, written, stamp, retain_hours=24) == []


def _run_cli(config, step, ds, crash_at=None, timeout=300):
    env = {**os.environ, "TZ": "UTC", "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("FAIRSHOT_CRASH_AT", None)
    if crash_at:
        env["FAIRSHOT_CRASH_AT"] = crash_at
    command = [sys.executable, "-m", "jobs.cli", "--env", "test", "--set",
               f"storage.warehouse={config['storage']['warehouse']}", "--set", TUNED,
               "--set", "storage.retain_superseded_hours=0", "--set", "candidates.backtests=false", step, "--ds", ds]
    # a session of its own, so the kill takes the driver and its JVM and nothing of pytest's
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          start_new_session=True)


# Every commit each step makes when run as the nightly job does (its tables, then its row in
# audit.step_timings); features and candidates take longest, so one commit in the middle of each
# stands for the rest (and their backtests are off: they write only audit tables). Ingest, features and candidates rerun with the day's own config (they do not
# read creator_weight); allocate and publish plan a second run beside the published one.
CRASH_POINTS = {
    "ingest": [f"commit#{n}" for n in range(1, 7)],
    "features": ["commit#2"],
    "candidates": ["commit#1"],
    "allocate": [f"commit#{n}" for n in range(1, 9)],
    "publish": [f"commit#{n}" for n in range(1, 7)],
}
# Real SIGKILLs of the whole process group (driver and JVM) where the feed is most exposed: in the
# middle of publish, after the first gold table and after the ledger flip.
KILL_POINTS = {"publish": ["after-commit:gold.allocations"]}


def assert_whole(state):
    """One run's plan, all of it: every table has rows, and quotas and creator outcomes add up to
    the allocations (a mix of two runs would not)."""
    alloc, quotas, outcomes = state["allocations"], state["item_quotas"], state["creator_outcomes"]
    assert len(alloc) and len(quotas) and len(outcomes)
    exposure = alloc.groupby("item_id")["expected_exposure"].sum().reindex(quotas["item_id"], fill_value=0.0)
    assert np.allclose(exposure.to_numpy(), quotas["quota"].to_numpy(), atol=1e-6)
    likes = alloc.groupby("creator_id")["expected_likes"].sum().reindex(outcomes["creator_id"], fill_value=0.0)
    assert np.allclose(likes.to_numpy(), outcomes["expected_new_likes"].to_numpy(), atol=1e-6)


def test_a_crash_at_every_commit_keeps_the_published_plan_and_the_rerun_matches_a_clean_run(
        spark, planned, tmp_path):
    """About 100 s: every commit point of the night is crashed and rerun (each a step of real
    Spark and Delta), one of them a SIGKILL of a whole process and its JVM, then a clean twin."""
    config, ds = copy_of(planned, tmp_path / "crashed", "storage.retain_superseded_hours=0",
                         "candidates.backtests=false")
    before = plan_state(config, ds)
    assert_whole(before)
    tuned = config.with_overrides([TUNED])
    crashed, feed = [], {"plan": before}

    def feed_reads_one_whole_plan(step: str) -> None:
        """Until publish flips the ledger the feed reads the old plan unchanged; after, the new
        one, whole and unchanged from then on."""
        state = plan_state(config, ds)
        if state["run_id"] != feed["plan"]["run_id"]:
            assert step == "publish" and feed["plan"] is before, (step, state["run_id"])
            assert_whole(state)
            feed["plan"] = state
        assert_same_plan(state, feed["plan"])

    for step, points in CRASH_POINTS.items():
        step_config = tuned if step in ("allocate", "publish") else config
        for point in KILL_POINTS.get(step, []):
            result = _run_cli(config, step, ds, crash_at=point)
            assert result.returncode == -9, (step, point, result.returncode, result.stderr[-2000:])
            crashed.append(f"{step} {point} (SIGKILL)")
            feed_reads_one_whole_plan(step)
        for point in points:
            with armed(point), pytest.raises(SimulatedCrash):
                pipeline.run_step(step_config, step, ds, spark)
            crashed.append(f"{step} {point}")
            feed_reads_one_whole_plan(step)
        pipeline.run_step(step_config, step, ds, spark)         # the rerun finishes the step
        feed_reads_one_whole_plan(step)
    # the clean twin: the same day, planned once with the tuned config, no crash
    clean, _ = copy_of(planned, tmp_path / "clean", "storage.retain_superseded_hours=0", "candidates.backtests=false")
    for step in ("allocate", "publish"):
        pipeline.run_step(clean.with_overrides([TUNED]), step, ds, spark)
    after, reference = plan_state(config, ds), plan_state(clean, ds)
    assert after["run_id"] != before["run_id"]
    assert_same_plan(after, reference)
    for key in ("bronze.events", "bronze.items", "silver.user_features", "silver.user_availability",
                "silver.item_features", "silver.candidates", "staging.allocations", "staging.item_quotas"):
        mine = canonical(io.read_table(spark, config, key, ds=ds).toPandas())
        theirs = canonical(io.read_table(spark, clean, key, ds=ds).toPandas())
        pd.testing.assert_frame_equal(mine, theirs, obj=key)
    statuses = lambda c: io.read_table(spark, c, "gold.allocation_runs", ds=ds).toPandas().set_index(  # noqa: E731
        "run_id")["status"].sort_index()
    pd.testing.assert_series_equal(statuses(config), statuses(clean))
    assert set(io.run_partitions(config, "gold.allocations", ds)) == set(io.run_partitions(clean, "gold.allocations", ds))
    print(f"\ncrash points covered: {len(crashed)}: {crashed}")


READER = r"""
import sys, time, json
import numpy as np
from jobs.warehouse.feed_reader import read_published_plan
warehouse, ds, stop, deadline = sys.argv[1], sys.argv[2], sys.argv[3], time.time() + float(sys.argv[4])
judged, bad, runs = 0, [], set()
import os
while time.time() < deadline and not os.path.exists(stop):
    try:
        plan = read_published_plan(warehouse, ds)
    except Exception as error:          # a torn read is a failure too
        bad.append(f"error {error!r}"); judged += 1; continue
    judged += 1
    if plan is None or plan.allocations.empty or plan.item_quotas.empty or plan.creator_outcomes.empty:
        bad.append("empty"); continue
    runs.add(plan.run_id)
    if {plan.run_id} != set(plan.allocations.run_id) | set(plan.item_quotas.run_id) | set(plan.creator_outcomes.run_id):
        bad.append("mixed run ids"); continue
    quota = plan.item_quotas.set_index("item_id")["quota"]
    exposure = plan.allocations.groupby("item_id")["expected_exposure"].sum().reindex(quota.index, fill_value=0.0)
    likes = plan.creator_outcomes.set_index("creator_id")["expected_new_likes"]
    per_creator = plan.allocations.groupby("creator_id")["expected_likes"].sum().reindex(likes.index, fill_value=0.0)
    if not (np.allclose(quota, exposure, atol=1e-6) and np.allclose(likes, per_creator, atol=1e-6)):
        bad.append("quotas or outcomes disagree with allocations")
print(json.dumps({"judged": judged, "bad": bad[:20], "n_bad": len(bad), "runs": sorted(runs)}))
"""


def test_a_reader_never_sees_an_empty_or_mixed_plan_while_a_day_is_republished(spark, planned, tmp_path):
    # superseded runs are removed 3.6 s after they were replaced: cleanup runs under the reader too
    config, ds = copy_of(planned, tmp_path, "storage.retain_superseded_hours=0.001")
    weights = [1.0, 3.0, 6.0, 0.5]
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, config["storage"]["warehouse"], ds, str(stop), "600"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # four different plans, allocated once each; every publish stages one of them again and publishes it
    staged = []
    for weight in weights:
        allocate.run(config.with_overrides([f"allocation.creator_weight={weight}"]), ds, spark)
        staged.append({key: io.read_table(spark, config, key, ds=ds).toPandas().drop(columns="ds")
                       for key in STAGING})
    published = []
    try:
        time.sleep(1.0)
        for attempt in range(3 * len(weights)):
            for key, frame in staged[attempt % len(weights)].items():
                io.write_partition(spark, config, key, io.frame_from_pandas(spark, key, frame), ds=ds, run_id="test")
            published.append(publish.run(config, ds, spark).figures["run_id"])
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    verdict = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"err": err}
    assert verdict.get("n_bad") == 0, verdict
    assert verdict["judged"] >= 100 and len(set(verdict["runs"])) >= 3, verdict
    assert len(set(published)) == len(weights)
    print(f"\nreader: {verdict['judged']} snapshots judged over {len(published)} publishes, "
          f"{verdict['n_bad']} empty or mixed")
