"""The closed-loop simulation: the world's responses, the feed's two arms, and a loop through the
real nightly job."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest

from allocation.metrics import gini
from jobs.simulation.metrics import day_metrics, summarize, water_filled
from jobs.sources.synthetic import WorldParams, generate_world
from jobs.world import dynamics as sim_world
from jobs.world.feed import plan_positions, serve
from jobs.world.settings import dynamics_from_config, feed_from_config
from tests.conftest import make_config


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    config = make_config(str(tmp_path_factory.mktemp("sim") / "warehouse"))
    world = generate_world(WorldParams.from_config(config))
    dynamics = dynamics_from_config(config)
    return config, world, dynamics, sim_world.state_after_history(world, dynamics)


def _run_control(state, dynamics, feed, days):
    rows, logs = [], []
    for _ in range(days):
        today = sim_world.open_day(state, dynamics)
        served = serve(state, today, feed, None)
        logs.append(sim_world.serve_and_observe(state, dynamics, served.user, served.item))
        quits = sim_world.close_day(state, dynamics)
        rows.append(day_metrics(state, today, served, dynamics, quits=quits, new_creator_days=14,
                                new_item_days=2, reach_threshold=10.0, first_day=0))
    return pd.DataFrame(rows), pd.concat(logs, ignore_index=True)


def _offer_to_everyone(today, items):
    """A published plan's positions offering every active user these items, in a fixed order."""
    return plan_positions(pd.DataFrame({
        "user_id": np.repeat(today.users + 1, items.size), "item_id": np.tile(items + 1, today.users.size),
        "selected": True, "user_rank": np.tile(np.arange(1, items.size + 1), today.users.size)}))


def test_posting_rises_with_likes_as_configured(tiny):
    _, _, dynamics, start = tiny
    assert dynamics.posting_multiplier(np.array([0.0]))[0] == 1.0
    assert dynamics.posting_multiplier(np.array([10.0]))[0] == pytest.approx(1.0 + dynamics.posting_lift_at_10_likes)
    gains = np.diff(dynamics.posting_multiplier(np.arange(0.0, 50.0)))
    assert (gains > 0).all() and (np.diff(gains) < 0).all()          # rising, and concave

    busy = dataclasses.replace(dynamics, items_per_creator_day=50.0, posting_lift_at_10_likes=0.5)
    posted = {}
    for likes in (0.0, 10.0):
        state = start.fork()
        for d in range(state.day - 6, state.day + 1):      # the week before tomorrow
            state.feedback_by_day[d] = np.full(state.n_creators, likes / 7.0)
        posted[likes] = sim_world.open_day(state, busy).new_items.size
    assert posted[10.0] / posted[0.0] == pytest.approx(1.5, rel=0.08)


def test_starved_creators_stop_and_liked_ones_keep_posting(tiny):
    _, _, dynamics, start = tiny
    state = start.fork()
    sure = dataclasses.replace(dynamics, quit_probability=1.0)
    state.last_like_day[:] = state.day - sure.quit_after_days         # everyone starved for long enough ...
    state.last_like_day[:5] = state.day                               # ... except five liked today
    existing = state.posting(state.day)
    sim_world.close_day(state, sure)
    still = state.posting(state.day + 1)
    assert still[:5][existing[:5]].all()
    assert not still[5:].any()


def test_same_seed_same_days_and_the_control_never_serves_a_plan(tiny):
    config, _, dynamics, start = tiny
    feed = feed_from_config(config)
    first, first_log = _run_control(start.fork(), dynamics, feed, 3)
    second, second_log = _run_control(start.fork(), dynamics, feed, 3)
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(first_log, second_log)
    assert (first["plan_exposures"] == 0).all() and (first["exposures"] > 0).all()
    other_seed = start.fork()
    other_seed.seed += 1
    assert not _run_control(other_seed, dynamics, feed, 3)[1].equals(first_log)


