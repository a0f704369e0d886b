"""The report's charts: pandas frames in, inline SVG out.

Matplotlib draws without a display, so the nightly job can render on any worker. Each chart takes
exactly the audit table it shows, so the page and the tables never disagree. Text stays text in
the SVG (not paths): the page can be searched and read aloud, and a browser can measure every
label, which is how tests/test_report_browser.py checks that no two labels overlap.
"""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.fonttype"] = "none"       # <text> elements, drawn in the page's font
matplotlib.rcParams["svg.hashsalt"] = "fairshot"   # stable element ids: the same data, the same page
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from allocation.metrics import lorenz_curve  # noqa: E402

COLOURS = {"world_feed": "#555555", "logged_slots": "#e6ab02", "logged": "#a6761d", "user_side": "#d95f02",
           "creator_linear": "#7570b3", "fairshot": "#1b9e77"}
LABELS = {"world_feed": "the world's feed (control)", "logged_slots": "logged feed in the plan's slots (control)",
          "logged": "logged feed on ds+1 (observed)",
          "user_side": "user-side top-k of the candidates", "creator_linear": "creator-side, linear (no floors)",
          "fairshot": "fairshot"}
SIZE_BUCKETS = ((0, 1, "0"), (1, 10, "1-9"), (10, 100, "10-99"), (100, 1000, "100-999"), (1000, np.inf, "1000+"))


def figure_svg(figure: plt.Figure) -> str:
    """The figure as an <svg> element (no XML prologue: it sits inside the HTML page)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _label_points(axis: plt.Axes, points: list[tuple[float, float, str]]) -> None:
    """Annotate points without letting a label overlap another, a tick label or the axes' edge:
    each label tries a few places around its point and takes the first that is free and inside
    the axes; one with no such place is left out (the policy table above has every number)."""
    renderer = axis.figure.canvas.get_renderer()
    inside = axis.get_window_extent(renderer)
    placed = [tick.get_window_extent(renderer) for tick in (*axis.get_xticklabels(), *axis.get_yticklabels())
              if tick.get_text()]
    for x, y, text in points:
        for offset, align in (((4, 4), ("left", "bottom")), ((4, -4), ("left", "top")),
                              ((-4, 4), ("right", "bottom")), ((-4, -4), ("right", "top"))):
            label = axis.annotate(text, (x, y), fontsize=7, xytext=offset, textcoords="offset points",
                                  ha=align[0], va=align[1])
            box = label.get_window_extent(renderer).expanded(1.1, 1.2)
            within = (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1)
            if within and not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            label.remove()


def lorenz(exposure: pd.DataFrame) -> str:
    """Exposure Lorenz curves of the main policies (items with zero exposure included)."""
    figure, axis = plt.subplots(figsize=(5.2, 4.2))
    axis.plot([0, 1], [0, 1], color="#999", linestyle=":", label="equal exposure")
    for policy, group in exposure.groupby("policy", sort=False):
        share, held = lorenz_curve(group["exposure"].to_numpy(float))
        axis.plot(share, held, color=COLOURS.get(policy), label=LABELS.get(policy, policy), linewidth=2)
    axis.set_xlabel("share of items (least exposed first)")
    axis.set_ylabel("share of expected exposure")
    axis.set_title("Exposure concentration")
    axis.legend(loc="upper left", fontsize=8)
    axis.grid(alpha=0.3)
    return figure_svg(figure)


def trade_off(policies: pd.DataFrame) -> str:
    """User value kept against creator outcomes, along the creator-weight sweep."""
    sweep = policies[policies["policy"].str.startswith("fairshot_w=")].sort_values("creator_weight")
    main = policies[policies["policy"].isin(COLOURS)]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for axis, column, title in ((axes[0], "happiness_gain", "total creator happiness gain"),
                                (axes[1], "creators_with_like_share", "creators with a like (expected share)")):
        axis.plot(sweep["user_value_kept"] * 100, sweep[column], color="#1b9e77", marker="o", alpha=0.6,
                  label="fairshot, creator weight sweep")
        for row in main.dropna(subset=["user_value_kept"]).itertuples():
            axis.scatter(row.user_value_kept * 100, getattr(row, column), s=70, color=COLOURS[row.policy],
                         edgecolor="black", zorder=3, label=LABELS[row.policy])
        axis.set_xlabel("user value kept (% of the control's)")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[1].yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=8, frameon=False)
    figure.tight_layout()
    for axis, column in ((axes[0], "happiness_gain"), (axes[1], "creators_with_like_share")):
        _label_points(axis, [(row.user_value_kept * 100, getattr(row, column),
                              "w=0 (floors only)" if row.creator_weight == 0 else f"w={row.creator_weight:g}")
                             for row in sweep.itertuples()])
    return figure_svg(figure)


def size_bucket(trailing_likes: pd.Series) -> pd.Series:
    labels = pd.Series("", index=trailing_likes.index)
    for low, high, label in SIZE_BUCKETS:
        labels[(trailing_likes >= low) & (trailing_likes < high)] = label
    return labels


def quotas_by_creator_size(exposure: pd.DataFrame) -> str:
    """Mean expected exposure per item, by its creator's trailing likes, for each main policy."""
    frame = exposure.assign(size=size_bucket(exposure["creator_trailing_likes"]))
    order = [label for *_, label in SIZE_BUCKETS if label in set(frame["size"])]
    means = frame.groupby(["size", "policy"])["exposure"].mean().unstack("policy").reindex(order)
    counts = frame[frame["policy"] == frame["policy"].iloc[0]].groupby("size").size().reindex(order)
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    width = 0.8 / max(1, len(means.columns))
    positions = np.arange(len(order))
    for k, policy in enumerate([p for p in COLOURS if p in means.columns]):
        axis.bar(positions + k * width, means[policy], width, color=COLOURS[policy], label=LABELS[policy])
    axis.set_xticks(positions + width * (len(means.columns) - 1) / 2,
                    [f"{label}\n({counts[label]} items)" for label in order])
    axis.set_xlabel("creator's trailing likes")
    axis.set_ylabel("mean expected exposure per item")
    axis.set_title("Quotas by creator size")
    # below the axes, never over a bar
    axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, frameon=False)
    axis.grid(alpha=0.3, axis="y")
    return figure_svg(figure)


