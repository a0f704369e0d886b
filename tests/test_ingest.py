"""Bad input at the door: clear errors naming table, column and rule; nothing silently dropped."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from jobs.cli import main
from jobs.errors import DataContractError
from jobs.sources.synthetic import WorldParams, generate_landing, generate_world, landing_root, write_landing
from jobs.steps import ingest
from jobs.warehouse import io

DS = "2026-04-14"


@pytest.fixture
def landed(config):
    write_landing(generate_world(WorldParams.from_config(config)), landing_root(config))
    return os.path.join(landing_root(config), "events", f"ds={DS}", "events.csv")


def test_the_sample_drawn_a_day_at_a_time_lands_the_whole_worlds_files(tmp_path):
    """`fairshot sample` writes each day's logs as it draws them (at 200,000 users the whole log
    took 13 GB); its landing must be the in-memory world's, byte for byte."""
    import filecmp

    from tests.conftest import make_config

    params = WorldParams.from_config(make_config(str(tmp_path / "warehouse")))
    whole = write_landing(generate_world(params), str(tmp_path / "whole"))
    streamed = generate_landing(params, str(tmp_path / "streamed"))
    assert {**whole, "root": None} == {**streamed, "root": None} and len(whole["days"]) == params.n_days
    names = sorted(os.path.relpath(os.path.join(folder, name), whole["root"])
                   for folder, _, files in os.walk(whole["root"]) for name in files)
    assert len(names) == params.n_days + 3 + 4 + 1   # a CSV a day, 3 catalogue CSVs, 4 truth files, the marker
    _, differ, missing = filecmp.cmpfiles(whole["root"], streamed["root"], names, shallow=False)
    assert not differ and not missing


def test_bad_rows_go_to_events_rejected_with_their_rule(spark, config, landed):
    events = pd.read_csv(landed)
    bad = events.head(3).copy()
    bad.loc[bad.index[0], "item_id"] = 999_999                    # nobody has heard of this item
    bad.loc[bad.index[1], "watch_time_ms"] = -5                   # negative watch time
    bad.loc[bad.index[2], "ts"] = "2026-04-13 23:00:00"           # logged on the wrong day
    pd.concat([events, bad]).to_csv(landed, index=False)

    output = ingest.run(config, DS, spark)
    assert output.figures["events"] + output.figures["duplicates"] == len(events) and output.figures["rejected"] == 3
    assert output.figures["rejected_by_rule"] == {"item_id: item_id in bronze.items": 1, "ts: falls on ds (UTC)": 1,
                                                  "watch_time_ms: watch_time_ms >= 0": 1}
    rejected = io.read_table(spark, config, "bronze.events_rejected", ds=DS).toPandas()
    assert sorted(zip(rejected["column"], rejected["rule"])) == [
        ("item_id", "item_id in bronze.items"), ("ts", "falls on ds (UTC)"), ("watch_time_ms", "watch_time_ms >= 0")]
    assert rejected["raw"].str.contains("999999").any()
    assert io.read_table(spark, config, "bronze.events", ds=DS).count() == output.figures["events"]


def test_a_missing_column_stops_ingest_naming_it(spark, config, landed):
    pd.read_csv(landed).drop(columns="watch_time_ms").to_csv(landed, index=False)
    with pytest.raises(DataContractError, match="table 'bronze.events', column 'watch_time_ms': rule 'required column present'"):
        ingest.run(config, DS, spark)
    assert io.table_version(spark, config, "bronze.events") is None


def test_a_mostly_broken_file_is_refused_and_nothing_reaches_events(spark, config, landed):
    events = pd.read_csv(landed)
    events["is_click"] = "yes"
    events.to_csv(landed, index=False)
    with pytest.raises(DataContractError, match="column 'is_click': rule 'parses as int'.*Nothing was written"):
        ingest.run(config, DS, spark)
    assert io.table_version(spark, config, "bronze.events") is None
    assert io.read_table(spark, config, "bronze.events_rejected", ds=DS).count() == len(events)


