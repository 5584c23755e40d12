"""The ablation as one Markdown table: each run's CER on both evaluation sets -- the real
scans it was tested on (``RUN/test_lines.csv``) and the typography lines ``menu-eval
--lines`` read afterwards (``RUN/typography_lines.csv``) -- with bootstrap intervals over
lines and the paired difference to the ``full`` generator on the same lines.

    python experiments/transfer/summary.py multirun/transfer_ablation
    python experiments/transfer/summary.py --pair BEFORE.csv AFTER.csv   # two per-line files
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from menu.tables.stats import bootstrap_ci, paired_bootstrap

#: column label -> the per-line file of a run
SETS = {"uw3_500 (real scans)": "test_lines.csv", "typography": "typography_lines.csv"}


def arm(run: Path) -> str:
    """The ablate option a run chose (its ``+ablate=...`` override)."""
    record = json.loads((run / "result.json").read_text(encoding="utf-8"))
    return str(record.get("choices", {}).get("ablate", run.name))


def _lines(path: Path) -> pd.DataFrame | None:
    """A run's per-line scores indexed by line key (None: that set was not read)."""
    return pd.read_csv(path, keep_default_na=False).set_index("key") if path.exists() else None


def _cell(frame: pd.DataFrame, base: pd.DataFrame | None) -> tuple[str, str, float]:
    cer, low, high = bootstrap_ci(frame["char_errors"], frame["ref_chars"])
    text = f"{100 * cer:.2f} [{100 * low:.2f}, {100 * high:.2f}]"
    if base is None:
        return text, "", cer
    diff, dlow, dhigh, p, _ = paired_bootstrap(base, frame)
    return text, f"{100 * diff:+.2f} [{100 * dlow:+.2f}, {100 * dhigh:+.2f}] p={p:.3f}", cer


def table(sweep: Path, baseline: str = "full") -> pd.DataFrame:
    """One row per run: per set its CER % with a 95% CI and, paired on the same lines, its
    difference to ``baseline`` in points (positive: more errors than the baseline)."""
    runs = {arm(r.parent): r.parent for r in sorted(sweep.glob("*/result.json"))}
    if baseline not in runs:
        raise SystemExit(f"no {baseline!r} run under {sweep}")
    bases = {label: _lines(runs[baseline] / file) for label, file in SETS.items()}
    rows = []
    for name, run in runs.items():
        row: dict[str, object] = {"ablate": name}
        for label, file in SETS.items():
            frame = _lines(run / file)
            if frame is None or bases[label] is None:
                row[f"{label} CER %"], row[f"{label} minus {baseline}"] = "not read", ""
                continue
            text, diff, cer = _cell(frame, None if name == baseline else bases[label])
            row[f"{label} CER %"], row[f"{label} minus {baseline}"] = text, diff
            row.setdefault("_cer", cer)  # rows sorted by the first set's CER
        row.setdefault("_cer", float("nan"))
        rows.append(row)
    return pd.DataFrame(rows).sort_values("_cer").drop(columns="_cer")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sweep", type=Path, nargs="?")
    p.add_argument("--baseline", default="full")
    p.add_argument("--pair", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                   help="per-line files (menu-eval --lines) of two models on the same lines: "
                   "both CERs and AFTER minus BEFORE, paired over lines")  # fmt: skip
    args = p.parse_args()
    if args.pair:
        before, after = (_lines(path) for path in args.pair)
        if before is None or after is None:
            raise SystemExit(f"missing: {[str(x) for x in args.pair if not x.exists()]}")
        print(" | ".join((_cell(before, None)[0], *_cell(after, before)[:2])))
    elif args.sweep:
        print(table(args.sweep, args.baseline).to_markdown(index=False))
    else:
        p.error("a sweep folder or --pair BEFORE AFTER")


if __name__ == "__main__":
    main()
