"""The printed report and the written tables (CSV, Markdown, LaTeX) of a sweep:
:func:`aggregate`, what ``menu-table`` and the end of a multirun call."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from menu.tables.load import _finished, axis_columns, load_runs, varying_axes
from menu.tables.plots import plot_heatmap, plot_pareto
from menu.tables.search import (
    compute_line,
    option_table,
    plot_learning_curves,
    rank_agreement,
    read_search,
    search_table,
    twins_table,
)
from menu.tables.stats import default_axes, format_pivot, pivot, summarize

SHOWN = {  # display names of the numeric columns in printed / md / tex tables
    "test_cer": "test CER",
    "test_cer_std": "std",
    "test_wer": "test WER",
    "val_cer": "val CER",
    "params": "params",
    "infer_lines_per_s": "lines/s",
    "train_seconds": "train s",
    "ci_low": "CI low",
    "ci_high": "CI high",
    "vs_best": "vs best",
    "p_value": "p",
}
NUMBER = re.compile(r"^[<>]?-?[\d,]*\.?\d+")


def _budget_line(runs: pd.DataFrame) -> str:
    done = runs[runs["status"] == "ok"]
    budgets = Counter(b for b in done["budget"] if isinstance(b, str))
    missing = int(done["budget"].isna().sum())
    tail = f" ({missing} finished run(s) record no budget)" if missing else ""
    if not budgets:
        return "budget: not recorded" + tail

    def show(b: str) -> str:
        d = json.loads(b)
        keys = ["max_epochs", "max_steps", "max_seconds"]
        keys += [k for k in d if k not in keys and d[k] is not None]
        return ", ".join(f"{k}={d.get(k)}" for k in keys)

    if len(budgets) == 1:
        return f"budget: {show(next(iter(budgets)))}{tail}"
    lines = [f"WARNING: runs differ in budget, comparisons are not fair{tail}:"]
    lines += [f"  {n} run(s): {show(b)}" for b, n in budgets.most_common()]
    return "\n".join(lines)


def _fmt(df: pd.DataFrame, resamples: int = 1000) -> pd.DataFrame:
    """Rounded strings for printing, Markdown and LaTeX."""
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if c in ("params", "steps"):
            out[c] = [f"{v:,.0f}" if pd.notna(v) else "" for v in s]
        elif c in ("infer_lines_per_s", "train_seconds"):
            out[c] = [f"{v:.1f}" if pd.notna(v) else "" for v in s]
        elif c == "p_value":  # no resample on the other side: p < 2 / resamples
            low = f"<{2 / resamples:.2g}"
            out[c] = ["" if pd.isna(v) else f"{v:.3f}" if v > 0 else low for v in s]
        elif pd.api.types.is_float_dtype(s):
            out[c] = [f"{v:.4f}" if pd.notna(v) else "" for v in s]
        else:
            out[c] = [str(v) if pd.notna(v) else "" for v in s]
    return out.rename(columns=SHOWN)


def _latex(df: pd.DataFrame, index: bool) -> str:
    text = df.to_latex(index=index, escape=True)
    return text.replace("±", r"$\pm$").replace("≈", r"$\approx$")


def _write(out: Path, name: str, raw: pd.DataFrame, shown: pd.DataFrame, index: bool) -> list:
    paths = [out / f"{name}.csv", out / f"{name}.md", out / f"{name}.tex"]
    raw.to_csv(paths[0], index=index)
    paths[1].write_text(_markdown(shown, index) + "\n", encoding="utf-8")
    paths[2].write_text(_latex(shown, index), encoding="utf-8")
    return paths


def _markdown(df: pd.DataFrame, index: bool, tablefmt: str = "pipe") -> str:
    """Markdown of a frame of strings, as given (no re-parsing), numbers right-aligned."""
    numeric = [
        bool(df[c].ne("").any()) and all(NUMBER.match(str(v)) for v in df[c] if v != "")
        for c in df.columns
    ]
    align = ["left"] * index + ["right" if n else "left" for n in numeric]
    return df.to_markdown(index=index, tablefmt=tablefmt, disable_numparse=True, colalign=align)


def _show(df: pd.DataFrame, index: bool = False) -> str:
    return _markdown(df, index, "simple") if len(df) else "(none)"


def aggregate(
    dirs: Sequence[str | Path],
    out: str | Path | None = None,
    rows: str | None = None,
    cols: str | None = None,
    quiet: bool = False,
    *,
    where: dict[str, str] | None = None,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    plots: bool = True,
) -> dict[str, Any]:
    """Collect the runs under ``dirs``, print the report (unless ``quiet``) and write the
    tables (CSV, Markdown, LaTeX) and plots (PNG) to ``out`` (default ``dirs[0]/table``).

    ``rows``/``cols``: pivot axes (default: the axes that vary); ``where``: keep only runs
    with these axis values. Returns {"runs", "configs", "pivot": DataFrames, "report": str,
    "out": Path, "files": [Path]}. Raises ValueError for an unknown axis."""
    dirs = [Path(d) for d in dirs]
    runs = load_runs(dirs)
    axes = axis_columns(runs)
    for k, v in (where or {}).items():
        if k not in axes:
            raise ValueError(f"unknown axis {k!r} in where; axes: {', '.join(axes) or 'none'}")
        runs = runs[(runs[k] == v) | (runs["status"] == "unreadable")]
    for a in (rows, cols):
        if a is not None and a not in axes:
            raise ValueError(f"unknown axis {a!r}; axes: {', '.join(axes) or 'none'}")
    if rows is not None and rows == cols:
        raise ValueError("rows and cols must be different axes")
    if rows is None and cols is None:
        rows, cols = default_axes(runs)
    elif rows is None or cols is None:
        given = rows or cols
        others = [a for a in varying_axes(_finished(runs)) if a != given]
        rows, cols = given, (others[0] if others else None)
    out = Path(out) if out is not None else dirs[0] / "table"
    files: list[Path] = []
    report: list[str] = []

    counts = Counter(runs["status"])
    where_text = f" where {', '.join(f'{k}={v}' for k, v in where.items())}" if where else ""
    report.append(
        f"{len(runs)} result.json under {', '.join(map(str, dirs))}{where_text}: "
        + ", ".join(f"{n} {s}" for s, n in counts.most_common())
    )
    if runs.empty:
        report.append("nothing to aggregate")
        text = "\n".join(report)
        if not quiet:
            print(text)
        return {
            "runs": runs,
            "configs": pd.DataFrame(),
            "pivot": pd.DataFrame(),
            "report": text,
            "out": out,
            "files": files,
        }
    out.mkdir(parents=True, exist_ok=True)
    report.append(_budget_line(runs))

    readable = runs[runs["status"] != "unreadable"]
    shown_axes = varying_axes(readable)
    run_cols = [
        "run",
        "status",
        *shown_axes,
        "seed",
        "test_cer",
        "test_wer",
        "val_cer",
        "steps",
        "params",
        "infer_lines_per_s",
        "train_seconds",
    ]
    report += ["", "== runs ==", _show(_fmt(readable[run_cols]))]
    files += _write(out, "runs", runs.drop(columns=["config"]), _fmt(readable[run_cols]), False)

    configs = summarize(runs, resamples=resamples, level=level, seed=seed)
    stats = pivot(runs, rows, cols) if not configs.empty else pd.DataFrame()
    if not stats.empty:
        table = format_pivot(stats, configs)
        over = " x ".join(k for k in (rows, cols) if k) or "configuration"
        report += ["", f"== test CER over {over}: mean ± std over seeds ==", _show(table, True)]
        usual = Counter(stats["n"]).most_common(1)[0][0]
        legend = f"* best cell; ≈ not significantly different from the best ({level:.0%}); "
        legend += f"n={usual} runs per cell unless shown"
        pooled = [a for a in varying_axes(_finished(runs)) if a not in (rows, cols)]
        if pooled and (stats["configs"] > 1).any():
            legend += f"; cells pool over {', '.join(pooled)} (no ≈ marks)"
        report.append(legend)
        files += _write(out, "pivot", table, table, True)
        stats.to_csv(out / "pivot_values.csv", index=False)
        files.append(out / "pivot_values.csv")

        conf_cols = [
            "label",
            "runs",
            "test_cer",
            "test_cer_std",
            "ci_low",
            "ci_high",
            "vs_best",
            "delta",
            "p_value",
            "test",
            "test_wer",
            "params",
            "infer_lines_per_s",
            "train_seconds",
        ]
        report += [
            "",
            f"== configurations: {level:.0%} CI by bootstrap over test lines "
            f"({resamples} resamples, seeds pooled, seed {seed}) ==",
            _show(_fmt(configs[conf_cols], resamples)),
            "vs_best: paired bootstrap of the CER difference on shared test lines (test=paired) "
            "or CI overlap (test=overlap); n.s. = not significant",
        ]
        for _, c in configs[configs["note"] != ""].iterrows():
            what = (
                "no CI"
                if c["vs_best"] == "no CI"
                else f"CI from {c['ci_runs']} runs, around their pooled CER {c['cer_lines']:.4f}"
            )
            report.append(f"{c['label']}: {what} ({c['note']})")
        files += _write(out, "configs", configs, _fmt(configs[conf_cols], resamples), False)
        if plots:
            title = f"test CER over {over}\n(mean ± std over seeds, best outlined)"
            files.append(plot_heatmap(stats, out / "heatmap.png", title))
            files.append(plot_pareto(configs, out / "pareto.png"))
    else:
        report += ["", "no finished run with a test CER: no pivot, no comparison"]

    for d in dirs:  # a successive-halving search (hydra/sweeper=halving)
        if (state := read_search(d)) is not None:
            table = search_table(state)
            report += ["", f"== search {d}: validation CER per rung ==", _show(_fmt(table))]
            report.append(compute_line(state, table))
            report.append(
                "(the tables above mix budgets: a run stopped at an early rung "
                "trained fewer steps; rank by the rung table)"
            )
            files += _write(out, "search", table, _fmt(table), False)
            agreement = rank_agreement(state)
            if not agreement.empty:
                shown = agreement.astype(object).where(agreement.notna(), "-").astype(str)
                report += ["", "rank agreement between rungs (Spearman over the configurations "
                           "that reached both; top_kept: the later rung's best 1/eta among "
                           "the earlier rung's)", _show(shown)]  # fmt: skip
                files += _write(out, "search_ranks", agreement, shown, False)
            same = twins_table(state)
            if not same.empty:
                report += ["", f"{len(same)} configuration(s) build the same model as another "
                           "and were trained once, as that one (twins.md)"]  # fmt: skip
                files += _write(out, "twins", same, same, False)
            options = option_table(state)
            if not options.empty:
                report += ["", "by option (n@rung: configurations drawn for or promoted to "
                           "the rung; median@rung: their median validation CER there)",
                           _show(_fmt(options))]  # fmt: skip
                files += _write(out, "search_options", options, _fmt(options), False)
            if plots:
                files.append(plot_learning_curves(state, out / "learning_curves.png"))
    problems = runs[(runs["status"] != "ok") | runs["test_cer"].isna()].copy()
    paused = problems["error"].fillna("").str.startswith("paused at a rung")
    if paused.any():  # the search table above has them
        report += ["", f"{int(paused.sum())} run(s) paused at a rung of a search (no test set)"]
        problems = problems[~paused]
    unexplained = (problems["status"] == "ok") & problems["error"].isna()
    problems.loc[unexplained, "error"] = "finished without test_cer"
    running = problems["status"] == "running"
    problems.loc[running, "error"] = "still running (or killed) since " + problems.loc[
        running, "started"
    ].fillna("?").astype(str)
    prob_cols = ["run", "status", "label", "seed", "error"]
    shown = _fmt(problems[prob_cols])
    shown["error"] = [e.splitlines()[0][:100] if e else "" for e in shown["error"]]
    report += ["", "== failed / running / unreadable ==", _show(shown)]
    files += _write(out, "problems", problems[prob_cols], _fmt(problems[prob_cols]), False)
    report += ["", f"wrote {len(files) + 1} files to {out}"]
    text = "\n".join(report)
    (out / "report.txt").write_text(text + "\n", encoding="utf-8")
    files.append(out / "report.txt")
    if not quiet:
        print(text)
    return {
        "runs": runs,
        "configs": configs,
        "pivot": stats,
        "report": text,
        "out": out,
        "files": files,
    }
