"""`menu-predict CHECKPOINT IMAGES...`: print `path<TAB>text` for each line image."""

from __future__ import annotations

import argparse
import sys

from menu.cli.checkpoint import add_checkpoint_args, open_checkpoint
from menu.infer import predict


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="menu-predict", description=__doc__)
    add_checkpoint_args(p)
    p.add_argument("images", nargs="+", help="line images (PNG, JPEG, TIFF, ...)")
    p.add_argument(
        "--batch-size", type=int, default=64, help="64 was fastest on CPU (scripts/bench.py)"
    )
    args = p.parse_args(argv)
    lit = open_checkpoint(args, "menu-predict")
    failed = 0
    for path, text, error in predict(lit, args.images, batch_size=args.batch_size):
        if error is not None:
            failed += 1
            print(f"menu-predict: skipped {path}: {error}", file=sys.stderr)
        else:
            print(f"{path}\t{text}", flush=True)
    if failed:
        print(f"menu-predict: {failed} of {len(args.images)} images unreadable", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
