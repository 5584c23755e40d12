"""Statistics over runs: per-line bootstrap intervals, paired tests against the best
configuration, Pareto fronts, pivots (see :mod:`menu.tables`)."""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from menu.tables.load import LINES, _finished, varying_axes


def read_lines(
    run_dir: str | Path, test_cer: float | None = None, test_lines: float | None = None
) -> tuple[pd.DataFrame | None, str | None]:
    """A run's per-line errors (key, char_errors, ref_chars), or None and why not. With the
    record's ``test_cer`` and ``test_lines`` the file must agree with them: a file cut short
    (a crash, a full disk) is reported and not used."""
    path = Path(run_dir) / LINES
    if not path.is_file():
        return None, f"no {LINES}"
    try:
        lines = pd.read_csv(path, keep_default_na=False)
        errors = pd.to_numeric(lines["char_errors"], errors="raise").to_numpy(float)
        chars = pd.to_numeric(lines["ref_chars"], errors="raise").to_numpy(float)
    except (OSError, ValueError, KeyError, pd.errors.ParserError) as e:
        return None, f"unreadable {LINES} ({type(e).__name__}: {e})"
    if len(lines) == 0:
        return None, f"empty {LINES}"
    if test_lines is not None and not pd.isna(test_lines) and len(lines) != int(test_lines):
        return None, f"{LINES} has {len(lines)} lines, the record {int(test_lines)}: not used"
    if (
        test_cer is not None
        and not pd.isna(test_cer)
        and abs(errors.sum() / max(chars.sum(), 1.0) - float(test_cer)) > 1e-6
    ):
        return None, f"{LINES} does not add up to the record's test CER: not used"
    keys = lines["key"].astype(str) if "key" in lines else pd.Series([""] * len(lines))
    if "key" not in lines or keys.eq("").any() or keys.duplicated().any():
        keys = f"{path.parent}#" + pd.Series(range(len(lines))).astype(str)  # cannot be paired
    return pd.DataFrame({"key": keys.to_numpy(), "char_errors": errors, "ref_chars": chars}), None


def _rng(seed: int, *names: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(n.encode()) for n in names)])


def _resampled_cer(
    errors: np.ndarray, chars: np.ndarray, idx: np.ndarray
) -> np.ndarray:  # one CER per row of idx
    den = chars[idx].sum(axis=1)
    return np.divide(errors[idx].sum(axis=1), den, out=np.full(len(idx), np.nan), where=den > 0)


