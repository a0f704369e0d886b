"""One SparkSession for the whole test session (local[2]); each test gets its own warehouse."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("TZ", "UTC")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

# `make test` replays the same property-test examples every run: a check that finds a new
# counterexample on one CI run in twenty cannot gate a merge. HYPOTHESIS_PROFILE=explore searches
# fresh random examples; run it after changing a solver and pin what it finds with @example.
settings.register_profile("replay", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "replay"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (for the servers the tests start)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_config(warehouse: str, *overrides: str):
    from jobs.config import load_config

    return load_config("test", [f"storage.warehouse={warehouse}", *overrides])


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from jobs.warehouse.spark import get_spark

    session = get_spark(make_config(str(tmp_path_factory.mktemp("spark-warehouse"))))
    yield session
    session.stop()


@pytest.fixture
def config(tmp_path):
    return make_config(str(tmp_path / "warehouse"))


PIPELINE_DAYS = ("2026-04-13", "2026-04-14")


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/ from this run (for a change meant to alter the plans)")


def _shared_root(tmp_path_factory) -> Path:
    """A folder every pytest-xdist worker of this run sees (each worker's basetemp is a child of
    it); without xdist, the run's own basetemp."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """An advisory lock on a file: the first worker builds what is shared, the others wait for it."""
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_published_world(spark, warehouse: Path) -> dict:
    from jobs import pipeline
    from jobs.analysis.fingerprint import table_digests
    from jobs.sources.synthetic import WorldParams, generate_landing, landing_root

    config = make_config(str(warehouse))
    summary = generate_landing(WorldParams.from_config(config), landing_root(config))
    # the history in one pass, as a first run's catch-up ingests it (one commit per table instead of
    # one per day: about 10 s less). It writes what ingesting each day writes (tests/test_ingest.py),
    # and every golden digest holds (checked), audit.ranking_calibration included, whose equal-count
    # reliability bins split tied predictions by row order
    pipeline.ingest_days(config, summary["days"][:-2], spark, timed_as=summary["days"][-3])
    # the first day is planned and published; evaluate and report run on the last (what tests read)
    pipeline.run_day(config, PIPELINE_DAYS[0], spark, steps=("ingest", "features", "candidates", "allocate", "publish"))
    pipeline.run_day(config, PIPELINE_DAYS[-1], spark)
    assert summary["days"][-2:] == list(PIPELINE_DAYS)
    # its digests as soon as it is built: what tests/test_golden_world.py compares with tests/golden/
    return {ds: {key: f"{rows} rows {digest}" for key, (rows, digest) in table_digests(config, ds).items()}
            for ds in PIPELINE_DAYS}


@pytest.fixture(scope="session")
def published_world(spark, tmp_path_factory, pytestconfig):
    """The tiny world with every day ingested and the nightly job run for its last two days.

    Built once per test run, by whichever xdist worker asks first (the others wait on a lock and
    then read it), because it is the suite's most expensive set-up. It is read-only: a module that
    reruns, republishes or tampers with a day works on a copy (`copied_world`). At the end of the
    session every table must still be at the version it was built at (a test that wrote to it
    would make every reader's result depend on which worker ran what first). Its digests, taken as
    soon as it was built, are `pytestconfig.world_digests` (tests/test_golden_world.py)."""
    root = _shared_root(tmp_path_factory)
    built = root / "published-world" / "digests.json"
    with _exclusive(root / "published-world.lock"):
        if not built.exists():
            shutil.rmtree(built.parent, ignore_errors=True)   # what a worker that failed to build it left
            built.parent.mkdir()
            digests = _build_published_world(spark, built.parent / "warehouse")
            built.write_text(json.dumps({"digests": digests, "versions": _table_versions(built.parent / "warehouse")}))
    record = json.loads(built.read_text())
    pytestconfig.world_digests = record["digests"]
    yield make_config(str(built.parent / "warehouse"))
    now = _table_versions(built.parent / "warehouse")
    written = sorted(key for key in set(now) | set(record["versions"]) if now.get(key) != record["versions"].get(key))
    assert not written, f"tests wrote to the shared published_world (work on copied_world): {written}"


def _table_versions(warehouse: Path) -> dict[str, int]:
    """Each Delta table's latest version, read from its log folder alone (no Spark, no delta-rs)."""
    versions = {}
    for log in sorted(warehouse.glob("*/*/_delta_log")):
        commits = [int(f.name.split(".")[0]) for f in log.glob("*.json") if f.name.split(".")[0].isdigit()]
        versions[str(log.parent.relative_to(warehouse))] = max(commits, default=-1)
    return versions


def copied_world(published_world, target: Path, *overrides: str):
    """A private copy of the shared world (its landing folder included), for a test that writes."""
    shutil.copytree(published_world["storage"]["warehouse"], target)
    return make_config(str(target), *overrides)


def pytest_collection_modifyitems(config, items):
    """Every test that asks for the Spark session is marked `spark`; `make test-fast` runs the rest
    (pure numpy, pandas, OR-Tools, config and DAG tests) on two workers in about 20 seconds."""
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)
