from __future__ import annotations

import pytest

from jobs.config import load_config
from jobs.errors import ConfigError


def test_overlay_and_override_apply_and_change_the_hash():
    base = load_config("local")
    tuned = load_config("local", ["allocation.creator_weight=2.0"])
    assert tuned.get("allocation.creator_weight") == 2.0
    assert tuned.hash != base.hash
    assert load_config("local").hash == base.hash
    assert load_config("test").get("sample.n_users") < base.get("sample.n_users")


def test_exponent_floats_are_floats_with_or_without_a_dot():
    """YAML 1.1 reads 1e-9 as a string; a tolerance written the way people write it must load."""
    for written in ("1e-9", "1.0e-9", "1E-9"):
        assert load_config("local", [f"allocation.dual_gap_tolerance={written}"]).get(
            "allocation.dual_gap_tolerance") == 1e-9
    assert load_config("local", ["report.path=1e"]).get("report.path") == "1e"  # not a number: text


@pytest.mark.parametrize("override, message", [
    ("allocation.creator_wieght=1", "unknown config key 'allocation.creator_wieght'"),
    ("allocation.creator_weight=abc", "must be of type float"),
    ("allocation.creator_weight=-1", "'allocation.creator_weight' must be >= 0"),
    ("storage.engine=hive", "must be one of auto, delta-rs, delta-spark"),
    ("spark.adaptive_execution=sometimes", "must be one of auto, enabled, disabled"),
    ("sample.n_users=1.5", "must be of type int"),
    ("allocation=3", "is a section"),
    ("allocation.value_weights.skip=0.5", "skip"),
    ("no_equals_sign", "key.path=value"),
])
def test_bad_config_is_refused_with_the_key_named(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config("local", [override])


def test_unknown_environment_is_refused():
    with pytest.raises(ConfigError, match="no overlay for environment 'prod'"):
        load_config("prod")


def test_the_hash_ignores_where_tables_live_and_how_spark_runs():
    """The run id follows the hash: a moved warehouse or a cluster must name the same plan."""
    here = load_config("local", ["storage.warehouse=./warehouse"])
    there = load_config("local", ["storage.warehouse=/mnt/elsewhere/wh", "spark.master=spark://10.0.0.1:7077",
                                  "spark.driver_memory=16g", "spark.adaptive_execution=enabled", "report.path=/srv/reports", "source.path=/data/x",
                                  "storage.retain_superseded_hours=1.0"])
    assert here.hash == there.hash
    assert load_config("local", ["allocation.item_cap=10.0"]).hash != here.hash
    assert load_config("local", ["candidates.users_per_item=10"]).hash != here.hash


def test_base_yaml_and_the_schema_hold_the_same_keys(tmp_path):
    """A key dropped from conf/base.yaml (or added to the schema without a default) is named at
    start-up, and so is a key in base.yaml the schema does not know."""
    import shutil

    import yaml

    from jobs.config import CONF_DIR

    shutil.copytree(CONF_DIR, tmp_path / "conf")
    base = yaml.safe_load((CONF_DIR / "base.yaml").read_text())
    del base["publish"]["tolerance"]
    (tmp_path / "conf" / "base.yaml").write_text(yaml.safe_dump(base))
    with pytest.raises(ConfigError, match=r"'publish.tolerance' is missing"):
        load_config("local", conf_dir=tmp_path / "conf")
    base["publish"] = {"tolerance": 1e-6, "tolerence": 1e-6}
    (tmp_path / "conf" / "base.yaml").write_text(yaml.safe_dump(base))
    with pytest.raises(ConfigError, match=r"'publish.tolerence'"):
        load_config("local", conf_dir=tmp_path / "conf")
