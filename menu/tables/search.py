"""A successive-halving or Hyperband search in tables (``search.json`` of
``hydra/sweeper=halving``): each configuration's validation CER per rung, how far it got,
the compute spent against the full-factorial sweep at the final budget, and the learning
curves; how each value of each swept key fared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from menu.record import read_result
from menu.search import promote, value_at


def read_search(sweep_dir: str | Path) -> dict[str, Any] | None:
    """The sweeper's ``search.json`` of a sweep folder, None if it has none."""
    path = Path(sweep_dir) / "search.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def values_by_rung(state: dict[str, Any]) -> dict[str, dict[int, float | None]]:
    """Each configuration's validation CER at every rung it trained to (its steps), over
    all brackets; a rung still in progress (promoted to, not finished) from the records of
    the runs that have reached it so far."""
    out: dict[str, dict[int, float | None]] = {}
    for bracket in state["brackets"]:
        for rung, values in zip(bracket["rungs"], bracket["values"], strict=False):
            for i, v in values.items():
                out.setdefault(i, {})[rung] = v
        for i, rung in in_progress(state, bracket).items():
            record = _record(state, int(i))
            if (record.get("steps") or 0) >= rung:
                out.setdefault(i, {})[rung] = value_at(record, rung)
    return out


def in_progress(state: dict[str, Any], bracket: dict[str, Any]) -> dict[str, int]:
    """The configurations promoted to a bracket's rung that is not finished yet, with its
    steps (empty when the bracket is done or has not finished its first rung)."""
    k = len(bracket["values"])
    promoted = bracket.get("promoted") or []
    if k == 0 or k >= len(bracket["rungs"]) or len(promoted) < k:
        return {}
    return {str(i): bracket["rungs"][k] for i in promoted[k - 1]}


def _record(state: dict[str, Any], i: int) -> dict[str, Any]:
    run_dir = state.get("run_dirs", {}).get(str(i))
    return (read_result(run_dir) or {}) if run_dir else {}


def labels(configurations: list[str]) -> list[str]:
    """Each configuration's overrides without those every configuration shares."""
    split = [c.split(" ") for c in configurations]
    shared = set.intersection(*(set(c) for c in split)) if len(split) > 1 else set()
    return [" ".join(o for o in c if o not in shared) or "(base)" for c in split]


def search_table(state: dict[str, Any]) -> pd.DataFrame:
    """One row per configuration, best first: the steps of the last rung it trained to, its
    validation CER at every rung it reached, and its record's test CER (Hyperband: also the
    bracket it was first drawn in)."""
    rows = []
    rungs = state["rungs"]
    by_rung = values_by_rung(state)
    first = {}
    for b, bracket in enumerate(state["brackets"]):
        for i in bracket["members"]:
            first.setdefault(i, b)
    for i, label in enumerate(labels(state["configurations"])):
        if str(i) in state.get("twins", {}):
            continue  # trained as the configuration it is the same model as (twins_table)
        reached = by_rung.get(str(i), {})
        record = _record(state, i)
        row: dict[str, Any] = {"configuration": label}
        if len(state["brackets"]) > 1:
            row["bracket"] = first.get(i)
        row["steps"] = max(reached, default=0)
        for r in rungs:
            row[f"val_cer@{r}"] = reached.get(r)
        row["test_cer"] = record.get("test_cer") if record.get("status") == "ok" else None
        row["status"] = record.get("status", "-")
        last = reached.get(row["steps"])
        row["_key"] = (-row["steps"], float("inf") if last is None else last, i)
        rows.append(row)
    table = pd.DataFrame(sorted(rows, key=lambda r: r["_key"]))
    return table.drop(columns="_key")


def rung_cpu_hours(state: dict[str, Any]) -> dict[int, float]:
    """The CPU-hours each rung's training took, from the runs' clocks at their validations
    (``val_clock``: a run's CPU-seconds up to each validation, across its resumptions)."""
    hours = dict.fromkeys(state["rungs"], 0.0)
    for i in range(len(state["configurations"])):
        clock = _record(state, i).get("val_clock") or []
        before = 0.0
        for r in state["rungs"]:
            upto = [cpu for step, _, cpu in clock if step <= r]
            if not upto:
                continue
            hours[r] += (upto[-1] - before) / 3600
            before = upto[-1]
    return hours