def test_the_treatment_serves_the_plan_first_within_its_share(tiny):
    config, _, dynamics, start = tiny
    feed = feed_from_config(config)
    state = start.fork()
    today = sim_world.open_day(state, dynamics)
    shelf = state.shelf(today.day)
    new = shelf[state.item_day[shelf] == today.day - 1]
    assert new.size >= 2
    served = serve(state, today, feed, _offer_to_everyone(today, new))
    slots = np.ceil(feed.slot_share * today.requests)
    planned = np.bincount(served.user[served.from_plan], minlength=state.n_users)[today.users]
    assert (planned <= slots).all() and planned.sum() > 0
    assert np.isin(served.item[served.from_plan], new).all()
    per_user = np.bincount(served.user, minlength=state.n_users)[today.users]
    assert (per_user <= today.requests).all()
    keys = served.user.astype(np.int64) * sim_world.PAIR_KEY + served.item
    assert np.unique(keys).size == keys.size                          # no item twice to a user
    control = serve(state, today, feed, None)
    assert not control.from_plan.any()


def test_water_filling_gives_the_lowest_gini_any_placement_of_the_budget_can():
    amounts = np.array([0.0, 0.0, 5.0, 1.0])
    assert water_filled(amounts, 4.0) == pytest.approx([5 / 3, 5 / 3, 5.0, 5 / 3])     # 3 x level - 1 = 4
    assert water_filled(amounts, 20.0) == pytest.approx(np.full(4, 26.0 / 4))
    assert water_filled(amounts, 0.0) == pytest.approx(amounts)
    rng = np.random.default_rng(7)
    for _ in range(200):
        base = rng.integers(0, 30, size=12).astype(float)
        budget = float(rng.integers(1, 40))
        floor = gini(water_filled(base, budget))
        assert water_filled(base, budget).sum() == pytest.approx(base.sum() + budget)
        placed = base + np.bincount(rng.integers(0, base.size, size=int(budget)), minlength=base.size)
        assert floor <= gini(placed) + 1e-12


def test_the_bounds_hold_what_the_treatment_did_and_equal_the_control(tiny):
    """The like ceiling is never below what the plan reached, the Gini floor never above it, and an
    arm that served no plan has nothing to move."""
    config, _, dynamics, start = tiny
    feed = feed_from_config(config)
    figures = {}
    for arm in ("control", "treatment"):
        state = start.fork()
        today = sim_world.open_day(state, dynamics)
        shelf = state.shelf(today.day)
        window = state.item_day[shelf] >= today.day - 2
        served = serve(state, today, feed, _offer_to_everyone(today, shelf[window]) if arm == "treatment" else None)
        sim_world.serve_and_observe(state, dynamics, served.user, served.item)
        quits = sim_world.close_day(state, dynamics)
        figures[arm] = day_metrics(state, today, served, dynamics, quits=quits, new_creator_days=14,
                                   new_item_days=2, reach_threshold=10.0, first_day=0)
    control, treatment = figures["control"], figures["treatment"]
    assert treatment["plan_exposures"] > 0
    # the loop ended on the treatment: its floor is the feed's own exposures with the plan's levelled
    # over the window, not the feed's alone
    levelled = np.bincount(served.item[~served.from_plan], minlength=state.n_items)[shelf].astype(float)
    levelled[window] = water_filled(levelled[window], float(served.from_plan.sum()))
    assert treatment["exposure_gini_floor"] == pytest.approx(gini(levelled))
    assert control["creators_with_like_ceiling"] == control["creators_with_like"]
    assert control["exposure_gini_floor"] == control["exposure_gini"]
    assert treatment["creators_with_like_ceiling"] > treatment["creators_with_like"]
    assert treatment["exposure_gini_floor"] < treatment["exposure_gini"]
    # the same over posting creators: zeros included, the plan's exposures levelled over the creators
    # with an item in its window, never above what the plan did; nothing to move without a plan
    posting = state.posting(today.day)
    creator_of = state.item_creator
    assert treatment["creator_exposure_gini"] == pytest.approx(
        gini(np.bincount(creator_of[served.item], minlength=state.n_creators)[posting]))
    assert treatment["creator_exposure_gini_floor"] <= treatment["creator_exposure_gini"] + 1e-12
    assert control["creator_exposure_gini_floor"] == pytest.approx(control["creator_exposure_gini"])


def test_the_feed_fills_the_same_slots_whatever_its_block_size(tiny):
    """Scoring users a block at a time (so a 200,000-user world's users x shelf never sits in memory)
    must not change a single slot, in either arm."""
    config, _, dynamics, start = tiny
    feed = feed_from_config(config)
    state = start.fork()
    today = sim_world.open_day(state, dynamics)
    shelf = state.shelf(today.day)
    new = shelf[state.item_day[shelf] == today.day - 1]
    plan = _offer_to_everyone(today, new)
    assert today.users.size > 3
    for arm in (None, plan):
        whole = serve(state, today, feed, arm)
        for cells in (1, 3 * shelf.size + 1):       # one user a block; three users and a bit
            blocks = serve(state, today, feed, arm, chunk_cells=cells)
            for field in ("user", "item", "from_plan"):
                assert np.array_equal(getattr(whole, field), getattr(blocks, field)), (arm is None, cells, field)
    assert whole.from_plan.any()


