"""The simulation's page: the summary against the targets, and each figure's time series per arm.

One self-contained HTML file (charts embedded) at `<reports>/simulation/<sim id>.html`. Lines are
the median over seeds, bands their range, so a reader sees at once whether an effect outlives the
seed; the difference panel shows treatment minus control per seed. Every arm of the run is drawn,
and a table reads each against control and against the treatment.
"""
from __future__ import annotations

import html

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from jobs.config import Config  # noqa: E402
from jobs.steps.report.charts import figure_svg  # noqa: E402
from jobs.steps.report.step import STYLE, _image, _section, reports_root  # noqa: E402
from jobs.warehouse import storage  # noqa: E402

ARM_COLOURS = {"control": "#d95f02", "treatment": "#1b9e77", "boost": "#7570b3", "explore": "#e7298a"}
ARM_LABELS = {"control": "user-side feed (control)", "treatment": "feed + fairshot plan (treatment)",
              "boost": "feed + its own ranking of the plan's items (boost)",
              "explore": "feed + the plan's items at random (explore)"}
CHARTS = (
    ("creators_with_like", "expected creators with >= 1 like"),
    ("new_creators_with_like_share", "new creators with >= 1 like (expected share)"),
    ("new_creators_posting", "new creators still posting"),
    ("creators_quit", "creators who stopped posting"),
    ("active_creators", "creators posting"),
    ("creator_exposure_gini", "exposure Gini over posting creators (zeros included)"),
    ("new_item_coverage", "new-item coverage (items posted yesterday with >= 1 exposure)"),
    ("exposure_gini", "exposure Gini (all items on the shelf)"),
    ("discovery", "discovery: best new items with >= E exposures in 2 days"),
    ("user_value_per_active_user", "user value per active user"),
    ("active_users", "active users"),
)
# (metric, the change of an arm against control it must reach (>=) or stay under (<=), the target's words,
#  the metric bounding what any plan in the arm's slots could reach, where there is one: metrics.py)
TARGETS = (
    ("new_creators_posting", ">=", +0.40, "new creators still posting at the last day: +40%", None),
    ("creators_with_like", ">=", +0.40, "expected creators with >= 1 like per day: +40%", "creators_with_like_ceiling"),
    ("creator_exposure_gini", "<=", -0.15, "exposure Gini over posting creators: -15%", "creator_exposure_gini_floor"),
    ("user_value_per_active_user", ">=", +0.03, "value per active user over the period: +3%", None),
)
# Levels an arm must reach itself, not changes against control.
LEVELS = (("new_item_coverage", 0.90, "new-item coverage >= 90%"),
          ("new_creator_retention_28d", 0.85, "new creators' 28-day retention >= 0.85"))
# The figures on which fairshot must lead every baseline (higher is better, but for the Gini).
CREATOR_FIGURES = (("creators_with_like", ">="), ("new_creators_posting", ">="), ("new_creators_with_like_share", ">="),
                   ("creator_exposure_gini", "<="), ("user_value_per_active_user", ">="))
# Not targets, but what the creator-ecosystem team reads next: printed under the targets.
ALSO_READ = (
    ("new_creators_with_like_share", "new creators with >= 1 like per day (expected share)"),
    ("new_creator_retention_14d", "new creators still posting 14 days after joining (share)"),
    ("exposure_gini", "exposure Gini over every item on the shelf (reported, no longer a target)"),
    ("items_posted_total", "items posted over the period"),
    ("discovery", "best new items with >= E exposures in their first 2 days (share)"),
    ("active_users", "active users per day"),
)


def _medians(summary: pd.DataFrame, arm: str) -> pd.DataFrame:
    """Median over seeds of control, the arm's value and their ratio, per metric."""
    return summary[summary["arm"] == arm].groupby("metric")[["control", "value", "ratio"]].median()