def _bootstrap(
    columns: Sequence[tuple[np.ndarray, np.ndarray]],
    resamples: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """CER of each (errors, chars) pair over the same resamples of their (aligned) lines."""
    n = len(columns[0][0])
    out = [np.empty(resamples) for _ in columns]
    chunk = max(1, min(resamples, 2_000_000 // max(1, n)))
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        for stats, (errors, chars) in zip(out, columns, strict=True):
            stats[start : start + len(idx)] = _resampled_cer(errors, chars, idx)
    return out


def bootstrap_ci(
    char_errors: Sequence[float] | np.ndarray,
    ref_chars: Sequence[float] | np.ndarray,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(CER, low, high): the corpus CER of the lines and its percentile bootstrap interval
    (lines resampled with replacement, CER = sum(char_errors) / sum(ref_chars) each time)."""
    errors, chars = np.asarray(char_errors, float), np.asarray(ref_chars, float)
    if len(errors) == 0 or chars.sum() <= 0:
        return math.nan, math.nan, math.nan
    (stats,) = _bootstrap([(errors, chars)], resamples, np.random.default_rng(seed))
    alpha = (1 - level) / 2
    low, high = np.nanquantile(stats, [alpha, 1 - alpha])
    return float(errors.sum() / chars.sum()), float(low), float(high)


def paired_bootstrap(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float, float, int]:
    """CER(b) - CER(a) on their shared line keys (frames indexed by key with char_errors and
    ref_chars): (difference, low, high, two-sided p, shared lines)."""
    shared = a.index.intersection(b.index)
    if len(shared) == 0:
        return math.nan, math.nan, math.nan, math.nan, 0
    a, b = a.loc[shared], b.loc[shared]
    cols = [(x["char_errors"].to_numpy(float), x["ref_chars"].to_numpy(float)) for x in (a, b)]
    sa, sb = _bootstrap(cols, resamples, np.random.default_rng(seed))
    diff = sb - sa
    alpha = (1 - level) / 2
    low, high = np.nanquantile(diff, [alpha, 1 - alpha])
    point = cols[1][0].sum() / cols[1][1].sum() - cols[0][0].sum() / cols[0][1].sum()
    p = min(1.0, 2 * min(np.mean(diff <= 0), np.mean(diff >= 0)))
    return float(point), float(low), float(high), float(p), len(shared)


def _pareto(x: np.ndarray, cer: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """True where no other point is at least as good on both axes and better on one."""
    x = x if higher_is_better else -x
    ok = np.isfinite(x) & np.isfinite(cer)
    front = np.zeros(len(x), bool)
    for i in np.flatnonzero(ok):
        dominated = ok & (x >= x[i]) & (cer <= cer[i]) & ((x > x[i]) | (cer < cer[i]))
        front[i] = not dominated.any()
    return front


def summarize(
    runs: pd.DataFrame, *, resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """One row per configuration of the finished runs, best (lowest mean test CER) first:
    mean/std over seeds, the pooled CER of the saved test lines with its bootstrap CI, the
    difference from the best configuration with its CI, p value, test used and verdict."""
    done = _finished(runs)
    axes = varying_axes(done)
    rows, lines = [], {}
    for config, group in done.groupby("config", sort=False):
        parts, notes = [], []
        for run_dir, cer, n in zip(
            group["run_dir"], group["test_cer"], group["test_lines"], strict=True
        ):
            part, why = read_lines(run_dir, cer, n)
            if part is None:
                notes.append(f"{Path(run_dir).name}: {why}")
            else:
                parts.append(part)
        row: dict[str, Any] = {"label": group["label"].iloc[0]}
        row.update({a: group[a].iloc[0] for a in axes})
        row.update(
            runs=len(group),
            seeds=",".join(str(s) for s in sorted(group["seed"].dropna().unique())),
            test_cer=group["test_cer"].mean(),
            test_cer_std=group["test_cer"].std(ddof=1),
            test_wer=group["test_wer"].mean(),
            val_cer=group["val_cer"].mean(),
            params=group["params"].astype(float).mean(),
            infer_lines_per_s=group["infer_lines_per_s"].mean(),
            train_seconds=group["train_seconds"].mean(),
            ci_runs=f"{len(parts)}/{len(group)}",
        )
        cer = low = high = math.nan
        if parts:
            pooled = pd.concat(parts).groupby("key", sort=True)[["char_errors", "ref_chars"]].sum()
            lines[config] = pooled
            cer, low, high = bootstrap_ci(
                pooled["char_errors"],
                pooled["ref_chars"],
                resamples=resamples,
                level=level,
                seed=int(_rng(seed, str(config)).integers(2**31)),
            )
        row.update(cer_lines=cer, ci_low=low, ci_high=high, note="; ".join(notes), config=config)
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table = table.sort_values("test_cer", kind="stable").reset_index(drop=True)
    table["vs_best"] = "no CI"
    for col in ("delta", "delta_low", "delta_high", "p_value"):
        table[col] = math.nan
    table["test"] = ""
    with_lines = table[table["config"].isin(lines)]
    if len(with_lines):
        ref = with_lines.iloc[0]
        a = lines[ref["config"]]
        for i, row in table.iterrows():
            if row["config"] not in lines:
                continue
            if row["config"] == ref["config"]:  # "reference" if the best has no test lines
                table.loc[i, ["vs_best", "delta"]] = ["best" if i == 0 else "reference", 0.0]
                continue
            b = lines[row["config"]]
            shared = len(a.index.intersection(b.index))
            if shared >= 0.5 * max(len(a), len(b)):
                rng_seed = int(_rng(seed, ref["config"], row["config"]).integers(2**31))
                d, lo, hi, p, _ = paired_bootstrap(
                    a, b, resamples=resamples, level=level, seed=rng_seed
                )
                same = lo <= 0 <= hi
                table.loc[i, ["delta", "delta_low", "delta_high", "p_value"]] = [d, lo, hi, p]
                table.loc[i, "test"] = "paired"
            else:
                table.loc[i, "delta"] = row["cer_lines"] - ref["cer_lines"]
                same = row["ci_low"] <= ref["ci_high"] and ref["ci_low"] <= row["ci_high"]
                table.loc[i, "test"] = "overlap"
            table.loc[i, "vs_best"] = "n.s." if same else "sig."
    table["pareto_speed"] = _pareto(
        table["infer_lines_per_s"].to_numpy(float), table["test_cer"].to_numpy(float), True
    )
    table["pareto_params"] = _pareto(
        table["params"].to_numpy(float), table["test_cer"].to_numpy(float), False
    )
    return table


def default_axes(runs: pd.DataFrame) -> tuple[str | None, str | None]:
    """Two axes that vary among the finished runs (rows: the one with more values); one if
    only one varies; (None, None) if none does."""
    axes = varying_axes(_finished(runs))
    if len(axes) >= 2:
        a, b = axes[:2]
        counts = _finished(runs)[[a, b]].nunique()
        return (a, b) if counts[a] >= counts[b] else (b, a)
    return (axes[0], None) if axes else (None, None)


def pivot(runs: pd.DataFrame, rows: str | None, cols: str | None = None) -> pd.DataFrame:
    """Test CER per cell over ``rows`` x ``cols`` (finished runs; neither: per configuration):
    a tidy frame with the axis values, mean, std (over runs, i.e. seeds), n, configs (distinct
    configurations in the cell) and config (the cell's configuration when it is only one)."""
    done = _finished(runs)
    keys = [k for k in (rows, cols) if k]
    if not keys:
        done = done.assign(configuration=done["label"])
        keys = ["configuration"]
    stats = done.groupby(keys, sort=True).agg(
        mean=("test_cer", "mean"),
        std=("test_cer", "std"),
        n=("test_cer", "size"),
        configs=("config", "nunique"),
        config=("config", "first"),
    )
    stats.loc[stats["configs"] > 1, "config"] = None
    return stats.reset_index()


STAT_COLUMNS = ("mean", "std", "n", "configs", "config")


def _cell(mean: float, std: float, n: int, usual_n: int) -> str:
    text = f"{mean:.4f}" if n < 2 or math.isnan(std) else f"{mean:.4f} ± {std:.4f}"
    return text + (f" (n={n})" if n != usual_n else "")


def format_pivot(stats: pd.DataFrame, configs: pd.DataFrame) -> pd.DataFrame:
    """The pivot as strings "mean ± std" (rows x cols), the best cell marked "*" and cells
    holding one configuration that is not significantly worse than the best marked "≈"."""
    keys = [c for c in stats.columns if c not in STAT_COLUMNS]
    usual_n = Counter(stats["n"]).most_common(1)[0][0]
    best = stats["mean"].idxmin()
    verdict = dict(zip(configs["config"], configs["vs_best"], strict=True))
    text = []
    for i, r in stats.iterrows():
        t = _cell(r["mean"], r["std"], int(r["n"]), usual_n)
        if i == best:
            t += " *"
        elif verdict.get(r["config"]) == "n.s.":
            t += " ≈"
        text.append(t)
    cells = stats[keys].assign(cell=text)
    if len(keys) == 1:
        return cells.set_index(keys[0]).rename(columns={"cell": "test CER"})
    return cells.pivot(index=keys[0], columns=keys[1], values="cell").fillna("")