def test_the_world_at_a_day_counts_only_the_logs_up_to_it(tiny):
    _, world, dynamics, at_end = tiny
    assert sim_world.state_after_history(world, dynamics, through_day=world.params.n_days - 1).item_exposures.sum() \
        == at_end.item_exposures.sum() == len(world.events)
    day = world.params.n_days - 3
    state = sim_world.state_after_history(world, dynamics, through_day=day)
    until = pd.Timestamp(world.params.start) + pd.Timedelta(days=day + 1)
    logged = world.events[world.events["ts"] < until]
    assert state.day == day and state.item_exposures.sum() == len(logged) < len(world.events)
    assert np.array_equal(state.seen, np.unique((logged["user_id"].to_numpy(np.int64) - 1) * sim_world.PAIR_KEY
                                                + logged["item_id"].to_numpy(np.int64) - 1))
    with pytest.raises(ValueError, match="outside the generated history"):
        sim_world.state_after_history(world, dynamics, through_day=world.params.n_days)


def test_the_regenerated_state_is_the_whole_worlds_without_its_log(tiny):
    """The evaluation's control draws the history again a day at a time instead of holding all of
    it (9.6 GB at 200,000 users); its state must be the one the whole world gives."""
    _, world, dynamics, _ = tiny
    for day in (world.params.n_days - 3, None):
        whole = sim_world.state_after_history(world, dynamics, through_day=day)
        streamed = sim_world.regenerated_state(world.params, dynamics, through_day=day)
        for field in dataclasses.fields(whole):
            a, b = getattr(whole, field.name), getattr(streamed, field.name)
            if field.name in ("reference_value", "value_scale", "recent_value"):
                np.testing.assert_allclose(b, a, rtol=1e-12)   # a float sum by day, not over the whole log
            elif isinstance(a, dict):
                assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), field.name
            elif isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), field.name
            else:
                assert a == b, field.name
    with pytest.raises(ValueError, match="outside the generated history"):
        sim_world.regenerated_state(world.params, dynamics, through_day=world.params.n_days)


def test_the_evaluation_control_is_the_worlds_feed_in_the_plans_slots(tiny, tmp_path):
    """The nightly evaluation's control: the world's own feed on ds+1, over every item on the shelf
    at ds (old and new), in each coming user's creator-side slots; it never reads a plan."""
    from jobs.sources.synthetic import write_landing
    from jobs.world.control import world_feed_in_plan_slots

    config, world, dynamics, _ = tiny
    landing = str(tmp_path / "landing")
    write_landing(world, landing)
    day = world.params.n_days - 2
    ds = (world.params.start + pd.Timedelta(days=day)).isoformat()
    users = pd.DataFrame({"user_id": np.arange(1, world.params.n_users + 1, dtype=np.int64),
                          "slot_capacity": np.full(world.params.n_users, 2, dtype=np.int32)})
    comes = world.latent["active"][day + 1]
    slots = world_feed_in_plan_slots(config, landing, ds, users, comes)
    again = world_feed_in_plan_slots(config, landing, ds, users, comes)
    assert np.array_equal(slots.user_id, again.user_id) and np.array_equal(slots.item_id, again.item_id)
    per_user = pd.Series(slots.user_id).value_counts()
    assert set(per_user.index) <= set(users.loc[comes, "user_id"]) and per_user.max() <= 2
    assert per_user.sum() == 2 * int(comes.sum())         # the shelf is deep enough for every slot
    posted = world.latent["item_day"][slots.item_id - 1]
    assert (posted <= day).all() and (posted < day - 1).any()     # what existed at ds, old items too
    logged = world.events[world.events["ts"] < pd.Timestamp(world.params.start) + pd.Timedelta(days=day + 1)]
    seen = set(zip(logged["user_id"], logged["item_id"]))
    assert not seen & set(zip(slots.user_id, slots.item_id))      # nothing the user has seen already
    after = (world.params.start + pd.Timedelta(days=world.params.n_days)).isoformat()
    assert world_feed_in_plan_slots(config, landing, after, users, comes) is None   # a day the history lacks


