"""`menu-export CHECKPOINT [OUT]`: write TorchScript and ONNX models, verified, plus model.json."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from menu.cli.checkpoint import add_checkpoint_args, open_checkpoint
from menu.export import FORMATS, export


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="menu-export", description=__doc__)
    add_checkpoint_args(p, device=False)
    p.add_argument("out", nargs="?", help="output folder (default: CHECKPOINT's folder/export)")
    p.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    args = p.parse_args(argv)
    out = Path(args.out) if args.out else Path(args.checkpoint).parent / "export"
    lit = open_checkpoint(args, "menu-export")
    status = export(lit, out, tuple(args.formats))
    json.dump(status, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if any(not v.startswith("not exportable") for v in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
