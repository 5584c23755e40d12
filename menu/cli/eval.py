"""`menu-eval CHECKPOINT SHARDS...`: evaluate a checkpoint on any shards, print JSON."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile

from menu.cli.checkpoint import (
    add_checkpoint_args,
    add_decode_args,
    add_upright_arg,
    apply_decode_args,
    open_checkpoint,
)
from menu.infer import evaluate
from menu.record import write_csv


def as_shards(spec: str, tmp: str) -> str:
    """A shard spec as is; a folder of images with transcripts (no .tar inside) as a shard
    written to ``tmp`` (every transcript scored, unreadable images included)."""
    from pathlib import Path

    from menu.data.convert import folder_as_shards

    folder = Path(spec)
    if folder.is_dir() and not any(folder.glob("*.tar")):
        return folder_as_shards(folder, Path(tmp) / folder.name)
    return spec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="menu-eval", description=__doc__)
    add_checkpoint_args(p)
    p.add_argument(
        "shards",
        nargs="+",
        help="shard URLs (paths, brace patterns, globs, pipe:) or folders of NAME.png + "
        "NAME.gt.txt pairs",
    )
    p.add_argument(
        "--batch-size", type=int, default=64, help="64 was fastest on CPU (scripts/bench.py)"
    )
    p.add_argument("--workers", type=int, default=0)
    add_decode_args(p)
    add_upright_arg(p)
    p.add_argument("--lines", metavar="CSV", help="also write every line's ref/hyp/errors here")
    p.add_argument("--confusions", type=int, default=10, help="how many top confusions")
    args = p.parse_args(argv)
    lit = open_checkpoint(args, "menu-eval")
    apply_decode_args(args, lit)
    tmp = tempfile.TemporaryDirectory(prefix="menu-eval-")
    shards = [as_shards(s, tmp.name) for s in args.shards]
    shards = shards if len(shards) > 1 else shards[0]
    try:
        result = evaluate(
            lit,
            shards,
            batch_size=args.batch_size,
            workers=args.workers,
            confusions=args.confusions,
            lines=bool(args.lines),
            upright=args.upright,
        )
    except (OSError, ValueError) as e:  # missing shards, nothing to score
        sys.exit(f"menu-eval: error: {e}")
    lines = result.pop("lines", None)
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)  # first: never lost
    sys.stdout.write("\n")
    sys.stdout.flush()
    if lines is not None:
        try:
            write_csv(args.lines, lines)
        except OSError as e:
            sys.exit(
                f"menu-eval: error: the result is above, but {args.lines} was not written: {e}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