def test_summary_reads_stocks_on_the_last_day_and_pools_user_outcomes():
    daily = pd.DataFrame({
        "seed": 1, "arm": ["control"] * 2 + ["treatment"] * 2, "day_index": [1, 2, 1, 2],
        "new_creators_posting": [10, 8, 10, 12], "user_value": [100.0, 100.0, 90.0, 120.0],
        "active_users": [10, 10, 10, 10], "items_posted": [5, 5, 6, 6],
        **{name: 0.5 for name in ("active_creators", "new_creator_retention_7d", "new_creator_retention_14d",
                                  "new_creator_retention_28d", "creators_with_like", "creators_with_like_share",
                                  "new_creators_with_like", "new_creators_with_like_share", "new_item_coverage",
                                  "exposure_gini", "top1_share", "discovery", "median_hours_to_first_like",
                                  "liked_within_48h_share", "likes", "long_views", "skips",
                                  "creators_with_like_ceiling", "exposure_gini_floor", "creator_exposure_gini",
                                  "creator_exposure_gini_floor")}})
    summary = summarize(daily).set_index("metric")
    assert summary.loc["new_creators_posting", "ratio"] == pytest.approx(12 / 8)
    assert summary.loc["user_value_per_active_user", "value"] == pytest.approx(210 / 20)
    assert summary.loc["items_posted_total", "ratio"] == pytest.approx(12 / 10)
    assert set(summary["arm"]) == {"treatment"}
    # another arm is read against the same control, row for row
    boost = daily[daily["arm"] == "treatment"].assign(arm="boost", new_creators_posting=[10, 9])
    both = summarize(pd.concat([daily, boost])).set_index(["arm", "metric"])
    assert both.loc[("boost", "new_creators_posting"), "ratio"] == pytest.approx(9 / 8)
    assert both.loc[("treatment", "new_creators_posting"), "ratio"] == pytest.approx(12 / 8)
    assert (both.xs("new_creators_posting", level="metric")["control"] == 8).all()


def test_simulate_runs_the_nightly_job_and_the_treatment_reads_its_plan(spark, tmp_path):
    """Two simulated days through the real steps: the treatment's plan slots come from the plan the
    nightly job published (read through the feed contract); the control's never do. Over a minute
    alone because it is two nights of the real job on two arms' worlds: the loop's only real run."""
    from jobs.simulation import loop
    from jobs.warehouse import io
    from jobs.warehouse.feed_reader import read_published_plan

    # the heuristic ranker keeps the nightly job to its shortest real form (no ALS or heads to fit)
    config = make_config(str(tmp_path / "warehouse"), "sample.n_days=3", "simulation.days=2",
                         "candidates.ranker=heuristic")
    output = loop.run(config, spark)
    daily = io.read_table(spark, config, "audit.simulation_daily").toPandas()
    assert len(daily) == 4 and set(daily["arm"]) == {"control", "treatment"}
    assert (daily.loc[daily["arm"] == "control", "plan_exposures"] == 0).all()
    treatment = daily[daily["arm"] == "treatment"].sort_values("day_index")
    assert (treatment["plan_exposures"] > 0).all() and treatment["plan_published"].all()
    summary = io.read_table(spark, config, "audit.simulation_summary").toPandas()
    assert {"new_creators_posting", "creators_with_like", "user_value_per_active_user"} <= set(summary["metric"])
    assert (summary["run_id"] == output.sim_id).all()
    # each night's plan was made from the day the treatment arm had just lived through
    seed_root = os.path.join(os.path.abspath(config["storage"]["warehouse"]), "simulation", output.sim_id,
                             f"seed={config['seed']}", "arm=treatment")
    for day in treatment["date"]:
        assert os.path.exists(os.path.join(seed_root, "landing", "synthetic", "events", f"ds={day}")) or \
            day == treatment["date"].max()
    last_plan = read_published_plan(seed_root, treatment["date"].min())
    assert last_plan is not None and last_plan.feed_plan()["selected"].any()
    # the loop's nights skip the backtests (features' and candidates'): they write no audit rows
    seed_config = config.with_overrides([f"storage.warehouse={seed_root}"])
    for key in ("audit.availability_evaluation", "audit.retrieval_evaluation", "audit.ranking_evaluation"):
        assert io.read_table(spark, seed_config, key).isEmpty(), key
    assert os.path.exists(output.report_path)


