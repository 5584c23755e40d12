"""`menu-table SWEEP_DIR...`: compare the runs of sweeps (every result.json found below).

Prints the budget, a table of all runs, a pivot of test CER over two axes (mean ± std over
seeds, best marked), one row per configuration with a bootstrap CI over test lines and a test
against the best, and the failed/running/unreadable runs; writes them as CSV, Markdown and
LaTeX with a CER heatmap and Pareto plots (PNG) to --out. Statistics: see menu/tables/__init__.py.
"""

from __future__ import annotations

import argparse
import sys

from menu.tables import aggregate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="menu-table", description=__doc__)
    p.add_argument("dirs", nargs="+", metavar="SWEEP_DIR", help="folders searched recursively")
    p.add_argument("--rows", help="pivot row axis, e.g. conv (default: an axis that varies)")
    p.add_argument("--cols", help="pivot column axis, e.g. reduce (default: another one)")
    p.add_argument("--out", help="output folder (default: FIRST_SWEEP_DIR/table)")
    p.add_argument(
        "--where", action="append", default=[], metavar="AXIS=VALUE", help="keep only these runs"
    )
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--level", type=float, default=0.95, help="confidence level")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="print nothing, only write files")
    args = p.parse_args(argv)
    if any("=" not in w for w in args.where):
        p.error("--where takes AXIS=VALUE")
    try:
        result = aggregate(
            args.dirs,
            args.out,
            rows=args.rows,
            cols=args.cols,
            quiet=args.quiet,
            where=dict(w.split("=", 1) for w in args.where),
            resamples=args.resamples,
            level=args.level,
            seed=args.seed,
            plots=not args.no_plots,
        )
    except (FileNotFoundError, ValueError) as e:
        print(f"menu-table: {e}", file=sys.stderr)
        return 2
    return 0 if len(result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
