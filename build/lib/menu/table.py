"""Sweep tables: collect run records (``result.json``) into pandas and compare configurations.

``load_runs`` reads every ``result.json`` under some folders into a DataFrame, one row per
record; an unreadable or partial record becomes a row with status ``unreadable`` (and a run
nested inside another run, e.g. ``RUN/reproduce/``, a row with status ``nested``), so nothing
is dropped silently. ``aggregate`` prints and writes (CSV, Markdown, LaTeX, PNG):

* ``runs``: every run (choices, CER, WER, parameters, lines/s, training time, status);
* ``pivot``: test CER over two axes, mean ± std over runs (seeds) per cell, best cell marked;
* ``configs``: one row per configuration with a bootstrap CI and a test against the best;
* ``problems``: failed, running, unreadable and nested runs, with their errors;
* ``heatmap.png`` (the pivot) and ``pareto.png`` (CER against lines/s and parameters).

Statistics (what the marks mean):

* A *configuration* is a run's choices plus its overrides other than ``seed=`` (and keys that
  do not change the experiment: name, sweep, threads, data.workers, force, hydra.*), so runs
  that differ only in seed are pooled.
* CI of a configuration's CER: percentile bootstrap over test lines. Its runs' per-line errors
  (``test_lines.csv``) are summed per line key across seeds, lines are resampled with
  replacement and CER = sum(char_errors) / sum(ref_chars) in each resample. It measures the
  test-set sampling error of these trained models, not the seed variance (the std shows that).
* Against the best configuration (lowest mean test CER among those with per-line errors): a
  paired bootstrap of the CER difference, resampling the same line keys for both, when the two
  share at least half of each one's line keys; the difference is *not significant* ("n.s.",
  "≈" in the pivot) when its CI contains 0. Otherwise the overlap rule: not significant when
  the two CIs overlap (conservative: it misses some real differences).
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from menu.record import RESULT

LINES = "test_lines.csv"
MISSING = "-"  # a choice a record does not mention
DEFAULT = "default"  # an override a run did not make
GROUP_ORDER = ("norm", "conv", "scale", "reduce", "seq", "data", "optim", "trainer", "experiment")
NOT_CONFIG = frozenset(
    {"seed", "name", "sweep", "threads", "data.workers", "force", "isolate", "job_timeout"}
)
METRICS = (
    "val_cer",
    "test_cer",
    "test_wer",
    "test_lines",
    "params",
    "downsampling",
    "train_seconds",
    "train_lines_per_s",
    "infer_lines_per_s",
    "epochs",
    "steps",
    "wall_seconds",
    "cpu_seconds",
)
INTEGERS = ("test_lines", "params", "epochs", "steps")
INFO = ("run", "status", "seed", "label", "config", "budget", "error", "started", "run_dir")
FIXED = frozenset(INFO) | frozenset(METRICS)
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


# ---------------------------------------------------------------------------------- loading
def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _split_override(text: str) -> tuple[str, str] | None:
    """``key=value`` (``+``/``++`` stripped, ``group@pkg`` reduced to ``group``)."""
    text = text.strip()
    if text.startswith("~"):
        return text[1:].split("=", 1)[0].split("@", 1)[0], "<deleted>"
    text = text.lstrip("+")
    if "=" not in text:
        return None
    key, value = text.split("=", 1)
    return key.split("@", 1)[0].strip(), value.strip()


def _axis_name(key: str) -> str:
    return f"{key}_" if key in FIXED else key


def _axes_of(record: dict) -> dict[str, str]:
    """The configuration of a record: its choices plus non-seed overrides (axis -> value)."""
    axes: dict[str, str] = {}
    choices = record.get("choices")
    if isinstance(choices, dict):
        for k, v in choices.items():
            if v is not None:
                axes[_axis_name(str(k))] = str(v)
    overrides = record.get("overrides")
    for text in overrides if isinstance(overrides, list) else []:
        kv = _split_override(str(text))
        if kv is None or kv[0] in NOT_CONFIG or kv[0].split(".")[0] == "hydra":
            continue
        axes.setdefault(_axis_name(kv[0]), kv[1])
    return axes


def _seed_of(record: dict) -> float:
    seed = _number(record.get("seed"))
    if math.isnan(seed):
        for text in record.get("overrides") or []:
            kv = _split_override(str(text))
            if kv and kv[0] == "seed":
                try:
                    return float(int(kv[1]))
                except ValueError:
                    pass
    return seed


def find_results(dirs: Iterable[str | Path]) -> list[tuple[Path, Path]]:
    """(root, path) of every ``result.json`` under ``dirs`` (recursively), without duplicates."""
    found, seen = [], set()
    for d in dirs:
        root = Path(d)
        if root.is_file():
            root, paths = root.parent, [root]
        elif root.is_dir():
            paths = sorted(root.rglob(RESULT))
        else:
            raise FileNotFoundError(f"{root}: no such folder")
        for p in paths:
            if (key := p.resolve()) not in seen:
                seen.add(key)
                found.append((root, p))
    return found


def _nested_in(path: Path, root: Path) -> Path | None:
    """The run folder (at or below ``root``) that encloses the run at ``path``, if any."""
    for anc in path.parent.parents:
        if len(anc.parts) < len(root.parts):
            break
        if (anc / RESULT).is_file():
            return anc
        if anc == root:
            break
    return None


def _axis_order(names: Iterable[str]) -> list[str]:
    names = set(names)
    groups = [g for g in GROUP_ORDER if g in names]
    plain = sorted(n for n in names if n not in GROUP_ORDER and "." not in n)
    return groups + plain + sorted(n for n in names if "." in n)


def axis_columns(runs: pd.DataFrame) -> list[str]:
    """The configuration axes of a runs table (choice groups first, then overrides)."""
    return [c for c in runs.columns if c not in FIXED]


def varying_axes(runs: pd.DataFrame) -> list[str]:
    """Axes that take more than one value among the given runs."""
    return [a for a in axis_columns(runs) if runs[a].nunique() > 1]


def _label(row: pd.Series, axes: Sequence[str]) -> str:
    parts = [str(row[a]) if a in GROUP_ORDER else f"{a}={row[a]}" for a in axes]
    return "/".join(parts)


def load_runs(dirs: Iterable[str | Path]) -> pd.DataFrame:
    """Every ``result.json`` under ``dirs`` as one row: run, status, seed, label, config,
    budget, error, started, run_dir, the metrics, and one column per configuration axis
    (choices not recorded: ``"-"``, overrides not made: ``"default"``). Unreadable records have
    status ``unreadable``; runs inside another run's folder status ``nested``."""
    dirs = list(dirs)
    rows, axes_seen, from_choices = [], set(), set()
    for root, path in find_results(dirs):
        rel = path.parent.relative_to(root).as_posix()
        name = root.resolve().name if rel == "." else rel
        if len(dirs) > 1 and rel != ".":
            name = f"{root.resolve().name}/{rel}"
        row: dict[str, Any] = {"run": name, "run_dir": str(path.parent)}
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict):
                raise ValueError(f"not a JSON object but {type(record).__name__}")
        except (OSError, ValueError) as e:
            row.update(status="unreadable", error=f"{type(e).__name__}: {e}")
            rows.append(row)
            continue
        axes = _axes_of(record)
        axes_seen.update(axes)
        if isinstance(record.get("choices"), dict):
            from_choices.update(_axis_name(str(k)) for k in record["choices"])
        row.update(axes)
        row["status"] = str(record.get("status") or "unknown")
        row["seed"] = _seed_of(record)
        for m in METRICS:
            row[m] = _number(record.get(m))
        budget = record.get("budget")
        row["budget"] = json.dumps(budget, sort_keys=True) if isinstance(budget, dict) else None
        row["error"] = record.get("error")
        row["started"] = record.get("started")
        if (outer := _nested_in(path, root)) is not None:
            row["status"] = "nested"
            row["error"] = f"inside run {outer} (e.g. a reproduce/ rerun): not pooled"
        rows.append(row)

    axes = _axis_order(axes_seen | from_choices)
    columns = ["run", "status", "seed", "label", *axes, *METRICS]
    columns += ["budget", "error", "started", "config", "run_dir"]
    df = pd.DataFrame(rows).reindex(columns=columns)
    for a in axes:  # an override not given is the default; a choice not recorded unknown
        df[a] = df[a].astype(object).fillna(MISSING if a in from_choices else DEFAULT).astype(str)
    df["seed"] = df["seed"].astype(float).round().astype("Int64")
    for m in METRICS:
        df[m] = (
            df[m].astype(float).round().astype("Int64") if m in INTEGERS else df[m].astype(float)
        )
    readable = ~df["status"].isin(["unreadable"])
    df["config"] = df[axes].apply(lambda r: ";".join(f"{a}={r[a]}" for a in axes), axis=1)
    df.loc[~readable, "config"] = None
    shown = varying_axes(df[readable]) or [a for a in axes if a in GROUP_ORDER[:5]]
    df["label"] = df.apply(lambda r: _label(r, shown), axis=1) if len(df) else []
    df.loc[~readable, "label"] = MISSING
    return df


def _finished(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that finished and recorded a test CER."""
    return runs[(runs["status"] == "ok") & runs["test_cer"].notna()]


# ------------------------------------------------------------------------------ statistics
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


# --------------------------------------------------------------------------------- output
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

    problems = runs[(runs["status"] != "ok") | runs["test_cer"].isna()].copy()
    problems.loc[problems["status"] == "ok", "error"] = "finished without test_cer"
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
