"""`menu-reproduce RUN [OUT]`: replay a finished run exactly from its record and compare."""

from __future__ import annotations

import argparse
import json
import sys

from menu.replay import reproduce


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="menu-reproduce", description=__doc__)
    p.add_argument("run", help="a run folder (holds result.json)")
    p.add_argument("out", nargs="?", help="where to rerun (default RUN/reproduce)")
    p.add_argument(
        "--allow-pipe",
        action="store_true",
        help="run the recorded config's pipe: shard URLs (shell commands): trusted runs only",
    )
    args = p.parse_args(argv)
    try:
        report = reproduce(args.run, args.out, allow_pipe=args.allow_pipe, show=True)
    except (OSError, ValueError) as e:  # ConfigError is a ValueError
        sys.exit(f"menu-reproduce: error: {e}")
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
