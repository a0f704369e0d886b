"""report: one self-contained HTML page per run, for the people who run fairshot.

Everything on the page is read back from the Delta tables of the run (the ledger, the policy
evaluation, the audits, the solver trace), so the page shows exactly what analysts can query. The
file goes to the reports folder beside the warehouse and its path into the run's ledger row.
"""
from __future__ import annotations

import html
import logging
import os
import tempfile
from typing import TYPE_CHECKING

import pandas as pd

from jobs import io, report_charts
from jobs.config import Config
from jobs.dates import shift
from jobs.errors import FairshotError
from jobs.evaluate import in_display_order, policy_table
from jobs.spark import get_spark
from jobs.steps import StepOutput, job_id, staged_run_id

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
INTEGER_COLUMNS = {"expo_reach", "iterations", "n_pairs", "n_users"}
PERCENT_COLUMNS = {"user_value_kept", "new_item_coverage", "creators_with_like_share",
                   "new_creators_with_like_share", "top1_share", "uac_hit_rate"}


def reports_root(config: Config) -> str:
    configured = config["report"]["path"]
    if configured:
        return os.path.abspath(configured)
    return os.path.join(os.path.dirname(os.path.abspath(config["storage"]["warehouse"])), "reports")


def report_path(config: Config, ds: str, rid: str) -> str:
    return os.path.join(reports_root(config), ds, f"{rid}.html")


