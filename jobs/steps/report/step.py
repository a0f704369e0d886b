"""report: one self-contained HTML page per run, for the people who run fairshot.

Everything on the page is read back from the Delta tables of the run (the ledger, the policy
evaluation, the audits, the solver trace), so the page shows exactly what analysts can query. The
file goes to the reports folder beside the warehouse and its path into the run's ledger row.
"""
from __future__ import annotations

import datetime as dt
import html
import logging
import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from allocation.explain import binding_limit
from jobs.config import Config
from jobs.dates import shift
from jobs.errors import FairshotError
from jobs.steps.common import StepOutput, job_id, staged_run_id
from jobs.steps.evaluate import baseline_policy, control_policy, in_display_order, policy_table, sample_words
from jobs.steps.report import charts
from jobs.warehouse import io, storage
from jobs.warehouse.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOG = logging.getLogger(__name__)

POLICY_COLUMNS = {
    "policy": "policy", "creator_weight": "creator weight w", "user_value": "user value", "user_value_kept": "kept",
    "expected_likes": "likes", "expected_long_views": "long views", "expected_skips": "skips",
    "expo_reach": "ExpoReach-E", "new_item_coverage": "new-item coverage",
    "creators_with_like_share": "creators ≥1 like", "new_creators_with_like_share": "new creators ≥1 like",
    "exposure_gini": "Gini", "top1_share": "top-1% share", "happiness_gain": "happiness gain",
    "uac_hit_rate": "UAC hit rate", "solve_seconds": "seconds",
}
INTEGER_COLUMNS = {"expo_reach", "iterations", "n_pairs", "n_users", "n_candidates", "served"}
ID_COLUMNS = {"item_id", "creator_id", "user_id"}      # as they are stored: searchable, no thousands separators
PERCENT_COLUMNS = {"user_value_kept", "new_item_coverage", "creators_with_like_share",
                   "new_creators_with_like_share", "top1_share", "uac_hit_rate"}


def reports_root(config: Config) -> str:
    """A folder or object-store prefix: `report.path`, else `reports` beside the warehouse."""
    configured = config["report"]["path"]
    if configured:
        return storage.absolute(configured)
    return storage.join(storage.parent(config["storage"]["warehouse"]), "reports")


def report_path(config: Config, ds: str, rid: str) -> str:
    return storage.join(reports_root(config), ds, f"{rid}.html")


def _format(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if column in PERCENT_COLUMNS:
        return f"{float(value):.1%}"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if column in ID_COLUMNS:
        return str(int(value))
    if column in INTEGER_COLUMNS:
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return html.escape(str(value))


def _table(frame: pd.DataFrame, columns: dict[str, str], row_class: pd.Series | None = None) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label in columns.values())
    rows = []
    for index, row in frame.iterrows():
        css = f' class="{row_class[index]}"' if row_class is not None else ""
        cells = "".join(f"<td>{_format(column, row[column])}</td>" for column in columns)
        rows.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _image(svg: str, alt: str) -> str:
    """A chart, inline (the page stays one self-contained file) and labelled for screen readers."""
    return f'<figure class="chart" role="img" aria-label="{html.escape(alt)}">{svg}</figure>'


