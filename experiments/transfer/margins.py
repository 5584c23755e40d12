"""How much do the readings depend on how tightly a line is cropped? Reads the same line
images with a few columns of background added on the left and/or right (each image's own
edge columns repeated), by a menu checkpoint and by Tesseract 5 ``--psm 7``, and counts the
character errors of each cropping. Nothing here is chosen by these numbers: they say how far
one cropping's count is from another's, the noise floor of a comparison on a small set.

    python experiments/transfer/margins.py RUN/checkpoints/best.ckpt 'data/eval/uw3/test-*.tar' \\
        --lm data/lm/transfer.json.gz --lm-weight 0.25 --lm-bonus 1 --out margins.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.tesseract import (
    _fill,
    _run_tesseract_list,
    clean_tesseract,
    score,
    write_test_pngs,
)
from menu.infer import load_checkpoint, predict, set_decode

#: (left, right) columns of background added to every image; (0, 0) is the set as given.
CROPPINGS = ((0, 0), (4, 0), (0, 4), (8, 0), (0, 8), (8, 8), (16, 16), (32, 32))


def padded(paths: list[str], left: int, right: int, out_dir: Path) -> list[str]:
    """Copies of ``paths`` with ``left``/``right`` edge columns repeated, as PNG files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for i, p in enumerate(paths):
        a = np.asarray(Image.open(p))
        widths = ((0, 0), (left, right)) + ((0, 0),) * (a.ndim - 2)
        q = out_dir / f"{i:06d}.png"
        Image.fromarray(np.pad(a, widths, mode="edge")).save(q)
        out.append(str(q))
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("test", help="shards (a glob or brace pattern)")
    ap.add_argument("--lm", help="character LM for the checkpoint's beam search")
    ap.add_argument("--lm-weight", type=float, default=0.25)
    ap.add_argument("--lm-bonus", type=float, default=1.0)
    ap.add_argument("--out", help="JSON file for the counts")
    args = ap.parse_args(argv)
    tesseract = shutil.which("tesseract")
    if not tesseract:
        ap.error("tesseract not found on PATH (apt-get install tesseract-ocr)")
    decode = {"lm": args.lm, "lm_weight": args.lm_weight, "lm_bonus": args.lm_bonus}
    if not args.lm:
        decode = {}
    lit = load_checkpoint(args.checkpoint)
    set_decode(lit, decode)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        items = write_test_pngs(args.test, Path(tmp) / "lines")
        all_paths, refs = [p for _, p, _, _ in items], [r for _, _, r, _ in items]
        paths = [p for p in all_paths if p is not None]
        if len(paths) < len(items):  # scored as an empty hypothesis for both, as in bench.py
            print(f"{len(items) - len(paths)} unreadable lines read as nothing", file=sys.stderr)
        for left, right in CROPPINGS:
            pngs = padded(paths, left, right, Path(tmp) / f"{left}_{right}")
            ours = _fill(all_paths, [text or "" for _, text, _ in predict(lit, pngs)])
            theirs = _run_tesseract_list(tesseract, pngs, Path(tmp) / "list.txt", ["--psm", "7"])
            theirs = _fill(all_paths, [clean_tesseract(x) for x in theirs])
            m, t = score(refs, ours), score(refs, theirs)
            rows.append({"left": left, "right": right, "menu_errors": m["char_errors"],
                         "tesseract_errors": t["char_errors"]})  # fmt: skip
            print(f"+{left:>2} left +{right:>2} right: menu {m['char_errors']:>4}, "
                  f"tesseract {t['char_errors']:>4} errors", flush=True)  # fmt: skip
    ours = [r["menu_errors"] for r in rows]
    theirs = [r["tesseract_errors"] for r in rows]
    result = {
        "checkpoint": args.checkpoint,
        "test": args.test,
        "decode": decode,
        "lines": len(refs),
        "ref_chars": m["ref_chars"],
        "croppings": rows,
        "menu_median": float(np.median(ours)),
        "tesseract_median": float(np.median(theirs)),
        "menu_range": [min(ours), max(ours)],
        "tesseract_range": [min(theirs), max(theirs)],
        "menu_fewer": sum(a < b for a, b in zip(ours, theirs, strict=True)),
        "menu_at_or_below": sum(a <= b for a, b in zip(ours, theirs, strict=True)),
    }
    print(f"median errors: menu {result['menu_median']:g}, tesseract "
          f"{result['tesseract_median']:g}; menu at or below tesseract in "
          f"{result['menu_at_or_below']} of {len(rows)} croppings")  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
