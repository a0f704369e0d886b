"""The bad-input catalogue: every malformed input is rejected under its own rule (with its file and
record number) or stops the day with one line naming file, column and rule -- never a silent drop,
never a traceback. Real Spark, real Delta tables, the real CSV source and ingest step."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from features.errors import DataContractError
from jobs import pipeline
from jobs.cli import main
from jobs.sources.synthetic import WorldParams, generate_world, write_csv_export
from jobs.steps import ingest
from jobs.warehouse import io
from tests.conftest import make_config

DAY = "2026-04-14"
T0 = int(pd.Timestamp(f"{DAY} 10:00:00").timestamp())   # seconds, UTC


def csv_world(tmp_path, interactions: str | bytes, items: str, *overrides: str):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    mode = "wb" if isinstance(interactions, bytes) else "w"
    with open(data / "interactions.csv", mode) as out:
        out.write(interactions)
    (data / "items.csv").write_text(items)
    # rows() below has no long-view or follow column: the mapping says so
    return make_config(str(tmp_path / "warehouse"), "source.kind=csv", f"source.path={data}",
                       "source.max_rejected_share=0.9", "source.csv.columns.is_long_view=",
                       "source.csv.columns.is_follow=", *overrides)


ITEMS = "item_id,creator_id,category\n10,alice,cooking\n11,bob,music\n12,alice,cooking\n"


def rows(*lines: str) -> str:
    return "user_id,item_id,timestamp,is_click,is_like\n" + "".join(line + "\n" for line in lines)


def rejected(spark, config):
    return io.read_table(spark, config, "bronze.events_rejected", ds=DAY).toPandas()


def test_string_ids_are_mapped_and_optional_columns_mapped_to_nothing_are_absent(spark, tmp_path):
    config = csv_world(tmp_path, rows(f"anna,10,{T0},1,1", f"ben,11,{T0 + 60},1,0", f"42,12,{T0 + 90},0,0"), ITEMS)
    output = ingest.run(config, DAY, spark)
    assert output.figures["events"] == 3 and output.figures["rejected"] == 0
    events = io.read_table(spark, config, "bronze.events", ds=DAY).toPandas()
    assert 42 in set(events["user_id"]) and (events["user_id"] >= 0).all() and events["user_id"].nunique() == 3
    creators = io.read_table(spark, config, "bronze.creators", ds=DAY).toPandas()
    assert len(creators) == 2 and (creators["creator_id"] >= 0).all()
    # the hash is the documented one: Spark SQL finds an id again from its name
    anna = spark.sql("SELECT xxhash64('anna') & 9223372036854775807 AS id").first()["id"]
    assert anna in set(events["user_id"])
    assert (events["is_long_view"] == 0).all()           # mapped to "": the source has none, 0


@pytest.mark.parametrize("case, interactions, items, rule", [
    ("item with two creators", rows(f"1,10,{T0},1,0"), ITEMS + "10,carol,music\n", "one creator per item_id"),
    ("header only", rows(), ITEMS, "file has data rows"),
    ("seconds read as milliseconds", rows(f"1,10,{T0},1,0", f"2,11,{T0 + 5},0,0"), ITEMS,
     "timestamps in ms between 2000 and 2100"),
    ("missing required column", "user,item_id,timestamp\n1,10,5\n", ITEMS, "required column present"),
    ("mapped optional column missing", f"user_id,item_id,timestamp,is_like\n1,10,{T0},1\n", ITEMS,
     "mapped column present"),
    ("created_at that is no time", rows(f"1,10,{T0},1,0"),
     "item_id,creator_id,category,created_at\n10,alice,cooking,last tuesday\n11,bob,music,2026-04-01\n"
     "12,alice,cooking,2026-04-02T08:00:00Z\n", "parses as timestamp"),
])
def test_inputs_that_stop_the_day_name_file_column_and_rule(spark, tmp_path, case, interactions, items, rule):
    overrides = ["source.csv.time_unit=ms"] if "milliseconds" in case else []
    if "created_at" in case:
        overrides.append("source.csv.columns.created_at=created_at")
    config = csv_world(tmp_path, interactions, items, *overrides)
    with pytest.raises(DataContractError) as stopped:
        ingest.run(config, DAY, spark)
    message = str(stopped.value)
    assert rule in message and "\n" not in message, message
    if "milliseconds" in case:
        assert "set source.csv.time_unit=s" in message
    if "column" in case:   # the file's own columns, not the reader's bookkeeping
        assert "source_line" not in message and "source_file" not in message, message
    if "optional" in case:
        assert "source.csv.columns.is_click" in message and 'source.csv.columns.is_click=""' in message, message
    if "created_at" in case:   # the date and the ISO time of the other two items parse
        assert "last tuesday" in message and "1 row(s)" in message, message
    assert not os.path.exists(io.table_uri(config, "bronze.events"))


def test_bad_rows_are_rejected_each_under_its_rule_with_file_and_record(spark, tmp_path):
    text = (rows(
        f"1,10,{T0},1,0",                  # record 1: fine
        f"1,10,{T0},1,0",                  # record 2: exact duplicate of 1 -> collapsed, counted
        f",11,{T0},1,0",                   # record 3: no user
        f"2,11,{T0},7,0",                  # record 4: a flag that is not 0/1
        f"3,99,{T0},1,0",                  # record 5: unknown item
        f"4,10,{4102444800 + 3600},1,0",   # record 6: year 2100
        "5,12,1000,1,0",                   # record 7: 1970
        f"6,12,{T0},1,0",                  # record 8: fine
    ).encode() + f"\xff\xfe,10,{T0},1,0\n".encode("latin-1")   # record 9: not UTF-8
        + rows(f"-5,10,{T0},1,0",          # record 10: a negative id
               f"12.7,10,{T0},1,0",        # record 11: not an integer, in an integer column
               f"abc,11,{T0},1,0",         # record 12: text in an integer column: not a new user
               f"1{'0' * 400},11,{T0},1,0",  # record 13: a number too long for any id
               ).split("\n", 1)[1].encode())
    items = 'item_id,creator_id,category\n10,alice,"cooking, ""quick""\nand easy"\n11,bob,music\n12,alice,cooking\n'
    config = csv_world(tmp_path, text, items)
    output = ingest.run(config, DAY, spark)
    assert output.figures["events"] == 2 and output.figures["duplicates"] == 1
    bad = rejected(spark, config).set_index("source_line").sort_index()
    assert bad.loc[3, "rule"] == "not null" and bad.loc[3, "column"] == "user_id"
    assert bad.loc[4, "column"] == "is_click" and bad.loc[4, "rule"] == "0 or 1"
    assert bad.loc[5, "rule"] == "item_id in bronze.items"
    assert bad.loc[6, "rule"] == bad.loc[7, "rule"] == "within the plausible years 2000..2100"
    assert bad.loc[9, "rule"] == "valid text in the file's encoding"
    assert bad.loc[10, "column"] == "user_id" and bad.loc[10, "rule"] == "user_id >= 0"
    for record in (11, 12, 13):
        assert bad.loc[record, "column"] == "user_id" and bad.loc[record, "rule"] == "parses as bigint", record
    assert (bad["source_file"].str.endswith("interactions.csv")).all()
    assert sum(output.figures["rejected_by_rule"].values()) == output.figures["rejected"] == 10
    # a quoted field with a comma, quotes and a newline is one field (RFC 4180)
    catalogue = io.read_table(spark, config, "bronze.items", ds=DAY).toPandas().set_index("item_id")
    assert catalogue.loc[10, "category"] == 'cooking, "quick"\nand easy' and len(catalogue) == 3


def test_a_typed_source_rejects_an_unparsable_id_per_row(spark, tmp_path, published_world):
    """The synthetic source's files are typed: a non-numeric user_id is one rejected row."""
    import shutil

    from jobs.sources.synthetic import landing_root

    config = make_config(str(tmp_path / "warehouse"), f"source.path={tmp_path / 'landing'}")
    shutil.copytree(landing_root(published_world), tmp_path / "landing")
    path = tmp_path / "landing" / "events" / f"ds={DAY}" / "events.csv"
    frame = pd.read_csv(path, dtype=str)
    frame.loc[frame.index[0], "user_id"] = "not-a-number"
    frame.to_csv(path, index=False)
    output = ingest.run(config, DAY, spark)
    assert output.figures["rejected"] == 1 and output.figures["events"] == len(frame) - 1
    bad = rejected(spark, config)
    assert bad["column"].tolist() == ["user_id"] and bad["rule"].tolist() == ["parses as bigint"]