def target_rows(summary: pd.DataFrame, arm: str = "treatment") -> pd.DataFrame:
    """Median over seeds of each targeted ratio of `arm`, whether it meets the target, and the most
    any plan in its slots could have changed it (`bound`; NaN where no bound is computed), so that a
    target out of reach at this slot share reads as that, not as a weak optimiser."""
    median = _medians(summary, arm)
    rows = []
    for metric, direction, change, text, bound in TARGETS:
        if metric not in median.index:
            continue
        ratio = float(median.loc[metric, "ratio"])
        met = ratio - 1 >= change if direction == ">=" else ratio - 1 <= change
        reachable = float(median.loc[bound, "ratio"]) - 1 if bound in median.index else float("nan")
        rows.append({"target": text, "control": median.loc[metric, "control"],
                     "value": median.loc[metric, "value"], "change": ratio - 1, "met": met, "bound": reachable})
    for metric, level, text in LEVELS:
        if metric in median.index:
            value = float(median.loc[metric, "value"])
            rows.append({"target": text, "control": median.loc[metric, "control"], "value": value,
                         "change": float("nan"), "met": value >= level, "bound": float("nan")})
    return pd.DataFrame(rows, columns=["target", "control", "value", "change", "met", "bound"])


def also_read_rows(summary: pd.DataFrame, arm: str = "treatment") -> pd.DataFrame:
    """Median over seeds of the ALSO_READ figures (those the run has)."""
    median = _medians(summary, arm)
    return pd.DataFrame([{"figure": text, "control": median.loc[m, "control"], "value": median.loc[m, "value"],
                          "change": median.loc[m, "ratio"] - 1} for m, text in ALSO_READ if m in median.index],
                        columns=["figure", "control", "value", "change"])


def arm_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """Every arm against control on the creator figures and user value (median change over seeds),
    and whether the treatment leads the arm on each (`treatment_leads`: NaN for the treatment)."""
    rows = []
    treatment = _medians(summary, "treatment") if (summary["arm"] == "treatment").any() else None
    for arm in dict.fromkeys(summary["arm"]):
        median = _medians(summary, arm)
        for metric, direction in CREATOR_FIGURES:
            if metric not in median.index:
                continue
            leads = float("nan")
            if treatment is not None and arm != "treatment" and metric in treatment.index:
                mine, theirs = float(treatment.loc[metric, "value"]), float(median.loc[metric, "value"])
                leads = mine >= theirs if direction == ">=" else mine <= theirs
            rows.append({"arm": arm, "metric": metric, "control": median.loc[metric, "control"],
                         "value": median.loc[metric, "value"], "change": median.loc[metric, "ratio"] - 1,
                         "treatment_leads": leads})
    return pd.DataFrame(rows, columns=["arm", "metric", "control", "value", "change", "treatment_leads"])


def _series_chart(daily: pd.DataFrame, metric: str, title: str) -> str:
    figure, (axis, diff) = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [3, 2]})
    for arm, frame in daily.groupby("arm"):
        by_day = frame.groupby("day_index")[metric]
        axis.plot(by_day.median().index, by_day.median().to_numpy(), color=ARM_COLOURS.get(arm),
                  label=ARM_LABELS.get(arm, arm), linewidth=2)
        axis.fill_between(by_day.min().index, by_day.min().to_numpy(), by_day.max().to_numpy(),
                          color=ARM_COLOURS.get(arm), alpha=0.15)
    wide = daily.pivot_table(index=["seed", "day_index"], columns="arm", values=metric).reset_index()
    if {"control", "treatment"} <= set(wide.columns):
        for seed, frame in wide.groupby("seed"):
            diff.plot(frame["day_index"], frame["treatment"] - frame["control"], color="#555", alpha=0.7,
                      linewidth=1, label=f"seed {seed}")
    diff.axhline(0, color="#999", linestyle=":")
    axis.set_title(title, fontsize=10)
    diff.set_title("treatment - control, per seed", fontsize=10)
    for a in (axis, diff):
        a.set_xlabel("simulated day")
    axis.legend(fontsize=8, loc="best")
    return figure_svg(figure)


def _fmt(value: object, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, bool):
        return "met" if value else "not met"
    if percent:
        return f"{float(value):+.1%}"
    return f"{float(value):,.3f}" if abs(float(value)) < 10 else f"{float(value):,.1f}"