def _section(title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{note}</p>' if note else ""
    return f"<section><h2>{html.escape(title)}</h2>{note_html}{body}</section>"


STYLE = """
body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px auto;padding:0 16px;max-width:1200px;color:#222}
.wide{overflow-x:auto}
h1{margin-bottom:4px} h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
.meta{color:#555;font-size:14px} .note{color:#555;font-size:13px;max-width:900px}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{padding:4px 8px;border-bottom:1px solid #eee;
text-align:right} th:first-child,td:first-child{text-align:left} details table td{text-align:left} th{background:#f5f5f5}
tr.main td{font-weight:600} tr.fail td{color:#b00020;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start} figure.chart{margin:0;border:1px solid #eee}
figure.chart svg{max-width:100%;height:auto}
.kpi{display:flex;gap:16px;flex-wrap:wrap;margin:12px 0} .kpi div{background:#f4faf7;border:1px solid #cfe8dc;
border-radius:6px;padding:8px 14px} .kpi b{display:block;font-size:22px} .kpi small{display:block;color:#555}
.warn{background:#fff4e5;border:1px solid #f0b429;border-radius:6px;padding:8px 14px;margin:12px 0}
input[type=search]{font-size:14px;padding:4px 8px;width:320px;margin-top:8px}
"""


DRILL_ROWS = 2000     # rows per drill-down table; the rest are a query away
FILTER_SCRIPT = """
document.querySelectorAll('input[data-filter]').forEach(function (box) {
  box.addEventListener('input', function () {
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
    document.querySelectorAll('#' + box.dataset.filter + ' tbody tr').forEach(function (row) {
      var text = row.textContent.toLowerCase();
      row.style.display = words.every(function (w) { return text.indexOf(w) >= 0; }) ? '' : 'none';
    });
  });
});
"""


CREATOR_FIGURES = {"creators_with_like_share": ("creators with ≥1 like", 1), "new_item_coverage": ("new-item coverage", 1),
                   "new_creators_with_like_share": ("new creators with ≥1 like", 1), "exposure_gini": ("exposure Gini", -1)}


def control_leads(policies: pd.DataFrame, fair: pd.Series) -> list[str]:
    """The creator figures on which the control (named) does better than fairshot: on real logs the
    logging feed can be the fairer one, and the page must say so rather than bury it in a table."""
    name = control_policy(policies)
    if not (policies["policy"] == name).any():
        return []
    control = policies[policies["policy"] == name].iloc[0]
    worse = [f"{label} {_format(column, control[column])} against fairshot's {_format(column, fair[column])}"
             for column, (label, sign) in CREATOR_FIGURES.items()
             if column in control and sign * (control[column] - fair[column]) > 1e-9]
    return [f"The control, {charts.LABELS.get(name, name)}, does better for creators than fairshot on "
            + "; ".join(worse) + "."] if worse else []


def warnings(tables: dict[str, pd.DataFrame]) -> list[str]:
    """What an analyst must not miss tonight, in words: shown above everything else."""
    run, policies, backtest = tables["run"].iloc[0], tables["policies"], tables["backtest"]
    found = []
    if run.status != "published":
        found.append(f"This run was not published (status {html.escape(run.status)}): {html.escape(run.message)}")
    elif run.message:
        found.append(html.escape(run.message))
    ok = policies[policies["error"].fillna("") == ""] if "error" in policies else policies
    base_name = baseline_policy(policies) if not policies.empty else ""
    fair, base = ok[ok["policy"] == "fairshot"], ok[ok["policy"] == base_name]
    if not fair.empty and not base.empty:
        fair, base = fair.iloc[0], base.iloc[0]
        control = charts.LABELS.get(base_name, base_name)
        sweep = ok[ok["policy"].str.startswith("fairshot")]
        best = sweep["happiness_gain"].max()
        if base.happiness_gain > best + 1e-9:
            found.append(f"The control, {control}, gives creators more happiness ({base.happiness_gain:.3f}) than any "
                         f"fairshot plan tonight (best {best:.3f}): the creator term is not buying what it is for; "
                         "look at allocation.creator_weight and the floors.")
        elif base.happiness_gain > fair.happiness_gain + 1e-9:
            better = sweep[sweep["happiness_gain"] > base.happiness_gain]["creator_weight"].min()
            found.append(f"The control, {control}, gives creators more happiness ({base.happiness_gain:.3f}) than "
                         f"fairshot at the configured creator weight ({fair.happiness_gain:.3f}); the lowest weight "
                         f"of the sweep below that beats it is w = {better:g}.")
        found += control_leads(ok, fair)
        if fair.user_value_kept < 0.98:
            found.append(f"fairshot keeps {fair.user_value_kept:.1%} of the control's user value, below the 98% "
                         "it should cost users at most.")
    for row in backtest.itertuples():
        if pd.isna(row.auc) or abs(row.auc - 0.5) < 0.02 or row.base_rate in (0.0, 1.0):
            found.append(f"The availability backtest of {html.escape(row.estimator)} is degenerate (AUC "
                         f"{_format('auc', row.auc)}, base rate {_format('base_rate', row.base_rate)}, "
                         f"{int(row.n_users)} users): too little history, or everyone or no one came; tonight's "
                         "p_active is close to a guess.")
    return found


def _drill_down(name: str, frame: pd.DataFrame, columns: dict[str, str], order: list[str]) -> str:
    shown = frame.sort_values(order, ascending=False).head(DRILL_ROWS).reset_index(drop=True)
    more = (f" The {DRILL_ROWS} largest of {len(frame)} are shown; `fairshot query` has them all."
            if len(frame) > DRILL_ROWS else "")
    search = (f'<input type="search" data-filter="{name}" aria-label="filter {name}" '
              f'placeholder="filter: type any ids or words">')
    return f'{search}<p class="note">{len(frame)} rows.{more}</p><div id="{name}">{_table(shown, columns)}</div>'


def yesterday_note(run: pd.DataFrame, policies: pd.DataFrame, column: str, fmt: str) -> str:
    """Yesterday's published fairshot figure, or why there is none."""
    fair = policies[policies["policy"] == "fairshot"] if not policies.empty else policies
    if run.empty:
        return "no plan yesterday"
    if fair.empty:
        return "yesterday's plan not evaluated"
    return f"yesterday {format(float(fair[column].iloc[0]), fmt)}"


def _share(row: object) -> float:
    """The evaluation's user share; 1 for rows written before it was recorded."""
    share = getattr(row, "user_share", 1.0)
    return 1.0 if share is None or pd.isna(share) else float(share)


def _headline_words(truth: str, baseline: str) -> str:
    observed = truth == "synthetic truth"
    against = ("the world's own user-side feed's in the same users' creator-side slots on the same day (it ranks "
               "every item on the shelf, old and new, as an ordinary feed does)" if baseline == "world_feed" else
               "each user's top-k of the same candidates under the same capacities (above 100% when the top-k "
               "fills slots with pairs worth less than nothing)")
    return (
        f"<b>user value kept</b>: fairshot's expected value to users as a share of {against}. "
        "The control's figures are beside fairshot's. <b>new-item coverage</b>: new items with at least one expected exposure. "
        "<b>creators with ≥1 like</b>: the expected share of creators whose items get at least one like. "
        "<b>exposure Gini</b>: how unequally exposure falls on items (0 equal, 1 one item takes all). "
        "<b>UAC hit rate</b>: the share of the plan's exposure that went to users who did come. "
        + ("These figures are computed from the synthetic world's true probabilities: observations of the "
           "model world, not estimates." if observed else
           "Only who came on the next day is observed here; likes, long views, skips and user value are the "
           "ranking model's <b>estimates</b> for the planned pairs (the policy table's figures too).")
        + " Yesterday's figures are the published plan of the day before, where there is one.")


def _heads_section(heads: pd.DataFrame, reliability: pd.DataFrame) -> str:
    """The outcome models' backtest: are the probabilities the plan is made of (and, on real logs,
    scored with) calibrated on a day they were not trained on?"""
    if heads.empty:
        return _section("Ranking heads", "<p>no backtest of the ranking heads tonight (candidates.backtests off, "
                        "or no labelled day before ds)</p>")
    shown = heads[heads["items"] == "all"].sort_values(["head", "scorer"]).reset_index(drop=True)
    body = _table(shown, {"head": "head", "scorer": "scorer", "rows": "rows", "n_rows": "rows scored",
                          "base_rate": "base rate", "auc": "AUC", "log_loss": "log loss",
                          "calibration_error": "ECE", "platt_slope": "Platt a", "platt_intercept": "Platt b"})
    if not reliability.empty:
        body = _image(charts.head_reliability(reliability), "ranking heads' reliability") + body
    return _section("Ranking heads", body,
                    "Heads trained on the day before ds predict ds's exposures (on KuaiRand its random exposures "
                    "only, which its recommender did not choose). heads_calibrated passes them through the Platt "
                    "map fitted the night before, so its figures are out of sample; tonight's map (Platt a, b) is "
                    "what tonight's candidates pass through when candidates.calibrate_heads is on.")


def render(config: Config, ds: str, tables: dict[str, pd.DataFrame]) -> str:
    """The page, from the run's tables (keys: run, policies, exposure, calibration, backtest, trace,
    quality, timings)."""
    run = tables["run"].iloc[0]
    policies, exposure = tables["policies"], tables["exposure"]
    parts = [f"<h1>fairshot plan for {shift(ds, 1)}</h1>",
             f'<p class="meta">ds {ds} · run {html.escape(run.run_id)} · status <b>{html.escape(run.status)}</b> · '
             f"config {html.escape(run.config_hash)} · code {html.escape(run.code_version)}</p>"]
    found = warnings(tables)
    if found:
        parts.append('<div class="warn" role="alert"><b>Check before you trust tonight\'s figures</b><ul>'
                     + "".join(f"<li>{text}</li>" for text in found) + "</ul></div>")
    if not policies.empty:
        fair = policies[policies["policy"] == "fairshot"].iloc[0]
        base = policies[policies["policy"] == control_policy(policies)].iloc[0]
        def yesterday(column: str, fmt: str) -> str:
            return f"<small>{yesterday_note(tables['yesterday_run'], tables['yesterday_policies'], column, fmt)}</small>"

        parts.append('<div class="kpi">' + "".join(
            f"<div>{label}<b>{value}</b>{extra}</div>" for label, value, extra in (
                ("user value kept", f"{fair.user_value_kept:.1%}", yesterday("user_value_kept", ".1%")),
                ("new-item coverage", f"{fair.new_item_coverage:.1%} <small>(control {base.new_item_coverage:.0%})</small>",
                 yesterday("new_item_coverage", ".1%")),
                ("creators with ≥1 like", f"{fair.creators_with_like_share:.1%} "
                                          f"<small>(control {base.creators_with_like_share:.0%})</small>",
                 yesterday("creators_with_like_share", ".1%")),
                ("exposure Gini", f"{fair.exposure_gini:.3f} <small>(control {base.exposure_gini:.3f})</small>",
                 yesterday("exposure_gini", ".3f")),
                ("UAC hit rate", f"{fair.uac_hit_rate:.1%}", yesterday("uac_hit_rate", ".1%")))) + "</div>")
        parts.append(f'<p class="note">{_headline_words(str(fair.truth), baseline_policy(policies))}</p>')
        main = policies["policy"].isin(charts.COLOURS).map({True: "main", False: ""})
        parts.append(_section(
            "Policies", f'<div class="wide">{_table(policies, POLICY_COLUMNS, main)}</div>',
            f"Every policy plans the same candidates under the same capacities and is scored against "
            f"<b>{html.escape(str(fair.truth))}</b>{html.escape(sample_words(_share(fair)))}. ExpoReach-E counts new items with at least "
            f"E = {fair.reach_threshold:g} expected exposures ({int(fair.n_new_items)} new items). "
            "world_feed (synthetic world) is the control: the world's own user-side feed, ranking every item on "
            "the shelf, in the same users' creator-side slots, scored against the same truth. logged_slots (real "
            "logs) is the control there: the logging feed's first k_u exposures on the next day of each planned "
            "user who came (k_u the user's slots in the plan), among the items the night knew, scored by the same "
            "estimator as the plans, so it compares like with like. logged is everything the logging feed showed "
            "those users, with its observed outcomes; its totals span the whole feed, so compare its shares, not "
            "its totals. user_side serves each user their "
            "top-k of the candidates by user value; creator-side linear is the optimiser without the happiness "
            "term or floors; fairshot_w=λ re-solves fairshot at creator weight λ."))
        if "replay_matched" in policies and policies["replay_matched"].notna().any():
            replayed = policies[policies["replay_matched"].notna()]
            parts.append(_section("Observed: replay on the next day's random exposures", _table(replayed, {
                "policy": "policy", "replay_matched": "matched exposures", "replay_like_rate": "likes / exposure",
                "replay_like_ci": "± (95%)", "replay_long_view_rate": "long views / exposure",
                "replay_long_view_ci": "± (95%)"}),
                "Observed outcomes, no model: the logging feed's random exposures (KuaiRand's is_rand = 1) on the "
                "day the plan is for, each counting for a policy with its chance x of showing that pair. logged: "
                "the random exposures themselves, i.e. what serving at random gets. Few matched exposures mean a "
                "wide interval: read the ± before the difference."))
        if exposure.empty:   # nothing was in play tonight: no item, no exposure to draw
            parts.append(_section("Exposure and trade-off", "<p>no item is in the plan tonight, so there is no "
                                  "exposure to chart (the warnings above say why)</p>"))
        else:
            parts.append(_section("Exposure and trade-off", '<div class="grid">' + _image(
                charts.lorenz(exposure), "Lorenz curves") + _image(
                charts.quotas_by_creator_size(exposure), "quotas by creator size") + "</div>" + _image(
                charts.trade_off(policies), "trade-off curve")))
    availability = ""
    if not tables["calibration"].empty:
        availability += _image(charts.calibration(tables["calibration"]), "UAC calibration")
    if not tables["backtest"].empty:
        availability += _table(tables["backtest"], {
            "estimator": "backtest estimator", "predicted_for": "predicted", "n_users": "users",
            "base_rate": "base rate", "auc": "AUC", "log_loss": "log loss", "calibration_error": "ECE",
            "hit_rate": "hit rate"})
    parts.append(_section("User availability (UAC)", availability or "<p>no availability figures</p>",
                          "The diagram scores the plan's own p_active against who came on the day it planned for; "
                          "the table is the features step's backtest (predict ds from the day before)."))
    parts.append(_heads_section(tables.get("heads", pd.DataFrame()), tables.get("head_reliability", pd.DataFrame())))
    trace = tables["trace"]
    solver_body = _table(tables["run"], {"solver": "solver", "objective": "objective", "bound": "bound",
                                         "gap": "gap", "iterations": "iterations", "solve_seconds": "seconds",
                                         "n_pairs": "pairs", "max_violation": "max violation"})
    why = tables["run"].iloc[0].get("solver_reason")
    if isinstance(why, str) and why:
        solver_body += f"<p>Why this solver: {html.escape(why)}.</p>"
    if len(trace) > 1:
        solver_body += _image(charts.convergence(trace), "solver convergence")
    parts.append(_section("Solver", solver_body, "" if len(trace) > 1 else
                          "The exact LP reports its gap only at the end (simplex gives no bound along the way); "
                          "the dual solver draws its gap per iteration here."))
    quality = tables["quality"]
    failed = int((~quality["success"].astype(bool)).sum()) if not quality.empty else 0
    quality_rows = quality.assign(success=quality["success"].map({True: "pass", False: "FAIL"}))
    checks = _table(quality_rows, {"suite": "suite", "table_name": "table", "expectation": "expectation",
                                   "success": "result", "observed": "observed"},
                    quality_rows["success"].map({"pass": "", "FAIL": "fail"}))
    # All passing: fold the list away; any failure: show it open, failures in red.
    checks = f"<details{'' if not failed else ' open'}><summary>every check</summary>{checks}</details>"
    parts.append(_section(f"Data quality: {len(quality) - failed} of {len(quality)} checks passed", checks,
                          "great-expectations suites on the staged gold tables, and the model's invariants; "
                          "a failed check stops publication."))
    items = tables["items"]
    if not items.empty:
        items = items.assign(binds=binding_limit(items["quota"], items["cap"], items["floor"]))
        parts.append(_section("Items", _drill_down("items", items, {
            "item_id": "item", "creator_id": "creator", "is_new": "new", "plan_stage": "stage", "quota": "quota",
            "floor": "floor",
            "cap": "cap", "binds": "binds", "cap_price": "cap price", "floor_price": "floor price",
            "n_candidates": "candidates", "served": "users drawn", "expected_likes": "expected likes"}, ["quota"]),
            "Each item's quota (expected exposures), the limit it sits on and that limit's price. "
            "<code>fairshot explain --ds D --item I</code> shows why, pair by pair."))
    creators = tables["creators"]
    if not creators.empty:
        parts.append(_section("Creators", _drill_down("creators", creators, {
            "creator_id": "creator", "is_new_creator": "new", "trailing_likes": "trailing likes",
            "expected_new_likes": "expected new likes", "happiness_gain": "happiness gain",
            "marginal_value": "value of one more like"}, ["expected_new_likes"]),
            "Where each creator stands on the happiness curve: the fewer likes so far, the more the next one is "
            "worth. <code>fairshot explain --ds D --creator C</code> shows their items."))
    parts.append(_section("Run", _table(tables["timings"], {"step": "step", "seconds": "seconds",
                                                            "finished_at": "finished at (UTC)"})))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>fairshot {ds}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}<script>{FILTER_SCRIPT}</script></body></html>")