def test_an_unexpected_error_is_one_line_and_a_log_file(spark, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAIRSHOT_LOG_DIR", str(tmp_path / "logs"))
    code = main(["--env", "test", "--set", f"storage.warehouse={tmp_path / 'w'}", "sql", str(tmp_path / "none.sql")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 2 and err[0].startswith("fairshot: unexpected FileNotFoundError")
    log = err[1].split(" in ", 1)[1]
    assert "Traceback" in open(log).read()


def test_a_small_csv_world_with_text_ids_publishes_a_valid_plan_in_its_own_ids(spark, tmp_path):
    """40 users, 8 creators over 4 days, exported as plain CSV with UUIDs for users, text for items,
    names for creators and timestamps in seconds (detected): ALS, the heads and the availability
    model must cope, and the plan comes back in the CSV's own ids: in gold.allocations, the feed's
    SQL, the feed reader and `fairshot explain` (asked by a UUID)."""
    import uuid

    from jobs.analysis.explain import explain
    from jobs.analysis.query import run_query_file
    from jobs.warehouse.feed_reader import read_published_plan

    config = make_config(str(tmp_path / "warehouse"), "sample.n_users=40", "sample.n_creators=8", "sample.n_days=4")
    summary = write_csv_export(generate_world(WorldParams.from_config(config)), str(tmp_path / "mine"))
    interactions, items = (pd.read_csv(tmp_path / "mine" / name) for name in ("interactions.csv", "items.csv"))
    user_key = {u: str(uuid.uuid5(uuid.NAMESPACE_URL, f"user/{u}")) for u in interactions["user_id"].unique()}
    interactions["user_id"] = interactions["user_id"].map(user_key)
    interactions["item_id"] = "video-" + interactions["item_id"].astype(str)
    items["item_id"] = "video-" + items["item_id"].astype(str)
    interactions.to_csv(tmp_path / "mine" / "interactions.csv", index=False)
    items.to_csv(tmp_path / "mine" / "items.csv", index=False)
    csv = config.with_overrides(["source.kind=csv", f"source.path={tmp_path / 'mine'}", "candidates.backtests=false"])
    ds = summary["days"][-1]
    assert len(pipeline.catch_up(csv, ds, spark)) == 3              # one pass over the file for the window
    pipeline.run_day(csv, ds, spark, steps=("ingest", "features", "candidates", "allocate", "publish"))
    runs = io.read_table(spark, csv, "gold.allocation_runs", ds=ds).toPandas()
    assert runs["status"].tolist() == ["published"]
    plan = io.read_published(spark, csv, "gold.allocations", ds).toPandas()
    assert len(plan) > 0 and plan["x"].between(0, 1).all()
    # every user with an event is a known user, whatever digit count its hash has (19 digits for
    # nine in ten: a filter on 18 digits once left them out of bronze.users)
    logged = io.read_table(spark, csv, "bronze.events", since=summary["days"][0], until=ds).select("user_id")
    known = io.read_table(spark, csv, "bronze.users", ds=ds).select("user_id")
    assert logged.distinct().count() == known.count() and logged.subtract(known).count() == 0
    # the source's own ids, each the one its integer stands for
    ids = io.read_table(spark, csv, "bronze.id_map", ds=ds).toPandas()
    assert set(ids["kind"]) == {"user", "item", "creator"} and not ids.duplicated(["kind", "internal_id"]).any()
    assert set(plan["user_key"]) <= set(user_key.values()) and plan["item_key"].str.startswith("video-").all()
    assert plan["creator_key"].str.startswith("creator-").all()
    back = ids[ids["kind"] == "user"].set_index("internal_id")["source_id"]
    assert (plan["user_id"].map(back) == plan["user_key"]).all()
    feed = run_query_file(csv, "sql/feed_plan.sql", {"ds": ds}).to_pandas()
    assert len(feed) == plan["selected"].sum() and set(feed["user_key"]) <= set(user_key.values())
    reader = read_published_plan(csv["storage"]["warehouse"], ds).feed_plan()
    assert reader[["user_id", "user_key"]].drop_duplicates().set_index("user_id")["user_key"].to_dict() == \
        plan[["user_id", "user_key"]].drop_duplicates().set_index("user_id")["user_key"].to_dict()
    someone = plan.sort_values("user_id")["user_key"].iloc[0]
    text = explain(csv, ds, user=someone)
    assert text.startswith(f"user {someone} (id ") and "video-" in text
    item = plan.sort_values("item_id")["item_key"].iloc[0]
    assert explain(csv, ds, item=item).startswith(f"item {item} (id ")
    creator = plan.sort_values("creator_id").iloc[0]       # fairshot's own id, as the gold table shows it
    assert explain(csv, ds, creator=str(creator["creator_id"])).startswith(
        f"creator {creator['creator_key']} (id {creator['creator_id']})")


def test_two_source_ids_that_map_to_one_integer_stop_ingest_naming_both(spark, tmp_path):
    """A name and a number equal to its hash in one text column would be one user: refused."""
    anna = spark.sql("SELECT xxhash64('anna') & 9223372036854775807 AS id").first()["id"]
    config = csv_world(tmp_path, rows(f"anna,10,{T0},1,1", f"{anna},11,{T0 + 60},1,0", f"ben,12,{T0 + 90},0,0"),
                       ITEMS)
    with pytest.raises(DataContractError) as stopped:
        ingest.run(config, DAY, spark)
    message = str(stopped.value)
    assert "bronze.id_map" in message and "one source id per internal id" in message
    assert "'anna'" in message and f"'{anna}'" in message
    assert not os.path.exists(io.table_uri(config, "bronze.events"))


def test_a_csv_catch_up_reads_the_file_once_and_rejects_a_row_of_no_day_once(spark, tmp_path):
    """The CSV source is read whole: a catch-up's pass gives each row the day its time falls on, and
    a row that falls on no plausible day (1997, or no time at all) is filed once, on the pass's
    first day, not once per day as ingesting each day alone files it. The days' events are the
    ones ingesting each day alone gives."""
    before = pd.Timestamp(DAY) - pd.Timedelta(days=1)
    first = before.strftime("%Y-%m-%d")
    lines = (f"anna,10,{T0 - 86400},1,1", f"ben,11,{T0 - 86000},1,0", f"anna,11,{T0},0,0", f"ben,12,{T0 + 60},1,1",
             "carl,10,862056000,1,0", "dora,12,,1,0")           # 1997-04-26, and no time
    (tmp_path / "pass").mkdir()
    (tmp_path / "by_day").mkdir()
    one_pass = csv_world(tmp_path / "pass", rows(*lines), ITEMS)
    by_day = csv_world(tmp_path / "by_day", rows(*lines), ITEMS)
    outputs = {output.ds: output.figures for output in ingest.run_days(one_pass, [first, DAY], spark)}
    alone = {day: ingest.run(by_day, day, spark).figures for day in (first, DAY)}
    assert outputs[first]["rejected"] == 2 and outputs[DAY]["rejected"] == 0
    assert alone[first]["rejected"] == alone[DAY]["rejected"] == 2          # filed again with every day
    assert {day: figures["events"] for day, figures in outputs.items()} == {first: 2, DAY: 2}
    for day in (first, DAY):
        mine, theirs = (io.read_table(spark, config, "bronze.events", ds=day).toPandas()
                        .sort_values(["user_id", "ts"]).reset_index(drop=True) for config in (one_pass, by_day))
        pd.testing.assert_frame_equal(mine, theirs)
    filed = io.read_table(spark, one_pass, "bronze.events_rejected").toPandas()
    assert sorted(filed["rule"]) == ["not null", "within the plausible years 2000..2100"]
    assert set(filed["ds"]) == {first}


def test_a_csv_items_created_at_may_be_a_date_and_an_unshown_item_is_born_last(spark, tmp_path):
    """created_at as a date or an ISO time reads as that moment (UTC); an item nobody was shown and
    without one is born at the log's last moment (new, so the last night plans it), not its first."""
    from jobs.sources.csv_mapped import MappedCsvSource

    items = ("item_id,creator_id,category,created_at\n10,alice,cooking,2026-04-01\n"
             "11,bob,music,2026-04-02T08:30:00Z\n12,alice,cooking,\n13,bob,music,\n")
    config = csv_world(tmp_path, rows(f"1,10,{T0},1,0", f"2,12,{T0 + 60},1,0", f"3,10,{T0 + 7200},0,0"), items,
                       "source.csv.columns.created_at=created_at")
    catalogue = (MappedCsvSource(config).raw_catalogue(spark, "items").toPandas()
                 .set_index("item_id")["created_at"].to_dict())
    last = pd.Timestamp(T0 + 7200, unit="s").strftime("%Y-%m-%d %H:%M:%S")
    first_of_12 = pd.Timestamp(T0 + 60, unit="s").strftime("%Y-%m-%d %H:%M:%S")
    assert catalogue == {"10": "2026-04-01 00:00:00", "11": "2026-04-02 08:30:00", "12": first_of_12, "13": last}


def test_a_csv_night_with_no_new_item_publishes_its_empty_plan_evaluates_and_reports(spark, tmp_path, capsys):
    """Every item was uploaded months before the log (created_at a date): none is in play, so the
    plan is empty. It is published as such, and evaluate and report run on it: rc 0, never a crash."""
    day_before = pd.Timestamp(DAY) - pd.Timedelta(days=1)
    t_before = int((day_before + pd.Timedelta(hours=10)).timestamp())
    lines = [f"{user},{item},{t + 60 * user},1,{int(user == item % 5)}"
             for t in (t_before, T0) for user in range(1, 7) for item in (10, 11, 12)]
    items = ("item_id,creator_id,category,created_at\n10,alice,cooking,2026-01-05\n11,bob,music,2026-01-06\n"
             "12,alice,cooking,2026-01-07\n")
    config = csv_world(tmp_path, rows(*lines), items, "source.csv.columns.created_at=created_at")
    warehouse = config["storage"]["warehouse"]
    code = main(["--env", "test", "--set", f"storage.warehouse={warehouse}", "--set", "source.kind=csv",
                 "--set", f"source.path={config['source']['path']}", "--set", "source.csv.columns.is_long_view=",
                 "--set", "source.csv.columns.is_follow=", "--set", "source.csv.columns.created_at=created_at",
                 "run", "--ds", DAY])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    runs = io.read_table(spark, config, "gold.allocation_runs", ds=DAY).toPandas()
    assert runs["status"].tolist() == ["published"] and runs["n_items"].tolist() == [0], runs.to_dict("records")
    assert io.read_published(spark, config, "gold.allocations", DAY).count() == 0
    policies = io.read_table(spark, config, "audit.policy_evaluation", ds=DAY).toPandas()
    assert len(policies) > 0
    report = runs["report_path"].iloc[0] if "report_path" in runs else None
    assert os.listdir(os.path.join(os.path.dirname(warehouse), "reports", DAY)), report