def _format(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if column in PERCENT_COLUMNS:
        return f"{float(value):.1%}"
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


def _image(encoded: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _section(title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{note}</p>' if note else ""
    return f"<section><h2>{html.escape(title)}</h2>{note_html}{body}</section>"


STYLE = """
body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{margin-bottom:4px} h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
.meta{color:#555;font-size:14px} .note{color:#555;font-size:13px;max-width:900px}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{padding:4px 8px;border-bottom:1px solid #eee;
text-align:right} th:first-child,td:first-child{text-align:left} details table td{text-align:left} th{background:#f5f5f5}
tr.main td{font-weight:600} tr.fail td{color:#b00020;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start} img{max-width:100%;border:1px solid #eee}
.kpi{display:flex;gap:16px;flex-wrap:wrap;margin:12px 0} .kpi div{background:#f4faf7;border:1px solid #cfe8dc;
border-radius:6px;padding:8px 14px} .kpi b{display:block;font-size:22px}
"""


def render(config: Config, ds: str, tables: dict[str, pd.DataFrame]) -> str:
    """The page, from the run's tables (keys: run, policies, exposure, calibration, backtest, trace,
    quality, timings)."""
    run = tables["run"].iloc[0]
    policies, exposure = tables["policies"], tables["exposure"]
    parts = [f"<h1>fairshot plan for {shift(ds, 1)}</h1>",
             f'<p class="meta">ds {ds} · run {html.escape(run.run_id)} · status <b>{html.escape(run.status)}</b> · '
             f"config {html.escape(run.config_hash)} · code {html.escape(run.code_version)}</p>"]
    if not policies.empty:
        fair = policies[policies["policy"] == "fairshot"].iloc[0]
        base = policies[policies["policy"] == "user_side"].iloc[0]
        parts.append('<div class="kpi">' + "".join(
            f"<div>{label}<b>{value}</b></div>" for label, value in (
                ("user value kept", f"{fair.user_value_kept:.1%}"),
                ("new-item coverage", f"{fair.new_item_coverage:.1%} <small>(baseline {base.new_item_coverage:.0%})</small>"),
                ("creators with ≥1 like", f"{fair.creators_with_like_share:.1%} "
                                          f"<small>(baseline {base.creators_with_like_share:.0%})</small>"),
                ("exposure Gini", f"{fair.exposure_gini:.3f} <small>(baseline {base.exposure_gini:.3f})</small>"),
                ("UAC hit rate", f"{fair.uac_hit_rate:.1%}"))) + "</div>")
        main = policies["policy"].isin(report_charts.COLOURS).map({True: "main", False: ""})
        parts.append(_section(
            "Policies", _table(policies, POLICY_COLUMNS, main),
            f"Every policy plans the same candidates under the same capacities and is scored against "
            f"<b>{html.escape(str(fair.truth))}</b>. ExpoReach-E counts new items with at least "
            f"E = {fair.reach_threshold:g} expected exposures ({int(fair.n_new_items)} new items). "
            "The user-side baseline serves each user their top-k by user value; creator-side linear is the "
            "optimiser without the happiness term or floors; fairshot_w=λ re-solves fairshot at creator weight λ."))
        parts.append(_section("Exposure and trade-off", '<div class="grid">' + _image(
            report_charts.lorenz(exposure), "Lorenz curves") + _image(
            report_charts.quotas_by_creator_size(exposure), "quotas by creator size") + "</div>" + _image(
            report_charts.trade_off(policies), "trade-off curve")))
    availability = ""
    if not tables["calibration"].empty:
        availability += _image(report_charts.calibration(tables["calibration"]), "UAC calibration")
    if not tables["backtest"].empty:
        availability += _table(tables["backtest"], {
            "estimator": "backtest estimator", "predicted_for": "predicted", "n_users": "users",
            "base_rate": "base rate", "auc": "AUC", "log_loss": "log loss", "calibration_error": "ECE",
            "hit_rate": "hit rate"})
    parts.append(_section("User availability (UAC)", availability or "<p>no availability figures</p>",
                          "The diagram scores the plan's own p_active against who came on the day it planned for; "
                          "the table is the features step's backtest (predict ds from the day before)."))
    trace = tables["trace"]
    solver_body = _table(tables["run"], {"solver": "solver", "objective": "objective", "bound": "bound",
                                         "gap": "gap", "iterations": "iterations", "solve_seconds": "seconds",
                                         "n_pairs": "pairs", "max_violation": "max violation"})
    if len(trace) > 1:
        solver_body += _image(report_charts.convergence(trace), "solver convergence")
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
    parts.append(_section("Run", _table(tables["timings"].sort_values("finished_at"), {"step": "step", "seconds": "seconds",
                                                            "finished_at": "finished at (UTC)"})))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>fairshot {ds}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


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
    return {"run": run, "policies": in_display_order(read("audit.policy_evaluation")), "exposure": read("audit.policy_item_exposure"),
            "calibration": read("audit.availability_calibration"), "backtest": read("audit.availability_evaluation"),
            "trace": read("audit.solver_trace").sort_values("iteration"), "quality": read("audit.quality_results"),
            "timings": read("audit.step_timings", job_id(config, ds))}


def _write_atomically(path: str, text: str) -> None:
    """Whole or not at all (a reader never sees half a page), and readable by the team: a
    temporary file is private (0600), so it is opened up to 0644 before it takes the name."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def _record_path(config: Config, ds: str, spark: SparkSession, rid: str, path: str) -> int:
    """Point the run's ledger rows at the report (one commit; other runs' rows untouched)."""
    key = "gold.allocation_runs"
    ledger = io.read_table(spark, config, key, ds=ds).toPandas()
    ledger.loc[ledger["run_id"] == rid, "report_path"] = path
    return io.write_partition(spark, config, key, io.frame_from_pandas(spark, key, ledger), ds=ds, run_id=rid)


def run(config: Config, ds: str, spark: SparkSession | None = None) -> StepOutput:
    spark = spark or get_spark(config)
    tables = gather(config, ds, spark)
    rid = str(tables["run"]["run_id"].iloc[0])
    path = report_path(config, ds, rid)
    _write_atomically(path, render(config, ds, tables))
    output = StepOutput("report", ds)
    output.versions["gold.allocation_runs"] = _record_path(config, ds, spark, rid, path)
    output.figures["report"] = path
    if not tables["policies"].empty:
        output.figures["policies"] = policy_table(tables["policies"])
    LOG.info("report ds=%s -> %s", ds, path)
    return output
