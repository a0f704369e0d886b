"""One SparkSession for the whole test session (local[2]); each test gets its own warehouse."""
from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("TZ", "UTC")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def make_config(warehouse: str, *overrides: str):
    from jobs.config import load_config

    return load_config("test", [f"storage.warehouse={warehouse}", *overrides])


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from jobs.spark import get_spark

    session = get_spark(make_config(str(tmp_path_factory.mktemp("spark-warehouse"))))
    yield session
    session.stop()


@pytest.fixture
def config(tmp_path):
    return make_config(str(tmp_path / "warehouse"))