def test_the_feeds_seen_lookup_is_isin_against_a_sorted_set():
    from jobs.world.feed import _in_sorted

    rng = np.random.default_rng(1)
    seen = np.unique(rng.integers(0, 1000, 300))
    values = rng.integers(-5, 1005, (40, 50))
    assert np.array_equal(_in_sorted(values, seen), np.isin(values, seen))
    assert not _in_sorted(values, seen[:0]).any()


def test_a_baseline_serves_the_plans_items_from_the_feeds_state_alone(tiny):
    """boost and explore fill the creator-side slots from the items the plan may hold (posted before
    the day, within its window) that the user has not seen, as many as the slots; with their own
    noise, so the same seed gives the same pairs and the feed's draws are untouched."""
    from jobs.world.feed import baseline_plan

    config, _, dynamics, start = tiny
    feed = feed_from_config(config)
    plans = {}
    for kind in ("boost", "explore"):
        state = start.fork()
        today = sim_world.open_day(state, dynamics)
        plan = baseline_plan(state, today, feed, kind, window_days=3)
        again = baseline_plan(state, today, feed, kind, window_days=3)
        pd.testing.assert_frame_equal(plan, again)
        age = today.day - state.item_day[plan["item"].to_numpy()]
        assert len(plan) > 0 and ((age >= 1) & (age <= 3)).all()
        slots = np.ceil(feed.slot_share * today.requests).astype(int)
        per_user = plan.groupby("user").size()
        assert (per_user <= pd.Series(slots, index=today.users).loc[per_user.index]).all()
        keys = plan["user"].to_numpy(np.int64) * sim_world.PAIR_KEY + plan["item"].to_numpy(np.int64)
        assert not np.isin(keys, state.seen).any() and not plan.duplicated().any()
        served = serve(state, today, feed, plan)
        assert served.from_plan.sum() == len(plan)
        plans[kind] = plan
    assert not plans["boost"].equals(plans["explore"])


def test_a_baseline_arm_never_reads_a_plan(spark, tmp_path):
    """Arms boost and explore beside control: no nightly job runs and no arm warehouse is made, yet
    their creator-side slots are filled; a variant's overrides of the world are refused."""
    from jobs.errors import ConfigError
    from jobs.simulation import loop
    from jobs.simulation.arms import parse_arms

    config = make_config(str(tmp_path / "warehouse"), "sample.n_days=3", "simulation.days=2")
    output = loop.run(config, spark, arms=["boost", "explore"])
    assert output.nightly_seconds == []
    seed_root = os.path.join(os.path.abspath(config["storage"]["warehouse"]), "simulation", output.sim_id,
                             f"seed={config['seed']}")
    assert not os.path.exists(seed_root) or not any(name.startswith("arm=") for name in os.listdir(seed_root))
    daily = output.daily
    assert set(daily["arm"]) == {"control", "boost", "explore"}
    assert (daily.loc[daily["arm"] != "control", "plan_exposures"] > 0).all()
    assert set(output.summary["arm"]) == {"boost", "explore"}
    with pytest.raises(ConfigError, match="world"):
        parse_arms(["big:sample.n_users=10"])
    with pytest.raises(ConfigError, match="variant"):
        parse_arms(["w0"])
    assert [a.name for a in parse_arms(["w0:allocation.creator_weight=0", "boost"])] == ["control", "w0", "boost"]


