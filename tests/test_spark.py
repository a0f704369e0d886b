"""The session factory: local mode is tuned for a small machine, a cluster keeps Spark's defaults."""
from __future__ import annotations

import pytest

from jobs.warehouse.spark import adaptive_execution


@pytest.mark.parametrize("choice, master, expected", [
    ("auto", "local[2]", False), ("auto", "spark://10.0.0.1:7077", True), ("auto", "yarn", True),
    ("enabled", "local[2]", True), ("disabled", "yarn", False),
])
def test_adaptive_execution_is_off_in_local_mode_unless_asked_for(choice, master, expected):
    assert adaptive_execution(choice, master) is expected


def test_the_test_session_runs_in_utc_without_adaptive_replanning(spark):
    assert spark.sparkContext.master.startswith("local")
    assert spark.conf.get("spark.sql.adaptive.enabled") == "false"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
