"""`menu-predict CHECKPOINT IMAGES...`: read line images. By default prints `path<TAB>text`
(`--beam N`, `--lm LM`: the text by beam search, with a language model); `--format json`
prints one JSON object per image (text, confidence, each character's columns and
confidence); `--format hocr|alto|page --out DIR` writes one hOCR, ALTO or PAGE-XML file per
image, with words and characters boxed by the CTC best path."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from menu.cli.checkpoint import (
    add_checkpoint_args,
    add_decode_args,
    add_upright_arg,
    apply_decode_args,
    open_checkpoint,
)
from menu.formats import FORMATS, SUFFIX, WRITERS, to_json
from menu.infer import predict


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="menu-predict", description=__doc__)
    add_checkpoint_args(p)
    p.add_argument("images", nargs="+", help="line images (PNG, JPEG, TIFF, ...)")
    p.add_argument(
        "--batch-size", type=int, default=64, help="64 was fastest on CPU (scripts/bench.py)"
    )
    p.add_argument("--format", choices=FORMATS, default="text", help="output (default text)")
    p.add_argument("--out", metavar="DIR", help="folder for hocr/alto/page files")
    add_decode_args(p)
    add_upright_arg(p)
    args = p.parse_args(argv)
    if args.format in WRITERS and not args.out:
        p.error(f"--format {args.format} writes one file per image: give --out DIR")
    if args.format != "text" and (args.lm or args.beam):
        p.error(f"--format {args.format} places characters by the best path: --lm and --beam "
                "read --format text only")  # fmt: skip
    lit = open_checkpoint(args, "menu-predict")
    apply_decode_args(args, lit)
    detail = args.format != "text"
    failed = 0
    for path, result, error in predict(
        lit, args.images, batch_size=args.batch_size, detail=detail, upright=args.upright
    ):
        if error is not None:
            failed += 1
            print(f"menu-predict: skipped {path}: {error}", file=sys.stderr)
        elif args.format == "text":
            print(f"{path}\t{result}", flush=True)
        elif args.format == "json":
            print(to_json(path, result), flush=True)
        else:
            out = Path(args.out) / (Path(path).name.split(".")[0] + SUFFIX[args.format])
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(WRITERS[args.format](path, result), encoding="utf-8")
            print(f"{path}\t{out}", flush=True)
    if failed:
        print(f"menu-predict: {failed} of {len(args.images)} images unreadable", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
