"""Is a line's first character wrong more often because of where it stands? Reads labelled
lines (generated ones: the test split a run wrote) as they are and cropped to their ink box
plus a few pixels (``--margin``; the UW-III scans come with 3), each with the norm's
background ``pad`` at several widths, and counts the characters wrong at the first and last
positions beside how many the same characters would give inside lines
(``errors.ends_against_inside``). Nothing is chosen by these counts.

    python experiments/transfer/starts.py RUN/checkpoints/best.ckpt GENERATED/test-000000.tar \\
        --pads 0.25,0.5,1.0 --out starts.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from experiments.transfer.errors import ends_against_inside
from experiments.transfer.pad_shard import map_shard
from menu.data.image import to_ink
from menu.infer import evaluate, load_checkpoint


def crop_to_ink(image: np.ndarray, margin: int) -> np.ndarray:
    """``image`` cut to the box of its ink (``to_ink`` above one half) plus ``margin``
    pixels on every side where the image has them; an image without ink is kept whole."""
    ink = to_ink(image) > 0.5
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    if not len(rows):
        return image
    y0, y1 = max(rows[0] - margin, 0), rows[-1] + margin + 1
    x0, x1 = max(cols[0] - margin, 0), cols[-1] + margin + 1
    return image[y0:y1, x0:x1]


def crop_shard(src: str, dst: str, margin: int) -> int:
    """Write ``dst``: ``src`` with every PNG cropped by ``crop_to_ink``; returns how many."""
    return map_shard(src, dst, lambda image: crop_to_ink(image, margin))


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("shard", help="one labelled shard (.tar)")
    ap.add_argument("--margin", type=int, default=3, help="pixels kept around the ink box")
    ap.add_argument("--pads", default="0.25,0.5,1.0", help="norm pads to read with (x height)")
    ap.add_argument("--out", help="JSON file for the counts")
    args = ap.parse_args(argv)
    lit = load_checkpoint(args.checkpoint)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tight = str(Path(tmp) / "tight.tar")
        crop_shard(args.shard, tight, args.margin)
        for crop, url in (("as given", args.shard), (f"ink box + {args.margin} px", tight)):
            for pad in (float(p) for p in args.pads.split(",")):
                lit.cfg.norm.pad = pad
                result = evaluate(lit, url, lines=True)
                lines = result["lines"]
                ends = ends_against_inside([r["ref"] for r in lines], [r["hyp"] for r in lines])
                row = {"crop": crop, "pad": pad, "lines": result["n"], "cer": result["cer"]}
                rows.append(row | ends)
                print(
                    f"{crop:>16s}, pad {pad:.2f}: CER {result['cer']:.2%}; first characters "
                    f"wrong {ends['first']:.0f} ({ends['first_expected']:.1f} expected), "
                    f"last {ends['last']:.0f} ({ends['last_expected']:.1f})",
                    flush=True,
                )
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