def compute_line(state: dict[str, Any], table: pd.DataFrame) -> str:
    """The training steps the search spent and what the full-factorial sweep of its
    configurations at the final budget would have."""
    spent = int(table["steps"].sum())  # a promoted run continues: its steps count once
    full = len(table) * state["rungs"][-1]
    kind = f"{len(state['brackets'])} Hyperband brackets, " if state.get("hyperband") else ""
    if n_twins := len(state.get("twins", {})):
        kind = f"{len(table)} models ({n_twins} the same model as another), " + kind
    unit = f" ({state['budgets']} CPU-s calibrated)" if state.get("unit") == "cpu_seconds" else ""
    by_rung = values_by_rung(state)
    going = []
    for bracket in state["brackets"]:
        promoted = in_progress(state, bracket)
        if promoted:
            rung = next(iter(promoted.values()))
            done = sum(rung in by_rung.get(i, {}) for i in promoted)
            going.append(f"; rung {rung:,} in progress: {done} of {len(promoted)} trained")
    clocks = [(_record(state, i).get("budget_used") or {}).get("cpu_seconds")
              for i in range(len(state["configurations"]))]  # fmt: skip
    cpu = sum(c for c in clocks if c is not None)
    per_rung = ", ".join(f"{r:,}: {h:.1f}" for r, h in rung_cpu_hours(state).items() if h)
    cpu_note = f" in {cpu / 3600:.1f} CPU-hours of training (by rung: {per_rung})" if cpu else ""
    return (
        f"{len(state['configurations'])} configurations, {kind}rungs {state['rungs']}{unit} "
        f"(eta {state['eta']}): "
        f"{spent:,} training steps{cpu_note}, {spent / max(full, 1):.0%} of the {full:,} of a "
        f"full factorial sweep at {state['rungs'][-1]:,} steps{''.join(going)}"
    )


def rank_agreement(state: dict[str, Any]) -> pd.DataFrame:
    """Did an early rung predict a later one? For every pair of rungs, the Spearman
    correlation of the validation CERs of the configurations that reached both (ranks
    averaged over ties), and how many of the later rung's best ``1/eta`` were among the
    earlier rung's best ``1/eta`` of the same configurations."""
    by_rung = values_by_rung(state)
    eta, rungs = state["eta"], state["rungs"]
    rows = []
    for a_i, a in enumerate(rungs):
        for b in rungs[a_i + 1 :]:
            both = {i: (v[a], v[b]) for i, v in by_rung.items()
                    if v.get(a) is not None and v.get(b) is not None}  # fmt: skip
            if len(both) < 2:
                continue
            early = pd.Series({i: x for i, (x, _) in both.items()})
            late = pd.Series({i: y for i, (_, y) in both.items()})
            top_early, top_late = set(promote(early, eta)), set(promote(late, eta))
            k = len(top_late)  # the sweeper's own rule: the best max(1, n // eta)
            rho = early.rank().corr(late.rank())  # Spearman: Pearson of the ranks
            rows.append({"rung": a, "later_rung": b, "configurations": len(both),
                         "spearman": None if pd.isna(rho) else round(float(rho), 3),
                         "top_kept": f"{len(top_early & top_late)}/{k}"})  # fmt: skip
    return pd.DataFrame(
        rows, columns=["rung", "later_rung", "configurations", "spearman", "top_kept"]
    )


