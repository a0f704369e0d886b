"""One SparkSession for the whole test session (local[2]); each test gets its own warehouse."""
from __future__ import annotations

import os
import sys

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


@pytest.fixture(scope="session")
def published_world(spark, tmp_path_factory, pytestconfig):
    """The tiny world with every day ingested and the nightly job run for its last two days.
    Shared by the modules that need a published plan; a module that changes it works on a copy
    (tests/test_pipeline.py, tests/test_publish_safety.py), so every reader sees it as built, in
    any order of modules."""
    from jobs import pipeline
    from jobs.sources.synthetic import WorldParams, generate_landing, landing_root

    config = make_config(str(tmp_path_factory.mktemp("pipeline") / "warehouse"))
    summary = generate_landing(WorldParams.from_config(config), landing_root(config))
    for ds in summary["days"][:-2]:
        pipeline.run_day(config, ds, spark, steps=("ingest",))
    # the first day is planned and published; evaluate and report run on the last (what tests read)
    pipeline.run_day(config, PIPELINE_DAYS[0], spark, steps=("ingest", "features", "candidates", "allocate", "publish"))
    pipeline.run_day(config, PIPELINE_DAYS[-1], spark)
    from jobs.analysis.fingerprint import table_digests

    # its digests as soon as it is built, before any test reruns or republishes a day of it:
    # what tests/test_golden_world.py compares with tests/golden/
    pytestconfig.world_digests = {ds: {key: f"{rows} rows {digest}" for key, (rows, digest) in
                                       table_digests(config, ds).items()}
                                  for ds in PIPELINE_DAYS}
    return config


def pytest_collection_modifyitems(config, items):
    """Every test that asks for the Spark session is marked `spark`; `make test-fast` runs the rest
    (pure numpy, pandas, OR-Tools, config and DAG tests) in about a minute."""
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)
