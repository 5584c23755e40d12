"""The CTC plateau with and without seq.shortcut: validation CER against steps.

Reads every run record (result.json) under the sweep folders given and writes a markdown
table (one row per configuration, validation CER at each validation step, test CER) to
stdout and a plot of the curves (dashed: without the shortcut) to ``--out``.

    python experiments/search/plateau.py multirun/plateau multirun/plateau_long \
        --out experiments/search/plateau.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from menu.record import read_result


def label(record: dict) -> str:
    """norm/conv/scale/reduce/seq, as menu-table writes configurations."""
    c = record["choices"]
    return "/".join(str(c.get(g)) for g in ("norm", "conv", "scale", "reduce", "seq"))


def rows(folders: list[Path]) -> pd.DataFrame:
    out = []
    for folder in folders:
        for path in sorted(folder.glob("*/result.json")):
            r = read_result(path.parent)
            if not r or r.get("status") != "ok":
                continue
            out.append(
                {
                    "configuration": label(r),
                    "shortcut": bool(r["config"]["seq"].get("shortcut", False)),
                    "steps": r["steps"],
                    "history": r["val_history"],
                    "test CER": r["test_cer"],
                    "train s": r["train_seconds"],
                }
            )
    if not out:
        raise SystemExit(f"no finished runs under {', '.join(map(str, folders))}")
    return pd.DataFrame(out).sort_values(["steps", "configuration", "shortcut"])


def table(df: pd.DataFrame) -> str:
    """One markdown table per step budget: validation CER at each validation, test CER."""
    tables = []
    for steps, part in df.groupby("steps"):
        wide = []
        for _, r in part.iterrows():
            row = {"configuration": r["configuration"], "shortcut": r["shortcut"]}
            row |= {f"val@{s}": round(v, 3) for s, v in r["history"]}
            row |= {"test CER": round(r["test CER"], 3), "train s": round(r["train s"])}
            wide.append(row)
        tables.append(f"{steps} steps:\n\n" + pd.DataFrame(wide).to_markdown(index=False))
    return "\n\n".join(tables)


def plot(df: pd.DataFrame, out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    colors: dict[str, str] = {}
    for ax, long in zip(axes, (False, True), strict=True):
        part = df[(df["steps"] > 1000) == long]
        for _, r in part.iterrows():
            color = colors.setdefault(r["configuration"], f"C{len(colors) % 10}")
            steps, cer = zip(*r["history"], strict=True)
            name = r["configuration"] + (" +shortcut" if r["shortcut"] else "")
            ls = "-" if r["shortcut"] else "--"
            ax.plot(steps, cer, color=color, ls=ls, marker=".", label=name)
        ax.set_xlabel("training steps")
        ax.set_title("3,000 steps" if long else "600 steps")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("validation CER")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, help="the plot (png)")
    args = ap.parse_args()
    df = rows(args.folders)
    print(table(df))
    if args.out:
        plot(df, args.out)


if __name__ == "__main__":
    main()
