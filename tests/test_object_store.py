"""A warehouse in a bucket: an S3-compatible server on 127.0.0.1 (moto's server mode), the tiny
world's night planned and published there through both engines -- delta-rs, and Spark's Delta writer over
Hadoop's S3 connector -- gives the same tables through either, and the plan local disk gave.

The job runs in a process of its own: the connector's jars go on Spark's classpath at the JVM's
start, and the test session's JVM started without them."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from jobs.analysis.fingerprint import canonical
from jobs.warehouse import delta_jars, io, storage
from jobs.warehouse.feed_reader import read_published_plan
from jobs.warehouse.tables import REGISTRY
from tests.conftest import PIPELINE_DAYS, free_port, make_config

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "fairshot-wh"
ENGINES = ("delta-rs", "delta-spark")
# The night's plan-and-publish half, reading the features and candidates of ds the local night wrote:
# those steps' reads and writes are the same table reads and partition commits as allocate's, and
# they cost most of a night on compute alone (measured: 75 of 100 s on this bucket), in a suite that must stay short.
NIGHT = ("allocate", "publish", "report")
OVERRIDES = ("features.backtests=false", "candidates.backtests=false")
SCRIPT = textwrap.dedent(f"""
    import sys
    from jobs import pipeline
    from jobs.warehouse.spark import get_spark
    from tests.conftest import make_config

    landing, ds, *warehouses = sys.argv[1:]
    for warehouse, engine in zip(warehouses, {ENGINES!r}):
        config = make_config(warehouse, *{OVERRIDES!r}, "storage.engine=" + engine, "source.path=" + landing)
        pipeline.run_day(config, ds, get_spark(config), steps={NIGHT!r})
""")



@pytest.fixture(scope="module")
def s3_environment():
    """A moto S3 server with one bucket, and the AWS variables that point every engine at it
    (set for this module's tests and the processes they start; restored after)."""
    from pyarrow import fs

    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    variables = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
                 "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fs.S3FileSystem(endpoint_override=variables["AWS_ENDPOINT_URL"],
                                allow_bucket_creation=True).create_dir(BUCKET)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        yield variables
    finally:
        server.terminate()
        server.wait(timeout=30)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def s3_connector():
    """Hadoop's S3 connector, as `make s3-jars` installs it (fetched here if it never was)."""
    folder = os.path.join(delta_jars.installed_folder("s3"), "jars")
    if not delta_jars._jars_in(folder):
        delta_jars.fetch(kind="s3")
    return folder


def _upload(local: str, uri: str) -> None:
    from pyarrow import fs

    target, path = storage.filesystem(uri)
    fs.copy_files(local, path, source_filesystem=fs.LocalFileSystem(), destination_filesystem=target)


def test_the_nightly_job_publishes_the_same_plan_from_a_bucket_through_both_engines(
        published_world, s3_environment, s3_connector, tmp_path):
    """About two minutes: a JVM of its own (the connector's jars load at its start) runs the night
    twice, once per engine, every file through an S3 server."""
    ds = PIPELINE_DAYS[-1]
    landing = os.path.join(published_world["storage"]["warehouse"], "landing", "synthetic")
    warehouses = {engine: f"s3://{BUCKET}/{engine}/warehouse" for engine in ENGINES}
    for uri in warehouses.values():      # bronze and the earlier day's plan, as yesterday's run left them
        _upload(published_world["storage"]["warehouse"], uri)
    # One process (one JVM start) for both: the connector's jars go on its classpath at the start.
    log = tmp_path / "night.log"
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-c", SCRIPT, landing, ds, *warehouses.values()], cwd=ROOT,
                              env={**os.environ, "PYSPARK_PYTHON": sys.executable}, stdout=out,
                              stderr=subprocess.STDOUT, timeout=900)
    assert done.returncode == 0, log.read_text()[-4000:]
    assert not (ROOT / "s3:").exists() and not (ROOT / "s3a:").exists()   # nothing took the URI for a local path

    configs = {engine: make_config(uri, *OVERRIDES, "storage.engine=" + engine, f"source.path={landing}")
               for engine, uri in warehouses.items()}
    history = DeltaTable(io.table_uri(configs["delta-spark"], "gold.allocations")).history(1)[0]
    assert "Delta-Lake" in str(history.get("engineInfo"))           # Spark's own Delta writer wrote it
    compared = []
    for spec in REGISTRY.values():
        if spec.key == "audit.step_timings":                            # how long, not what
            continue
        uris = {engine: io.table_uri(config, spec.key) for engine, config in configs.items()}
        assert all(uri.startswith(f"s3://{BUCKET}/") for uri in uris.values())
        if not DeltaTable.is_deltatable(uris["delta-rs"]):
            assert not DeltaTable.is_deltatable(uris["delta-spark"]), spec.key
            continue
        frames = {engine: canonical(DeltaTable(uri).to_pandas(partitions=[("ds", "=", ds)]))
                  for engine, uri in uris.items()}
        pd.testing.assert_frame_equal(frames["delta-rs"], frames["delta-spark"], check_dtype=False, obj=spec.key)
        compared.append(spec.key)
    assert {"staging.allocations", "audit.quality_results", "gold.allocations", "gold.allocation_runs"} <= set(compared)

    # Each night published a run of its own for ds (its config differs from the local night's), the
    # same plan as on local disk, and wrote its report into the bucket.
    on_disk = read_published_plan(published_world["storage"]["warehouse"], ds)
    for uri in warehouses.values():
        plan = read_published_plan(uri, ds)
        assert plan is not None and plan.run_id != on_disk.run_id
        for name in ("allocations", "item_quotas", "creator_outcomes"):
            pd.testing.assert_frame_equal(canonical(getattr(plan, name).drop(columns="run_id")),
                                          canonical(getattr(on_disk, name).drop(columns="run_id")), obj=name)
        ledger = DeltaTable(f"{uri}/gold/allocation_runs").to_pandas(partitions=[("ds", "=", ds)])
        report = ledger.loc[ledger["run_id"] == plan.run_id, "report_path"].iloc[0]
        assert report.startswith(f"s3://{BUCKET}/") and "<html" in storage.read_text(report).lower()
