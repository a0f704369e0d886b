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


def test_the_test_session_compiles_nothing_and_runs_the_jvm_options_of_its_config(spark):
    """conf/test.yaml turns code generation off and passes its JVM options to the driver's JVM (in
    local mode the whole of Spark): the JVM itself reports them, not only the session's conf."""
    from jobs.config import load_config
    from jobs.warehouse.spark import codegen_options

    config = load_config("test")
    assert config["spark"]["codegen"] is False
    assert spark.conf.get("spark.sql.codegen.wholeStage") == "false"
    assert spark.conf.get("spark.sql.codegen.factoryMode") == "NO_CODEGEN"
    running = list(spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    assert "-Duser.timezone=UTC" in running
    assert set(config["spark"]["java_options"].split()) <= set(running)
    assert codegen_options(load_config("local")["spark"]["codegen"]) == {}     # production generates code
