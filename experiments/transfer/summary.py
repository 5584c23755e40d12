"""The ablation's second evaluation set as a Markdown table: each run's CER on the lines
``menu-eval --lines`` wrote (``RUN/typography_lines.csv``), its bootstrap interval over
lines, and the paired difference to the ``full`` generator on the same lines.

    python experiments/transfer/summary.py multirun/transfer_ablation
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from menu.tables.stats import bootstrap_ci, paired_bootstrap

LINES = "typography_lines.csv"


def arm(run: Path) -> str:
    """The ablate option a run chose (its ``+ablate=...`` override)."""
    record = json.loads((run / "result.json").read_text(encoding="utf-8"))
    return str(record.get("choices", {}).get("ablate", run.name))


def table(sweep: Path, baseline: str = "full") -> pd.DataFrame:
    """One row per run with a typography lines file: CER, its CI, difference to baseline."""
    lines = {
        arm(csv.parent): pd.read_csv(csv, keep_default_na=False).set_index("key")
        for csv in sorted(sweep.glob(f"*/{LINES}"))
    }
    if baseline not in lines:
        raise SystemExit(f"no {LINES} of the {baseline!r} run under {sweep}")
    rows = []
    for name, frame in lines.items():
        cer, low, high = bootstrap_ci(frame["char_errors"], frame["ref_chars"])
        diff, dlow, dhigh, p, _ = paired_bootstrap(lines[baseline], frame)
        rows.append(
            {
                "ablate": name,
                "lines": len(frame),
                "typography CER %": f"{100 * cer:.2f} [{100 * low:.2f}, {100 * high:.2f}]",
                f"minus {baseline}, points": ""
                if name == baseline
                else f"{100 * diff:+.2f} [{100 * dlow:+.2f}, {100 * dhigh:+.2f}] p={p:.3f}",
                "_cer": cer,
            }
        )
    return pd.DataFrame(rows).sort_values("_cer").drop(columns="_cer")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sweep", type=Path)
    p.add_argument("--baseline", default="full")
    args = p.parse_args()
    print(table(args.sweep, args.baseline).to_markdown(index=False))


if __name__ == "__main__":
    main()
