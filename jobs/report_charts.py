"""The report's charts: pandas frames in, PNG bytes (base64, ready for an <img> data URI) out.

Matplotlib's Agg backend draws without a display, so the nightly job can render on any worker.
Each chart takes exactly the audit table it shows, so the page and the tables never disagree.
"""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from allocation.metrics import lorenz_curve  # noqa: E402

COLOURS = {"user_side": "#d95f02", "creator_linear": "#7570b3", "fairshot": "#1b9e77"}
LABELS = {"user_side": "user-side top-k of the candidates", "creator_linear": "creator-side, linear (no floors)",
          "fairshot": "fairshot"}
SIZE_BUCKETS = ((0, 1, "0"), (1, 10, "1-9"), (10, 100, "10-99"), (100, 1000, "100-999"), (1000, np.inf, "1000+"))


def _png(figure: plt.Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


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
    return _png(figure)


def trade_off(policies: pd.DataFrame) -> str:
    """User value kept against creator outcomes, along the creator-weight sweep."""
    sweep = policies[policies["policy"].str.startswith("fairshot_w=")].sort_values("creator_weight")
    main = policies[policies["policy"].isin(COLOURS)]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for axis, column, title in ((axes[0], "happiness_gain", "total creator happiness gain"),
                                (axes[1], "creators_with_like_share", "creators with a like (expected share)")):
        axis.plot(sweep["user_value_kept"] * 100, sweep[column], color="#1b9e77", marker="o", alpha=0.6,
                  label="fairshot, creator weight sweep")
        for row in sweep.itertuples():
            label = "w=0 (floors only)" if row.creator_weight == 0 else f"w={row.creator_weight:g}"
            axis.annotate(label, (row.user_value_kept * 100, getattr(row, column)),
                          fontsize=7, xytext=(3, 3), textcoords="offset points")
        for row in main.itertuples():
            axis.scatter(row.user_value_kept * 100, getattr(row, column), s=70, color=COLOURS[row.policy],
                         edgecolor="black", zorder=3, label=LABELS[row.policy])
        axis.set_xlabel("user value kept (% of the user-side baseline)")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[1].yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    axes[0].legend(fontsize=8)
    return _png(figure)


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
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3, axis="y")
    return _png(figure)


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
    return _png(figure)


def convergence(trace: pd.DataFrame) -> str:
    """Relative gap between the solver's primal objective and its dual bound, per iteration."""
    figure, axis = plt.subplots(figsize=(5.2, 4.2))
    gap = np.maximum(trace["gap"].to_numpy(float), 1e-12)
    axis.semilogy(trace["iteration"], gap, marker="o" if len(trace) < 30 else None, color="#1b9e77")
    axis.set_xlabel("iteration")
    axis.set_ylabel("relative gap (bound - objective)")
    axis.set_title(f"Solver convergence: {trace['solver'].iloc[0]}")
    axis.grid(alpha=0.3, which="both")
    return _png(figure)