def test_the_report_reads_every_arm_against_control_and_says_where_the_treatment_leads():
    from jobs.simulation.report import arm_rows, target_rows

    rows = []
    for seed in (1, 2, 3):
        for arm, likes, gini_, value in (("treatment", 150.0, 0.60, 10.4), ("boost", 110.0, 0.70, 9.0)):
            for metric, control, mine in (("creators_with_like", 100.0, likes), ("creator_exposure_gini", 0.8, gini_),
                                          ("user_value_per_active_user", 10.0, value),
                                          ("creators_with_like_ceiling", 100.0, 180.0 + seed)):
                rows.append({"seed": seed, "metric": metric, "arm": arm, "control": control, "value": mine,
                             "ratio": mine / control})
    summary = pd.DataFrame(rows)
    targets = target_rows(summary).set_index("target")
    likes = targets.loc["expected creators with >= 1 like per day: +40%"]
    assert likes["met"] and likes["change"] == pytest.approx(0.5) and likes["bound"] == pytest.approx(0.82)
    assert targets.loc["exposure Gini over posting creators: -15%", "met"]              # 0.6 / 0.8 - 1 = -25%
    assert targets.loc["value per active user over the period: +3%", "met"]            # +4%
    assert not target_rows(summary, arm="boost").set_index("target").loc[
        "expected creators with >= 1 like per day: +40%", "met"]                       # +10%
    arms = arm_rows(summary).set_index(["arm", "metric"])
    assert arms.loc[("boost", "creators_with_like"), "treatment_leads"]
    assert arms.loc[("boost", "creator_exposure_gini"), "treatment_leads"]             # lower is better
    assert pd.isna(arms.loc[("treatment", "creators_with_like"), "treatment_leads"])
    # a baseline better than the treatment is said so
    worse = summary.assign(value=np.where(summary["arm"] == "boost", summary["value"] * 2, summary["value"]))
    assert not arm_rows(worse).set_index(["arm", "metric"]).loc[("boost", "creators_with_like"), "treatment_leads"]


def test_a_sweep_runs_each_corner_of_the_worlds_assumptions_and_judges_each_arm(spark, tmp_path):
    """Two corners (starved creators quit with chance 0 or 0.9): each is its own simulation with
    that assumption applied (fewer creators still post in the high corner's control), every arm gets a
    verdict that follows from its figures, and the page names every corner."""
    from jobs.errors import ConfigError
    from jobs.simulation import sweep
    from jobs.warehouse import io

    config = make_config(str(tmp_path / "warehouse"), "sample.n_days=3", "simulation.days=3",
                         "simulation.quit_after_days=1", "simulation.sweep.quit_probability=[0.0, 0.9]")
    assert [c[0] for c in sweep.corners(config, ["quit_probability"])] == ["quit_probability=0",
                                                                           "quit_probability=0.9"]
    assert len(sweep.corners(config)) == 2 * len(config["simulation"]["sweep"])
    with pytest.raises(ConfigError, match="simulation.sweep"):
        sweep.corners(config, ["n_users"])
    output = sweep.run(config, spark, arms=["boost", "explore"], assumptions=["quit_probability"])
    table = output.table
    assert len(table) == 4 and set(table["arm"]) == {"boost", "explore"} and table["sim_id"].nunique() == 2
    assert table["ahead_of_baselines"].isna().all()            # no treatment ran: nothing to be ahead of
    expected = (table["creators_with_like_change"] > 0) & (table["value_kept"] >= sweep.LEAD_VALUE_KEPT)
    assert (table["lead_holds"] == expected).all()
    posting = {}
    for r in table.drop_duplicates("corner").itertuples():
        summary = io.read_table(spark, config, "audit.simulation_summary").where(f"run_id = '{r.sim_id}'").toPandas()
        posting[r.value] = float(summary[(summary["metric"] == "active_creators") & (summary["arm"] == "boost")]
                                 ["control"].median())
    assert posting[0.9] < posting[0.0]         # the same world, but starved creators quit
    page = open(output.report_path).read()
    assert all(corner in page for corner in table["corner"])


def test_a_sweep_corner_says_whether_the_treatment_leads_control_and_every_baseline():
    from jobs.simulation.sweep import corner_rows

    rows = []
    for arm, likes, value in (("treatment", 150.0, 10.0), ("boost", 120.0, 9.0), ("explore", 90.0, 10.5)):
        for metric, control, mine in (("creators_with_like", 100.0, likes), ("user_value_per_active_user", 10.0, value)):
            rows.append({"seed": 1, "metric": metric, "arm": arm, "control": control, "value": mine,
                         "ratio": mine / control})
    verdicts = {r["arm"]: r for r in corner_rows(pd.DataFrame(rows))}
    assert verdicts["treatment"]["lead_holds"] and verdicts["treatment"]["creators_with_like_change"] == 0.5
    assert not verdicts["boost"]["lead_holds"]                  # +20% likes, but 90% of control's value
    assert not verdicts["explore"]["lead_holds"]                # value kept, fewer creators with a like
    assert verdicts["treatment"]["ahead_of_baselines"] is False  # explore gives users more value
    assert verdicts["treatment"]["behind_on"] == "explore on user_value_per_active_user"
    assert verdicts["boost"]["ahead_of_baselines"] is None and verdicts["boost"]["behind_on"] == ""