def gather(config: Config, ds: str, spark: SparkSession) -> dict[str, pd.DataFrame]:
    rid = staged_run_id(spark, config, ds)

    def read(key: str, run: str = rid) -> pd.DataFrame:
        frame = io.read_table(spark, config, key, ds=ds).toPandas()
        return frame[frame["run_id"] == run].reset_index(drop=True) if "run_id" in frame.columns else frame

    run = read("gold.allocation_runs")
    if run.empty:
        raise FairshotError(f"gold.allocation_runs: no row for run {rid} (ds={ds}); publish it first")
    # The published row if there is one, else the failed attempt (the report explains a failure too).
    run = run.assign(_rank=run["status"].ne("published")).sort_values("_rank").iloc[[0]].drop(columns="_rank")
    run = run.reset_index(drop=True)
    rid = str(run["run_id"].iloc[0])
    yesterday = shift(ds, -1)
    ledger = io.read_table(spark, config, "gold.allocation_runs", ds=yesterday).toPandas()
    before = ledger[ledger["status"] == "published"].reset_index(drop=True)
    policies_before = io.read_table(spark, config, "audit.policy_evaluation", ds=yesterday).toPandas()
    if not before.empty:
        policies_before = policies_before[policies_before["run_id"] == before["run_id"].iloc[0]]
    from pyspark.sql import functions as F

    # per item on the executors: the explanation has a row per candidate pair
    per_item = (io.read_table(spark, config, "audit.allocation_explanations", ds=ds).where(F.col("run_id") == rid)
                .groupBy("item_id").agg(F.sum(F.col("selected").cast("long")).alias("served"),
                                        F.max("cap_price").alias("cap_price"), F.max("floor_price").alias("floor_price"))
                .toPandas())
    items = read("gold.item_quotas", rid).merge(per_item, on="item_id", how="left")
    return {"run": run, "policies": in_display_order(read("audit.policy_evaluation")), "exposure": read("audit.policy_item_exposure"),
            "calibration": read("audit.availability_calibration"), "backtest": read("audit.availability_evaluation"),
            "heads": io.read_table(spark, config, "audit.ranking_evaluation", ds=ds).toPandas(),
            "head_reliability": io.read_table(spark, config, "audit.ranking_calibration", ds=ds).toPandas(),
            "trace": read("audit.solver_trace").sort_values("iteration"), "quality": read("audit.quality_results"),
            "timings": read("audit.step_timings", job_id(config, ds)), "yesterday_run": before,
            "yesterday_policies": policies_before, "creators": read("gold.creator_outcomes", rid), "items": items}