def option_table(state: dict[str, Any], max_levels: int = 12) -> pd.DataFrame:
    """How each value of each swept key fared: its configurations, and per rung how many
    of them started it (drawn for it or promoted to it: ``n@rung``) and the median
    validation CER of those that have a value there (``median@rung``). A sampled numeric
    knob with more than ``max_levels`` values is shown in tertiles of its values. Twins (the
    same model as another configuration) are left out: the option did not build them."""
    by_rung = values_by_rung(state)
    started: dict[int, set[int]] = {r: set() for r in state["rungs"]}
    for bracket in state["brackets"]:
        promoted = [bracket["members"], *(bracket.get("promoted") or [])]
        for r, ids in zip(bracket["rungs"], promoted, strict=False):
            started[r].update(int(i) for i in ids)
    same = state.get("twins", {})
    parsed = {i: dict(o.split("=", 1) for o in c.split(" ") if "=" in o)
              for i, c in enumerate(state["configurations"]) if str(i) not in same}  # fmt: skip
    keys = [k for k in dict.fromkeys(k for p in parsed.values() for k in p)
            if len({p.get(k) for p in parsed.values()}) > 1]  # fmt: skip
    rows = []
    for key in keys:
        levels = pd.Series({i: p.get(key, "-") for i, p in parsed.items()})
        numbers = pd.to_numeric(levels, errors="coerce")
        if levels.nunique() > max_levels and numbers.notna().all():
            levels = pd.qcut(numbers, 3, duplicates="drop").astype(str)
        block = []
        for level, members in levels.groupby(levels).groups.items():
            row: dict[str, Any] = {"key": key, "value": level, "configurations": len(members)}
            for r in state["rungs"]:
                values = [by_rung.get(str(i), {}).get(r) for i in members]
                values = [v for v in values if v is not None]
                row[f"n@{r}"] = len(started[r] & set(members))
                row[f"median@{r}"] = float(pd.Series(values).median()) if values else None
            block.append(row)
        first = f"median@{state['rungs'][0]}"
        rows += sorted(block, key=lambda r: (r[first] is None, r[first] or 0.0, r["value"]))
    columns = ["key", "value", "configurations"]
    columns += [f"{c}@{r}" for r in state["rungs"] for c in ("n", "median")]
    table = pd.DataFrame(rows, columns=columns)
    medians = [c for c in columns if c.startswith("median@")]
    table[medians] = table[medians].astype(float)
    return table


def twins_table(state: dict[str, Any]) -> pd.DataFrame:
    """The configurations that build the same model as another, trained once as that one
    (``search.json``'s ``twins``)."""
    names = labels(state["configurations"])
    rows = [{"configuration": names[int(i)], "same_model_as": names[j]}
            for i, j in state.get("twins", {}).items()]  # fmt: skip
    return pd.DataFrame(rows, columns=["configuration", "same_model_as"])


def plot_learning_curves(state: dict[str, Any], path: Path) -> Path:
    """Validation CER against training steps, one line per configuration (from its
    record's ``val_history``), those that reached the last rung in colour."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.5), layout="tight")
    ax = fig.add_subplot()
    final = state["rungs"][-1]
    survivors = {i for i, v in values_by_rung(state).items() if final in v}
    for i, label in enumerate(labels(state["configurations"])):
        history = _record(state, i).get("val_history") or []
        if not history:
            continue
        steps, cers = zip(*history, strict=True)
        if str(i) in survivors:
            ax.plot(steps, cers, lw=2, marker="o", ms=3, label=label, zorder=3)
        else:  # a model dropped at the first rung has one point
            ax.plot(steps, cers, lw=0.8, color="0.7", marker="." if len(steps) == 1 else None,
                    ms=2, zorder=1)  # fmt: skip
    for r in state["rungs"]:
        ax.axvline(r, color="0.85", lw=0.8, ls="--", zorder=0)
    ax.set_xscale("log")
    ax.set_xticks(state["rungs"], [f"{r:,}" for r in state["rungs"]])
    ax.minorticks_off()
    ax.set_xlabel("training steps (rungs dashed)")
    ax.set_ylabel("validation CER")
    kind = "Hyperband" if state.get("hyperband") else "successive halving"
    ax.set_title(f"{kind}: learning curves (grey: stopped at an earlier rung)")
    if survivors:
        ax.legend(fontsize=7, loc="upper right")
    fig.savefig(path, dpi=120)
    return path