def calibration(bins: pd.DataFrame) -> str:
    """Reliability diagram of the plan's p_active against who really came."""
    bins = bins.sort_values("bin")
    figure, axis = plt.subplots(figsize=(5.2, 4.2))
    axis.plot([0, 1], [0, 1], color="#999", linestyle=":", label="perfect calibration")
    axis.scatter(bins["mean_predicted"], bins["observed_rate"], s=np.sqrt(bins["n_users"].to_numpy(float)) * 6,
                 color="#1b9e77", alpha=0.8, label="bins (area ~ users)")
    axis.plot(bins["mean_predicted"], bins["observed_rate"], color="#1b9e77", alpha=0.6)
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("predicted P(active tomorrow)")
    axis.set_ylabel("observed share active")
    axis.set_title(f"UAC calibration ({bins['truth'].iloc[0]})")
    axis.legend(loc="upper left", fontsize=8)
    axis.grid(alpha=0.3)
    return figure_svg(figure)


def head_reliability(points: pd.DataFrame) -> str:
    """Reliability of each ranking head on the held-out day: as trained, and through the Platt map
    the night before fitted (out of sample). Bins of equal count, so a rare outcome keeps its detail."""
    heads = list(dict.fromkeys(points["head"]))
    figure, axes = plt.subplots(1, len(heads), figsize=(2.3 * len(heads), 2.9), squeeze=False)
    styles = {"heads": ("#d95f02", "as trained"), "heads_calibrated": ("#1b9e77", "through yesterday's Platt map")}
    for axis, head in zip(axes[0], heads):
        mine = points[points["head"] == head]
        top = float(np.nanmax(mine[["mean_predicted", "observed_rate"]].to_numpy(float))) * 1.1 or 1.0
        axis.plot([0, top], [0, top], color="#999", linestyle=":")
        for scorer, (colour, label) in styles.items():
            curve = mine[mine["scorer"] == scorer].sort_values("bin")
            if not curve.empty:
                axis.plot(curve["mean_predicted"], curve["observed_rate"], marker="o", markersize=3, color=colour,
                          label=label)
        axis.set_xlim(0, top)
        axis.set_ylim(0, top)
        axis.locator_params(nbins=3)
        axis.tick_params(labelsize=7)
        axis.set_title(f"p_{head}", fontsize=9)
        axis.set_xlabel("predicted", fontsize=8)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("observed rate", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False)
    figure.tight_layout()
    return figure_svg(figure)


def convergence(trace: pd.DataFrame) -> str:
    """Relative gap between the solver's primal objective and its dual bound, per iteration."""
    figure, axis = plt.subplots(figsize=(5.2, 4.2))
    gap = np.maximum(trace["gap"].to_numpy(float), 1e-12)
    axis.semilogy(trace["iteration"], gap, marker="o" if len(trace) < 30 else None, color="#1b9e77")
    axis.set_xlabel("iteration")
    axis.set_ylabel("relative gap (bound - objective)")
    axis.set_title(f"Solver convergence: {trace['solver'].iloc[0]}")
    axis.grid(alpha=0.3, which="both")
    return figure_svg(figure)