def render(output) -> str:  # noqa: ANN001 - loop.SimulationOutput (imported lazily by the loop)
    daily, summary = output.daily, output.summary
    targets = target_rows(summary)
    target_html = "<table><thead><tr><th>target (treatment, median of seeds)</th><th>control</th><th>treatment</th>" \
                  "<th>change</th><th>verdict</th><th>the best any plan in these slots could do</th></tr></thead><tbody>" \
                  + "".join(f"<tr><td>{html.escape(r.target)}</td><td>{_fmt(r.control)}</td><td>{_fmt(r.value)}</td>"
                            f"<td>{_fmt(r.change, True)}</td><td>{_fmt(bool(r.met))}</td>"
                            f"<td>{_fmt(r.bound, True)}</td></tr>" for r in targets.itertuples())
    target_html += "</tbody></table>"
    target_html += "<table><thead><tr><th>also read (median of seeds)</th><th>control</th><th>treatment</th>" \
                   "<th>change</th></tr></thead><tbody>" + "".join(
                       f"<tr><td>{html.escape(r.figure)}</td><td>{_fmt(r.control)}</td><td>{_fmt(r.value)}</td>"
                       f"<td>{_fmt(r.change, True)}</td></tr>" for r in also_read_rows(summary).itertuples()) \
        + "</tbody></table>"
    arms = arm_rows(summary)
    arms_html = "<table><thead><tr><th>arm</th><th>figure</th><th>control</th><th>arm</th><th>change</th>" \
                "<th>treatment ahead</th></tr></thead><tbody>" + "".join(
                    f"<tr><td>{html.escape(ARM_LABELS.get(r.arm, r.arm))}</td><td>{html.escape(r.metric)}</td>"
                    f"<td>{_fmt(r.control)}</td><td>{_fmt(r.value)}</td><td>{_fmt(r.change, True)}</td>"
                    f"<td>{'–' if pd.isna(r.treatment_leads) else ('yes' if r.treatment_leads else 'NO')}</td></tr>"
                    for r in arms.itertuples()) + "</tbody></table>"
    spread = summary.groupby(["arm", "metric"]).agg(control=("control", "median"), value=("value", "median"),
                                                    ratio=("ratio", "median"), ratio_min=("ratio", "min"),
                                                    ratio_max=("ratio", "max"))
    summary_html = "<table><thead><tr><th>arm</th><th>metric</th><th>control</th><th>arm</th><th>arm / control" \
                   "</th><th>range over seeds</th></tr></thead><tbody>" + "".join(
                       f"<tr><td>{html.escape(a)}</td><td>{html.escape(m)}</td><td>{_fmt(r.control)}</td>"
                       f"<td>{_fmt(r.value)}</td><td>{_fmt(r.ratio)}</td><td>{_fmt(r.ratio_min)} .. "
                       f"{_fmt(r.ratio_max)}</td></tr>" for (a, m), r in spread.iterrows()) + "</tbody></table>"
    charts = "".join(_image(_series_chart(daily, metric, title), title) for metric, title in CHARTS
                     if metric in daily.columns)
    seeds = sorted(daily["seed"].unique().tolist())
    days = int(daily["day_index"].max())
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>fairshot simulation {output.sim_id}</title>"
            f"<style>{STYLE}</style></head><body><h1>fairshot simulation {html.escape(output.sim_id)}</h1>"
            f"<p class='meta'>{days} simulated days from {daily['date'].min()}, seeds {seeds}; "
            f"{output.seconds:.0f} s in all, nightly job median "
            f"{pd.Series(output.nightly_seconds).median():.1f} s per day</p>"
            + _section("Targets", target_html, "Stocks (creators posting) are read on the last day, flows averaged "
                       "over the days, per-active-user outcomes pooled over the period. Outcomes are expected "
                       "values under the world's true probabilities at the pairs served. The last column bounds "
                       "what any plan in the treatment's creator-side slots (features.slot_share) could have "
                       "changed: every creator with an item in the plan's window (features.max_plan_age_days, or "
                       "features.new_item_days under the age window) liked "
                       "for sure; the plan's exposures poured onto the least-exposed items of that window. A "
                       "target beyond it needs more slots or a wider window, not a better plan.")
            + _section("Arms", arms_html, "Every arm against control, and whether fairshot's plan (treatment) "
                       "leads it. Baselines serve the same creator-side slots without a nightly job: boost ranks "
                       "the items the plan may hold by the feed's own scores, explore draws them at random.")
            + _section("Summary", summary_html)
            + _section("Day by day", f"<div class='grid'>{charts}</div>",
                       "Lines: median over seeds; bands: their range.")
            + "</body></html>")


def write_report(config: Config, output) -> str:  # noqa: ANN001 - loop.SimulationOutput
    path = storage.join(reports_root(config), "simulation", f"{output.sim_id}.html")
    storage.write_text_atomically(path, render(output))
    return path
