"""The search's final models (and the presets) on lines menu did not generate: real scans
and renderings from outside the generator (``data/eval``, made by
experiments/transfer/eval_sets.sh), never used for training, promotion or selection.

Each run that reached the rung (default: the search's last rung; every finished run of a
folder that is not a search) reads each set with its best checkpoint (``menu.load``, as
``menu-eval`` does); every line's scores are kept in ``RUN/outside/SET.csv`` and reused
on the next call, so a new run or a new set costs only its own evaluation. The table has
one row per run: per set its CER % with a 95% bootstrap interval over the set's lines and,
paired on the same lines, its difference to the run the search ranked first by
validation CER (positive: more errors than it).

    python experiments/search/outside.py multirun/search multirun/presets \\
        --sets data/eval/uw3_500 data/eval/typography --out experiments/search/outside
    python experiments/search/outside.py multirun/search --rung 2700   # a sitting's models
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from menu.tables.stats import bootstrap_ci, paired_bootstrap

COLUMNS = ["key", "char_errors", "ref_chars"]


def runs_at(sweep: Path, rung: int | None) -> list[Path]:
    """The run folders of ``sweep`` that trained ``rung`` steps (default: the search's last
    rung; every ``ok`` run that finished its budget in a folder without search.json)."""
    state = sweep / "search.json"
    if rung is None and state.is_file():
        rung = int(json.loads(state.read_text(encoding="utf-8"))["rungs"][-1])
    runs = []
    for path in sorted(sweep.glob("*/result.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("status") != "ok":  # failed, or interrupted before its rung
            continue
        if record.get("steps") == rung if rung else record.get("stopped_by") != "rung_steps":
            runs.append(path.parent)
    return runs


def label(run: Path) -> tuple[str, int]:
    """A run's configuration (its swept choices or experiment, as in the tables) and seed."""
    record = json.loads((run / "result.json").read_text(encoding="utf-8"))
    choices = record.get("choices", {})
    if "experiment" in choices:
        name = str(choices["experiment"])
    else:
        name = "/".join(str(choices[k]) for k in ("norm", "conv", "scale", "reduce", "seq"))
    return name, int(record.get("seed", 0))


def read_set(run: Path, shards: Path) -> pd.DataFrame:
    """A run's per-line scores on a set (``RUN/outside/SET.csv``; evaluated once)."""
    cached = run / "outside" / f"{shards.name}.csv"
    if cached.is_file():
        return pd.read_csv(cached, keep_default_na=False)
    import menu

    checkpoint = run / "checkpoints" / "best.ckpt"
    if not checkpoint.is_file():
        raise SystemExit(f"{run}: no checkpoints/best.ckpt (only this machine's runs have one)")
    result = menu.load(checkpoint).evaluate(sorted(map(str, shards.glob("*.tar"))), lines=True)
    lines = pd.DataFrame(result.pop("lines"))
    cached.parent.mkdir(exist_ok=True)
    (cached.with_suffix(".json")).write_text(json.dumps(result, indent=1), encoding="utf-8")
    lines.to_csv(cached, index=False)  # last: a cut-off evaluation leaves no csv
    return lines


def first_by_validation(runs: list[Path]) -> Path:
    """The run ranked first by validation CER (the search's own choice; seed 0 breaks ties
    with its seeds)."""
    records = [json.loads((r / "result.json").read_text(encoding="utf-8")) for r in runs]
    best = min(range(len(runs)), key=lambda i: (records[i]["val_cer"], records[i]["seed"]))
    return runs[best]


def table(runs: list[Path], sets: list[Path], reference: Path) -> pd.DataFrame:
    """One row per run: val CER, then per set CER % [95% CI] and the paired difference to
    ``reference`` in points."""
    bases = {shards: read_set(reference, shards).set_index("key")[COLUMNS[1:]] for shards in sets}
    rows = []
    for run in runs:
        name, seed = label(run)
        record = json.loads((run / "result.json").read_text(encoding="utf-8"))
        row = {"configuration": name, "seed": seed, "val CER %": 100 * record["val_cer"]}
        for shards in sets:
            lines = read_set(run, shards).set_index("key")[COLUMNS[1:]]
            cer, low, high = bootstrap_ci(lines["char_errors"], lines["ref_chars"])
            row[f"{shards.name} CER %"] = round(100 * cer, 2)
            row[f"{shards.name} 95% CI"] = f"[{100 * low:.2f}, {100 * high:.2f}]"
            if run != reference:
                diff, dlow, dhigh, p, _ = paired_bootstrap(bases[shards], lines)
                row[f"{shards.name} vs first"] = (
                    f"{100 * diff:+.2f} [{100 * dlow:+.2f}, {100 * dhigh:+.2f}] p={p:.3f}"
                )
            else:
                row[f"{shards.name} vs first"] = "(first by validation)"
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["val CER %", "seed"]).reset_index(drop=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("sweeps", nargs="+", type=Path, help="the search folder first, then others")
    p.add_argument("--sets", nargs="+", type=Path, default=[Path("data/eval/uw3_500"),
                   Path("data/eval/typography")], help="folders of test-*.tar shards")  # fmt: skip
    p.add_argument("--rung", type=int, help="the search's runs at this many steps")
    p.add_argument("--out", type=Path, default=Path("experiments/search/outside"))
    args = p.parse_args()
    for shards in args.sets:
        if not any(shards.glob("*.tar")):
            raise SystemExit(f"{shards}: no shards (experiments/transfer/eval_sets.sh makes them)")
    search = runs_at(args.sweeps[0], args.rung)
    if not search:
        raise SystemExit(f"{args.sweeps[0]}: no run at that rung yet")
    others = [r for sweep in args.sweeps[1:] for r in runs_at(sweep, None)]
    result = table(search + others, args.sets, first_by_validation(search))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(args.out.with_suffix(".csv"), index=False)
    args.out.with_suffix(".md").write_text(result.to_markdown(index=False, floatfmt=".2f") + "\n")
    print(result.to_string(index=False))


if __name__ == "__main__":
    main()
