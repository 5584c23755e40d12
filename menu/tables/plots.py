"""The sweep's plots: a CER heatmap of the pivot and Pareto fronts of CER against speed
and size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from menu.tables.stats import STAT_COLUMNS


def plot_heatmap(stats: pd.DataFrame, path: Path, title: str = "test CER") -> Path:
    """The pivot's mean test CER as a heatmap (cells annotated mean ± std, best outlined)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    keys = [c for c in stats.columns if c not in STAT_COLUMNS]
    if len(keys) == 1:
        stats = stats.assign(_col="test CER")
        keys = [keys[0], "_col"]
    mean = stats.pivot(index=keys[0], columns=keys[1], values="mean")
    std = stats.pivot(index=keys[0], columns=keys[1], values="std")
    n = stats.pivot(index=keys[0], columns=keys[1], values="n")
    values = np.ma.masked_invalid(mean.to_numpy(float))
    fig = Figure(figsize=(2.0 + 1.7 * mean.shape[1], 1.6 + 0.8 * mean.shape[0]), layout="tight")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="RdYlGn_r", aspect="auto")
    fig.colorbar(image, ax=ax, label="test CER (mean over seeds)")
    ax.set_xticks(range(mean.shape[1]), [str(c) for c in mean.columns])
    ax.set_yticks(range(mean.shape[0]), [str(r) for r in mean.index])
    ax.set_xlabel("" if keys[1] == "_col" else keys[1])
    ax.set_ylabel(keys[0])
    best = np.unravel_index(np.nanargmin(mean.to_numpy(float)), mean.shape)
    for (i, j), m in np.ndenumerate(mean.to_numpy(float)):
        if np.isnan(m):
            ax.text(j, i, "no run", ha="center", va="center", fontsize=8, color="gray")
            continue
        s = std.iat[i, j]
        t = f"{m:.4f}" + (f"\n± {s:.4f}" if n.iat[i, j] > 1 and not np.isnan(s) else "")
        is_best = (i, j) == best
        t += "\n(best)" if is_best else ""
        weight = "bold" if is_best else "normal"
        color = "white" if abs(image.norm(m) - 0.5) > 0.3 else "black"  # dark ends of the map
        ax.text(j, i, t, ha="center", va="center", fontsize=9, fontweight=weight, color=color)
    ax.add_patch(
        Rectangle((best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False, edgecolor="black", lw=3)
    )
    ax.set_title(title)
    fig.savefig(path, dpi=120)
    return path


def plot_pareto(configs: pd.DataFrame, path: Path) -> Path:
    """Two panels: test CER against inference lines/s and against parameters, one point per
    configuration (bars: bootstrap CI), Pareto front highlighted, best starred."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(12, 5), layout="tight")
    panels = (
        ("infer_lines_per_s", "pareto_speed", "inference speed (lines/s)  → better"),
        ("params", "pareto_params", "parameters  ← better"),
    )
    for k, (x_col, front_col, xlabel) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        d = configs[np.isfinite(configs[x_col].astype(float))]
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test CER (mean over seeds)")
        if d.empty:
            ax.text(0.5, 0.5, f"no {x_col} recorded", ha="center", transform=ax.transAxes)
            continue
        x, y = d[x_col].to_numpy(float), d["test_cer"].to_numpy(float)
        lo = np.nan_to_num(np.clip(y - d["ci_low"].to_numpy(float), 0, None))
        hi = np.nan_to_num(np.clip(d["ci_high"].to_numpy(float) - y, 0, None))
        ax.errorbar(
            x,
            y,
            yerr=[lo, hi],
            fmt="o",
            color="0.55",
            ecolor="0.75",
            capsize=3,
            label="configuration (bars: bootstrap CI)",
        )
        front = d[front_col].to_numpy(bool)
        order = np.argsort(x[front])
        ax.plot(
            x[front][order],
            y[front][order],
            "-o",
            color="tab:red",
            ms=8,
            lw=2,
            label="Pareto front",
        )
        b = int(np.argmin(y))
        ax.plot(x[b], y[b], "*", color="gold", mec="black", ms=13, label="best CER", zorder=5)
        for rank, i in enumerate(np.argsort(x, kind="stable")):  # alternate above / below
            ax.annotate(
                d["label"].iat[i],
                (x[i], y[i]),
                xytext=(7, 6 if rank % 2 == 0 else -13),
                textcoords="offset points",
                fontsize=8,
                color="tab:red" if front[i] else "0.3",
            )
        if x.min() > 0 and x.max() / x.min() > 20:
            ax.set_xscale("log")
        if x_col == "params":
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1e6:g}M"))
        ax.margins(x=0.15, y=0.1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(
        "test CER against speed and size (Pareto front: nothing both faster/smaller "
        "and more accurate)"
    )
    fig.savefig(path, dpi=120)
    return path
