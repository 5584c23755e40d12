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

from menu.tables.load import DEFAULT, GROUP_ORDER, MISSING, load_runs
from menu.tables.stats import bootstrap_ci, paired_bootstrap

COLUMNS = ["key", "char_errors", "ref_chars"]


def runs_at(sweep: Path, rung: int | None) -> pd.DataFrame:
    """The runs of ``sweep`` (``menu.tables.load_runs`` rows) that trained ``rung`` steps
    (default: the search's last rung; every finished run of a folder without search.json)."""
    state = sweep / "search.json"
    if rung is None and state.is_file():
        rung = int(json.loads(state.read_text(encoding="utf-8"))["rungs"][-1])
    runs = load_runs([sweep])
    runs = runs[runs["status"] == "ok"]  # not failed, nor interrupted before its rung
    at = runs["steps"] == rung if rung else runs["test_cer"].notna()
    runs = runs[at].sort_values("run_dir").reset_index(drop=True)
    runs["configuration"] = [configuration(row) for _, row in runs.iterrows()]
    return runs


def configuration(run: pd.Series) -> str:
    """A run's name in the table: its experiment (a preset), else its five choices."""
    if run.get("experiment", MISSING) not in (MISSING, DEFAULT):
        return str(run["experiment"])
    return "/".join(str(run.get(g, MISSING)) for g in GROUP_ORDER[:5])


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


def first_by_validation(runs: pd.DataFrame) -> Path:
    """The run ranked first by validation CER (the search's own choice; seed 0 breaks ties
    with its seeds)."""
    return Path(runs.sort_values(["val_cer", "seed"]).iloc[0]["run_dir"])


def table(runs: pd.DataFrame, sets: list[Path], reference: Path) -> pd.DataFrame:
    """One row per run: val CER, then per set CER % [95% CI] and the paired difference to
    ``reference`` in points."""
    bases = {shards: read_set(reference, shards).set_index("key")[COLUMNS[1:]] for shards in sets}
    rows = []
    for run in runs.itertuples():
        row = {"configuration": run.configuration, "seed": run.seed, "val CER %": 100 * run.val_cer}
        row["test CER %"] = round(100 * run.test_cer, 2)
        for shards in sets:
            lines = read_set(Path(run.run_dir), shards).set_index("key")[COLUMNS[1:]]
            cer, low, high = bootstrap_ci(lines["char_errors"], lines["ref_chars"])
            row[f"{shards.name} CER %"] = round(100 * cer, 2)
            row[f"{shards.name} 95% CI"] = f"[{100 * low:.2f}, {100 * high:.2f}]"
            if Path(run.run_dir) != reference:
                diff, dlow, dhigh, p, _ = paired_bootstrap(bases[shards], lines)
                row[f"{shards.name} vs first"] = (
                    f"{100 * diff:+.2f} [{100 * dlow:+.2f}, {100 * dhigh:+.2f}] p={p:.3f}"
                )
            else:
                row[f"{shards.name} vs first"] = "(first by validation)"
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["val CER %", "seed"]).reset_index(drop=True)


def agreement(result: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlation of the validation CER (generated lines: what the search ranked
    by) with the test CER and each outside set's CER, over the rows given."""
    columns = [c for c in result if c.endswith(" CER %") and c != "val CER %"]
    rho = [result["val CER %"].corr(result[c], method="spearman") for c in columns]
    return pd.DataFrame({"CER": columns, "runs": len(result), "spearman with val CER": rho})


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
    if search.empty:
        raise SystemExit(f"{args.sweeps[0]}: no run at that rung yet")
    runs = pd.concat([search] + [runs_at(sweep, None) for sweep in args.sweeps[1:]])
    result = table(runs, args.sets, first_by_validation(search))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(args.out.with_suffix(".csv"), index=False)
    args.out.with_suffix(".md").write_text(result.to_markdown(index=False, floatfmt=".2f") + "\n")
    ranks = agreement(result[result["configuration"].isin(search["configuration"])
                             & (result["seed"] == 0)])  # fmt: skip
    args.out.with_name(args.out.name + "_ranks.md").write_text(
        ranks.to_markdown(index=False, floatfmt=".3f") + "\n"
    )
    print(result.to_string(index=False))
    print(ranks.to_string(index=False))


if __name__ == "__main__":
    main()