def _record_path(config: Config, ds: str, spark: SparkSession, rid: str, path: str) -> int:
    """Point the run's ledger rows at the report (one commit; other runs' rows untouched)."""
    key = "gold.allocation_runs"
    ledger = io.read_table(spark, config, key, ds=ds).toPandas()
    ledger.loc[ledger["run_id"] == rid, "report_path"] = path
    return io.write_partition(spark, config, key, io.frame_from_pandas(spark, key, ledger), ds=ds, run_id=rid)


def run(config: Config, ds: str, spark: SparkSession | None = None) -> StepOutput:
    started = time.perf_counter()
    spark = spark or get_spark(config)
    tables = gather(config, ds, spark)
    rid = str(tables["run"]["run_id"].iloc[0])
    path = report_path(config, ds, rid)
    # the page cannot wait for its own row in audit.step_timings: it shows its time so far
    own = pd.DataFrame([{"step": "report (this page, so far)", "seconds": time.perf_counter() - started,
                         "finished_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")}])
    tables["timings"] = pd.concat([tables["timings"].sort_values("finished_at"), own], ignore_index=True)
    storage.write_text_atomically(path, render(config, ds, tables))
    output = StepOutput("report", ds)
    output.versions["gold.allocation_runs"] = _record_path(config, ds, spark, rid, path)
    output.figures["report"] = path
    if not tables["policies"].empty:
        output.figures["policies"] = policy_table(tables["policies"])
    LOG.info("report ds=%s -> %s", ds, path)
    return output
