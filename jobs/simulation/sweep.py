"""`fairshot simulate --sweep`: does fairshot's lead hold whatever the world is like?

The closed loop's figures rest on assumptions about the world: how much creators respond to likes,
how soon a starved creator quits, how much the feed favours popular creators, how much users
respond to the value they get. The sweep runs the same simulation (same seeds, same arms) with each
assumption at a low and a high value (`simulation.sweep`, one at a time, the rest as configured)
and says, corner by corner, whether each arm's lead over control holds (more creators with a like,
value per active user at least `LEAD_VALUE_KEPT` of control's) and whether the treatment stays
ahead of the baselines on every creator figure and on user value.
"""
from __future__ import annotations

import hashlib
import html
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from jobs.config import Config
from jobs.errors import ConfigError
from jobs.simulation import loop
from jobs.simulation.arms import BASELINES, TREATMENT
from jobs.simulation.report import arm_rows
from jobs.steps.report.step import STYLE, _section, reports_root
from jobs.warehouse import storage

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LEAD_VALUE_KEPT = 0.98     # "without hurting users": the arm keeps at least this share of control's value
COLUMNS = ["corner", "assumption", "value", "arm", "creators_with_like_change", "value_kept", "lead_holds",
           "ahead_of_baselines", "behind_on", "sim_id", "report"]


@dataclass(frozen=True)
class SweepOutput:
    table: pd.DataFrame          # one row per corner and arm (COLUMNS)
    report_path: str


def corners(config: Config, assumptions: list[str] | None = None) -> list[tuple[str, str, float]]:
    """(corner name, simulation key, value) for each assumption's low and high value: every one of
    `simulation.sweep`, or the named ones."""
    sweep = config["simulation"]["sweep"]
    unknown = sorted(set(assumptions or ()) - set(sweep))
    if unknown:
        raise ConfigError(f"--sweep {' '.join(unknown)}: not in simulation.sweep; its assumptions are {sorted(sweep)}")
    return [(f"{key}={value:g}", key, float(value))
            for key, bounds in sweep.items() if not assumptions or key in assumptions for value in bounds]


def corner_rows(summary: pd.DataFrame) -> list[dict[str, object]]:
    """Per arm of one corner's summary: its change in creators with a like and value kept against
    control (medians over seeds), whether its lead holds, and for the treatment whether it leads
    every baseline of the run on every creator figure and on user value (None: no baseline ran)."""
    arms = arm_rows(summary)
    rows = []
    for arm, frame in arms.groupby("arm", sort=False):
        by_metric = frame.set_index("metric")
        likes = float(by_metric.loc["creators_with_like", "change"])
        kept = float(by_metric.loc["user_value_per_active_user", "value"]
                     / by_metric.loc["user_value_per_active_user", "control"])
        ahead, behind = None, ""
        if arm == TREATMENT:
            baselines = arms[arms["arm"].isin(BASELINES)]
            ahead = bool(baselines["treatment_leads"].astype(bool).all()) if not baselines.empty else None
            lost = baselines[~baselines["treatment_leads"].astype(bool)]
            behind = ", ".join(f"{r.arm} on {r.metric}" for r in lost.itertuples())
        rows.append({"arm": arm, "creators_with_like_change": likes, "value_kept": kept,
                     "lead_holds": bool(likes > 0 and kept >= LEAD_VALUE_KEPT), "ahead_of_baselines": ahead,
                     "behind_on": behind})
    return rows


def run(config: Config, spark: SparkSession, *, days: int | None = None, n_seeds: int | None = None,
        arms: list[str] | None = None, assumptions: list[str] | None = None) -> SweepOutput:
    """Every corner's simulation (its own run id, tables and report page), then the sweep's page."""
    rows = []
    for name, key, value in corners(config, assumptions):
        corner = config.with_overrides([f"simulation.{key}={value}"])
        output = loop.run(corner, spark, days=days, n_seeds=n_seeds, arms=arms)
        rows += [{"corner": name, "assumption": key, "value": value, **row, "sim_id": output.sim_id,
                  "report": output.report_path} for row in corner_rows(output.summary)]
    table = pd.DataFrame(rows, columns=COLUMNS)
    digest = hashlib.sha256("|".join(table["sim_id"]).encode()).hexdigest()[:10]
    path = storage.join(reports_root(config), "simulation", f"sweep-{digest}.html")
    storage.write_text_atomically(path, render(table))
    return SweepOutput(table, path)


def render(table: pd.DataFrame) -> str:
    """The sweep's page: one row per corner and arm, the verdicts in words, each corner's own page linked."""
    def verdict(value: object) -> str:
        return "–" if value is None or value != value else ("holds" if value else "<b>does not hold</b>")  # noqa: PLR0124

    lines = ["<table><tr><th>corner</th><th>arm</th><th>creators with a like</th><th>value kept</th>"
             "<th>lead over control</th><th>treatment ahead of baselines</th><th>page</th></tr>"]
    for r in table.itertuples():
        lines.append(f"<tr><td>{html.escape(r.corner)}</td><td>{html.escape(r.arm)}</td>"
                     f"<td>{r.creators_with_like_change:+.1%}</td><td>{r.value_kept:.1%}</td>"
                     f"<td>{verdict(r.lead_holds)}</td><td>{verdict(r.ahead_of_baselines)}"
                     f"{' (behind ' + html.escape(r.behind_on) + ')' if r.behind_on else ''}</td>"
                     f'<td><a href="{html.escape(posixpath.basename(r.report))}">{html.escape(r.sim_id)}</a></td></tr>')
    lines.append("</table>")
    held = table[table["arm"] == TREATMENT]["lead_holds"]
    summary = ("no treatment arm ran" if held.empty else
               f"the treatment's lead over control holds in {int(held.sum())} of {len(held)} corners")
    body = _section("Across the world's assumptions", f"<p>{summary}.</p>" + "".join(lines),
                    "Each corner is the same simulation (seeds, days, arms) with one assumption of the world at "
                    "its low or high value (simulation.sweep), the rest as configured. A lead holds when the arm "
                    f"has more creators with a like than control and keeps at least {LEAD_VALUE_KEPT:.0%} of "
                    "control's value per active user (medians over seeds).")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>fairshot sweep</title><style>{STYLE}</style></head>"
            f"<body><h1>fairshot across the world's assumptions</h1>{body}</body></html>")
