"""Run records (``result.json``) into one pandas DataFrame, one row per record: choices,
overrides as axes, metrics; unreadable and nested records are rows too."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from menu.record import NOT_IDENTITY, RESULT, under

LINES = "test_lines.csv"
MISSING = "-"  # a choice a record does not mention
DEFAULT = "default"  # an override a run did not make
GROUP_ORDER = ("norm", "conv", "scale", "reduce", "seq", "data", "optim", "trainer", "experiment")
#: Overrides that are not an axis of a table: the seed, and what does not change what a run
#: computes (menu.record.NOT_IDENTITY: threads, a search's rung pauses, the progress bar ...).
NOT_CONFIG = frozenset({"seed", "sweep", *NOT_IDENTITY})
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
        if kv is None or kv[0].split(".")[0] == "hydra" or under(kv[0], NOT_CONFIG):
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
    """Group choices in order, then the overrides a run made (``key=value``; an override a
    run did not make is left out of its label)."""
    parts = [str(row[a]) for a in axes if a in GROUP_ORDER]
    parts += [f"{a}={row[a]}" for a in axes if a not in GROUP_ORDER and row[a] != DEFAULT]
    return "/".join(parts) or DEFAULT


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
        if isinstance(budget, dict):  # a search's rung pause is not a budget of its own
            budget = {k: v for k, v in budget.items() if k != "rung_steps"}
        row["budget"] = json.dumps(budget, sort_keys=True) if isinstance(budget, dict) else None
        row["error"] = record.get("error")
        if record.get("stopped_by") == "rung_steps" and row["status"] == "ok":
            row["error"] = "paused at a rung of a search: no test set until it goes on"
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
