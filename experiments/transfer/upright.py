"""How well the turn is chosen for lines set vertically (menu.data.upright), on real lines.

Every labelled line of the shards is set vertically twice (reading bottom to top, and top
to bottom) into shards in OUT, and the checkpoint reads the level lines and both vertical
sets (greedy, no language model). Prints, as JSON: the lines, how many of the vertical ones
were turned the right way, and the CER of each set (equal CERs: a vertical line costs
nothing). Nothing is chosen on these lines; the rule is fixed (``menu.data.upright``).

    python experiments/transfer/upright.py RUN/checkpoints/best.ckpt \\
        'data/eval/uw3_500/test-*.tar' --out /tmp/upright
"""

from __future__ import annotations

import argparse
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from menu.data.shards import (
    ShardSink,
    SkipSample,
    decode_line_image,
    decode_text,
    expand_urls,
    read_shards,
)
from menu.data.upright import TALL, is_tall
from menu.infer import evaluate, load_checkpoint


def set_vertically(shards: str, out: Path) -> dict[str, dict[str, str]]:
    """The labelled lines of ``shards`` set vertically both ways, one shard set per way;
    per way the key -> the turn that reads it level again, for the lines tall enough to be
    turned (:data:`menu.data.upright.TALL`: a short line set vertically stays as it is)."""
    ways = {"bottom_to_top": (1, "clockwise"), "top_to_bottom": (-1, "counterclockwise")}
    expected: dict[str, dict[str, str]] = {way: {} for way in ways}
    skipped: Counter[str] = Counter()
    sinks = {way: ShardSink(out / way, prefix="test", shard_size=10_000) for way in ways}
    for sample in read_shards(expand_urls(shards), skipped):
        try:
            text, pixels = decode_text(sample), decode_line_image(sample)
        except SkipSample:  # unlabelled or unreadable: evaluate() scores it as it stands
            continue
        for way, (k, turn) in ways.items():
            buf = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(np.rot90(pixels, k))).save(buf, format="PNG")
            sinks[way].write(sample["__key__"], buf.getvalue(), text)
            if is_tall(pixels.shape[::-1], TALL):
                expected[way][sample["__key__"]] = turn
    for sink in sinks.values():
        sink.close()
    return expected


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("shards")
    p.add_argument("--out", type=Path, required=True, help="folder for the vertical shards")
    args = p.parse_args()
    lit = load_checkpoint(args.checkpoint)
    expected = set_vertically(args.shards, args.out)
    level = evaluate(lit, args.shards, confusions=0)
    result = {"level": {"n": level["n"], "cer": level["cer"], "turned": len(level["turned"])}}
    for way, turns in expected.items():
        r = evaluate(lit, str(args.out / way / "test-*.tar"), confusions=0)
        right = sum(r["turned"].get(key) == turn for key, turn in turns.items())
        result[way] = {"n": r["n"], "tall": len(turns), "turned": len(r["turned"]),
                       "right": right, "cer": r["cer"]}  # fmt: skip
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
