"""Locations as every reader spells them: local paths, file:// and s3:// URIs (pure string logic,
and a local round trip through the same filesystem layer the object stores use)."""
from __future__ import annotations

import os
import stat

import pytest

from jobs.warehouse import storage


@pytest.mark.parametrize(("location", "expected"), [
    ("s3://bucket/wh/", "s3://bucket/wh"),
    ("s3a://bucket/wh", "s3://bucket/wh"),
    ("gs://bucket/wh", "gs://bucket/wh"),
])
def test_object_store_uris_keep_their_place_under_one_scheme(location, expected):
    assert storage.absolute(location) == expected
    assert storage.is_object_store(location)


def test_local_paths_and_file_uris_are_one_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage.absolute("warehouse") == str(tmp_path / "warehouse")
    assert storage.absolute(f"file://{tmp_path}/warehouse") == str(tmp_path / "warehouse")
    assert not storage.is_object_store("warehouse") and not storage.is_object_store("file:///x")


def test_join_parent_and_spark_spelling():
    assert storage.join("s3://bucket/wh", "gold", "allocations") == "s3://bucket/wh/gold/allocations"
    assert storage.parent("s3://bucket/wh") == "s3://bucket"
    assert storage.parent("s3://bucket") == "s3://bucket"             # a bucket's root has nothing above
    assert storage.spark_uri("s3://bucket/wh/gold") == "s3a://bucket/wh/gold"
    assert storage.spark_uri("/data/wh") == "file:///data/wh"          # never the cluster's default filesystem
    assert storage.join("/data/wh", "gold") == "/data/wh/gold"


def test_a_local_text_is_written_whole_and_readable_by_the_team(tmp_path):
    target = str(tmp_path / "reports" / "2026-04-14" / "run.html")
    storage.write_text_atomically(target, "<html>one</html>")
    storage.write_text_atomically(target, "<html>two</html>")
    assert storage.read_text(target) == "<html>two</html>"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert os.listdir(os.path.dirname(target)) == ["run.html"]          # no temporary left behind
    assert storage.exists(target) and not storage.exists(target + ".missing")


def test_a_warehouse_in_a_bucket_asks_for_a_local_landing_folder_by_name():
    from jobs.errors import ConfigError
    from jobs.sources.synthetic import landing_root
    from tests.conftest import make_config

    with pytest.raises(ConfigError, match="source.path"):
        landing_root(make_config("s3://bucket/wh"))
    assert landing_root(make_config("s3://bucket/wh", "source.path=landing")) == os.path.abspath("landing")


def test_sparks_s3_connector_follows_the_aws_environment_delta_rs_reads():
    from jobs.warehouse.spark import s3a_options

    options = s3a_options({"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_REGION": "eu-west-1"})
    assert options["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert options["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert options["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert options["spark.hadoop.fs.s3a.endpoint.region"] == "eu-west-1"
    assert s3a_options({}) == {}                                       # AWS itself: the connector's defaults


def test_a_folder_of_s3_jars_that_holds_none_is_named(tmp_path):
    from jobs.warehouse import delta_jars

    with pytest.raises(FileNotFoundError, match="spark.s3_jars"):
        delta_jars.session_options("none", 2, s3_choice=str(tmp_path))
    assert delta_jars.session_options("none", 2, s3_choice="none") == {}
    assert delta_jars.session_options("none", 2, s3_choice="packages")["spark.jars.packages"].startswith(
        "org.apache.hadoop:hadoop-aws:")


def test_an_unreachable_bucket_is_named_before_any_work(monkeypatch, capsys):
    from jobs.cli import main
    from tests.conftest import free_port

    for name, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_ACCESS_KEY_ID": "test",
                        "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}.items():
        monkeypatch.setenv(name, value)            # an endpoint nobody listens on
    assert main(["--env", "test", "tables", "--warehouse", "s3://fairshot-wh/wh"]) == 1
    said = capsys.readouterr().err
    assert "StorageError" in said and "s3://fairshot-wh/wh" in said and "AWS_ENDPOINT_URL" in said
