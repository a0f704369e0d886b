"""Real data: the KuaiRand sample through the whole pipeline, and a user's own CSVs via a mapping."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs import pipeline
from jobs.steps import ingest
from jobs.warehouse import io
from tests.conftest import make_config

KUAIRAND = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "kuairand_pure_500u"
DS = "2022-04-29"            # the sample's last (Shanghai) day is 04-30: evaluate has a next day to score against


@pytest.mark.skipif(not KUAIRAND.exists(), reason=f"KuaiRand sample not at {KUAIRAND}")
def test_kuairand_sample_publishes_a_real_day(spark, tmp_path):
    """Real Kuaishou logs through every step, evaluate included (about 85 s alone: seven days of
    catch-up and a night over 7,583 items; the one test of the real source end to end)."""
    config = make_config(str(tmp_path), "source.kind=kuairand", f"source.path={KUAIRAND}",
                         "features.lookback_days=7", "features.availability_training_days=4",
                         "evaluation.creator_weights=[4.0]")
    assert config["source"]["timezone"] == "Asia/Shanghai"          # the source overlay applied
    # the window's days in one pass over the logs (KuaiRand's own raw_events_days), then the night
    assert pipeline.catch_up(config, DS, spark) == [f"2022-04-{d}" for d in range(23, 29)]
    pipeline.run_day(config, DS, spark)

    logs = pd.read_csv(KUAIRAND / "interactions.csv")
    shanghai_day = pd.to_datetime(logs["event_time_ms"], unit="ms", utc=True).dt.tz_convert("Asia/Shanghai")
    day_of = shanghai_day.dt.strftime("%Y-%m-%d")
    # the sample logs a few rows twice, byte for byte; ingest collapses exact duplicates
    distinct = lambda day: logs[day_of == day].drop_duplicates()  # noqa: E731
    assert len(distinct(DS)) < int((day_of == DS).sum())
    events = io.read_table(spark, config, "bronze.events", ds=DS)
    assert events.count() == len(distinct(DS))
    assert events.where("is_rand = 1").count() == int((distinct(DS)["is_rand"] == 1).sum())
    assert io.read_table(spark, config, "bronze.events_rejected", ds=DS).count() == 0
    runs = io.read_table(spark, config, "gold.allocation_runs", ds=DS).toPandas()
    assert runs["status"].tolist() == ["published"] and runs["n_pairs"].iloc[0] > 0
    # a plan that reaches few of its items says so in its ledger row (KuaiRand: 7,583 items, 500 users)
    quotas = io.read_published(spark, config, "gold.item_quotas", DS).toPandas()
    thin = len(quotas) >= 10 and (quotas["quota"] >= 1.0).sum() < 0.2 * len(quotas)
    assert ("thin plan" in (runs["message"].iloc[0] or "")) == thin, (runs["message"].iloc[0], len(quotas))
    evaluation = io.read_table(spark, config, "audit.availability_evaluation", ds=DS).toPandas()
    assert set(evaluation["estimator"]) == {"uac_model", "smoothed_frequency"}
    ranking = io.read_table(spark, config, "audit.ranking_evaluation", ds=DS).toPandas()
    assert set(ranking["rows"]) == {"random"}            # scored on the unbiased random exposures only
    assert ranking["n_rows"].max() <= int(((shanghai_day.dt.strftime("%Y-%m-%d") == DS) & (logs["is_rand"] == 1)).sum())

    # evaluate scored the policies against who came the next (Shanghai) day, ingesting it first
    assert io.read_table(spark, config, "bronze.events", ds="2022-04-30").count() == len(distinct("2022-04-30"))
    policies = io.read_table(spark, config, "audit.policy_evaluation", ds=DS).toPandas().set_index("policy")
    assert set(policies.index) == {"logged_slots", "logged", "user_side", "creator_linear", "fairshot", "fairshot_w=4"}
    assert (policies.drop(index="logged")["truth"] == "next-day logs").all()
    came = set(logs.loc[shanghai_day.dt.strftime("%Y-%m-%d") == "2022-04-30", "user_id"])
    plan = io.read_published(spark, config, "gold.allocations", DS).toPandas()
    hit = float((plan["x"] * plan["user_id"].isin(came)).sum() / plan["x"].sum())
    assert policies.loc["fairshot", "uac_hit_rate"] == pytest.approx(hit)
    # the logged control: what the real feed showed the plan's users that day, with what they did
    shown = distinct("2022-04-30")
    shown = shown[shown["user_id"].isin(set(plan["user_id"]))]
    logged = policies.loc["logged"]
    assert logged["truth"] == "observed: logged on ds+1" and np.isnan(logged["user_value_kept"])
    assert logged["expected_exposure"] == len(shown) > 0 and logged["expected_likes"] == shown["is_like"].sum()
    # observed, not modelled: every policy replayed on the next day's random exposures (is_rand = 1)
    # alone, each counting with the policy's chance of showing its pair
    shuffled = shown[shown["is_rand"] == 1]
    assert logged["replay_matched"] == len(shuffled) < len(shown)
    assert logged["replay_like_rate"] == pytest.approx(shuffled["is_like"].mean())
    hits = plan.merge(shuffled, on=["user_id", "item_id"])
    fairshot = policies.loc["fairshot"]
    assert fairshot["replay_matched"] == pytest.approx(hits["x"].sum())
    if hits["x"].sum() > 0:
        assert fairshot["replay_long_view_rate"] == pytest.approx((hits["x"] * hits["long_view"]).sum() / hits["x"].sum())
        assert fairshot["replay_like_ci"] >= 0
    # like for like: the feed's first k_u exposures on ds+1 of each planned user who came, among the
    # items the night knew (k_u the user's slots in the plan), scored by the plans' estimator
    candidates = io.read_table(spark, config, "silver.candidates", ds=DS)
    planned = io.read_table(spark, config, "silver.user_availability", ds=DS).join(
        candidates.select("user_id").distinct(), "user_id").toPandas().set_index("user_id")["slot_capacity"]
    known = set(io.read_table(spark, config, "silver.item_features", ds=DS).toPandas()["item_id"])
    next_day = io.read_table(spark, config, "bronze.events", ds="2022-04-30").toPandas()
    next_day = next_day[next_day["user_id"].isin(planned.index) & next_day["item_id"].isin(known)]
    next_day = next_day.sort_values(["user_id", "ts", "item_id"])
    in_slots = next_day[next_day.groupby("user_id").cumcount() < next_day["user_id"].map(planned)]
    slots = policies.loc["logged_slots"]
    assert 0 < slots["expected_exposure"] == len(in_slots) < len(next_day)
    # user value kept is against it where its value is above zero, else against the top-k
    baseline = policies.loc["logged_slots" if slots["user_value"] > 0 else "user_side"]
    assert baseline["user_value_kept"] == 1.0 if baseline["user_value"] > 0 else np.isnan(baseline["user_value_kept"])
    # one estimator: a pair the night had as a candidate is scored as the night scored it
    from jobs.steps.candidates.ranking import FeatureContexts, score_as_planned

    some = candidates.select("user_id", "item_id").orderBy("user_id", "item_id").limit(300)
    again = score_as_planned(FeatureContexts(config, spark), DS, some).toPandas().merge(
        candidates.toPandas(), on=["user_id", "item_id"], suffixes=("", "_night"))
    assert len(again) == 300
    for column in ("p_click", "p_long_view", "p_like", "p_like_mean", "p_follow", "p_skip", "user_value"):
        np.testing.assert_allclose(again[column], again[f"{column}_night"], rtol=1e-9, atol=1e-12, err_msg=column)


def test_mapped_csv_source_ingests_foreign_column_names(spark, tmp_path):
    data = tmp_path / "mine"
    data.mkdir()
    pd.DataFrame({"uid": [1, 1, 2, 2], "vid": [10, 11, 10, 99], "when": [1_700_000_000, 1_700_000_100,
                                                                          1_700_003_600, 1_700_000_050],
                  "clicked": [1, 0, 0, 1], "liked": [1, 0, 0, 0]}).to_csv(data / "log.csv", index=False)
    pd.DataFrame({"vid": [10, 11], "author": [5, 6], "topic": ["cooking", "music"]}).to_csv(data / "videos.csv",
                                                                                            index=False)
    mapping = {"user_id": "uid", "item_id": "vid", "ts": "when", "is_click": "clicked", "is_like": "liked",
               "is_long_view": "", "is_follow": "", "creator_id": "author", "category": "topic"}
    config = make_config(str(tmp_path / "warehouse"), "source.kind=csv", f"source.path={data}",
                         "source.csv.interactions_file=log.csv", "source.csv.items_file=videos.csv",
                         "source.csv.time_unit=s", "source.max_rejected_share=0.5",
                         *[f"source.csv.columns.{k}={v}" for k, v in mapping.items()])
    day = pd.Timestamp(1_700_000_000, unit="s").strftime("%Y-%m-%d")
    output = ingest.run(config, day, spark)
    assert (output.figures["events"], output.figures["rejected"]) == (3, 1)     # item 99 is in no catalogue
    assert output.figures["rejected_by_rule"] == {"item_id: item_id in bronze.items": 1}
    events = io.read_table(spark, config, "bronze.events", ds=day).toPandas().sort_values(["user_id", "item_id"])
    assert events["item_id"].tolist() == [10, 11, 10] and events["is_like"].tolist() == [1, 0, 0]
    assert events["is_long_view"].tolist() == [0, 0, 0]              # absent columns become 0
    creators = io.read_table(spark, config, "bronze.creators", ds=day).toPandas()
    assert sorted(creators["creator_id"]) == [5, 6]


def test_the_synthetic_feed_draws_what_inverting_each_users_cumulative_weights_gives():
    """The world generator's feed draws by binary search over per-category prefix sums (nothing of
    size users x shelf): the same picks as inverting each user's full cumulative weights, for any
    block of requests, and picks that follow the weights."""
    from jobs.sources.synthetic import _feed_draws

    rng = np.random.default_rng(3)
    interest, category, weight = rng.dirichlet(np.full(6, 0.5), size=300), rng.integers(0, 6, 400), rng.random(400)
    row = np.repeat(np.arange(300), rng.integers(0, 4, 300))
    draws = rng.random(row.size)
    cumulative = np.cumsum((interest[:, category] * 6 + 0.1) * weight, axis=1)
    reference = np.array([np.searchsorted(cumulative[r] / cumulative[r, -1], d, side="right")
                          for r, d in zip(row, draws)])
    for cells in (6, 1_000, 7_777, 8_000_000):
        np.testing.assert_array_equal(_feed_draws(interest, category, 6, weight, row, draws, cells=cells), reference)
    many = rng.random(200_000)
    picks = _feed_draws(interest[:1], category, 6, weight, np.zeros(many.size, dtype=np.int64), many)
    expected = (interest[0, category] * 6 + 0.1) * weight
    np.testing.assert_allclose(np.bincount(picks, minlength=400) / many.size, expected / expected.sum(), atol=0.003)