def test_broken_catalogue_row_is_fatal(spark, config, landed):
    items_csv = os.path.join(landing_root(config), "items.csv")
    items = pd.read_csv(items_csv)
    items.loc[0, "item_type"] = "podcast"
    items.to_csv(items_csv, index=False)
    with pytest.raises(DataContractError, match="table 'bronze.items', column 'item_type': rule 'one of video, live'"):
        ingest.run(config, DS, spark)


def test_cli_refuses_a_bad_ds(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--ds", "2026-13-01"])
    assert exit_info.value.code == 2
    assert "ds must be a calendar date YYYY-MM-DD, got '2026-13-01'" in capsys.readouterr().err


def test_cli_reports_config_errors(capsys):
    assert main(["tables", "--set", "allocation.creator_weight=-2"]) == 2
    assert "'allocation.creator_weight' must be >= 0" in capsys.readouterr().err


def test_a_catch_up_in_one_pass_writes_what_ingesting_each_day_writes(spark, tmp_path):
    """Three days read, checked and committed together must leave bronze exactly as three one-day
    ingests do: the same rows, rejected rows and snapshots on every day, the same figures, and a
    day over `source.max_rejected_share` refused alone (its rejected rows kept, nothing else of it)."""
    import shutil

    from jobs.analysis.fingerprint import canonical
    from tests.conftest import make_config

    by_day, one_pass = (make_config(str(tmp_path / name / "warehouse")) for name in ("by_day", "one_pass"))
    summary = write_landing(generate_world(WorldParams.from_config(by_day)), landing_root(by_day))
    first, noisy, broken = summary["days"][-3:]
    folder = os.path.join(landing_root(by_day), "events")
    events = pd.read_csv(os.path.join(folder, f"ds={first}", "events.csv"))
    bad = events.head(2).copy()
    bad.loc[bad.index[0], "item_id"] = 999_999                    # an item no catalogue has
    bad.loc[bad.index[1], "ts"] = f"{noisy} 01:00:00"             # another day's time in this day's file
    pd.concat([events, bad, events.head(4)]).to_csv(os.path.join(folder, f"ds={first}", "events.csv"), index=False)
    path = os.path.join(folder, f"ds={broken}", "events.csv")
    pd.read_csv(path).assign(is_click="yes").to_csv(path, index=False)
    shutil.copytree(os.path.dirname(folder), landing_root(one_pass))

    alone = {}
    for day in (first, noisy, broken):
        try:
            alone[day] = ingest.run(by_day, day, spark).figures
        except DataContractError as error:
            alone[day] = str(error)
    with pytest.raises(DataContractError, match=f"ds={broken}.*Nothing was written to bronze.events for ds={broken}"):
        ingest.run_days(one_pass, [first, noisy, broken], spark)
    assert isinstance(alone[broken], str) and alone[first]["rejected"] == 2 and alone[first]["duplicates"] == 4
    together = {output.ds: output.figures for output in ingest.run_days(one_pass, [first, noisy], spark)}
    assert together == {day: alone[day] for day in (first, noisy)}
    for key in ("bronze.events", "bronze.events_rejected", "bronze.items", "bronze.creators", "bronze.users"):
        mine, theirs = (io.read_table(spark, config, key).toPandas() for config in (one_pass, by_day))
        # a day with no rejected row has no rows in events_rejected, whichever way it was ingested
        assert sorted(set(theirs["ds"])) == ([first, broken] if key == "bronze.events_rejected" else [first, noisy])
        if "source_file" in mine:          # where each warehouse's copy of the landing lies
            mine["source_file"] = mine["source_file"].str.replace(landing_root(one_pass), "", regex=False)
            theirs["source_file"] = theirs["source_file"].str.replace(landing_root(by_day), "", regex=False)
        pd.testing.assert_frame_equal(canonical(mine), canonical(theirs), obj=key)
