"""Copy a shard with a border of background around every line image: how much of a model's
error on tightly cropped scans is the crop (README: "What the pad did").

    python experiments/transfer/pad_shard.py data/eval/uw3_500/test-000000.tar \
        /tmp/uw3_500_lr8.tar --pad 8 --sides lr
    menu-eval CKPT /tmp/uw3_500_lr8.tar

The background is each image's 90th-percentile grey level (white paper on these scans);
other members (transcripts) are copied unchanged.
"""

from __future__ import annotations

import argparse
import io
import tarfile
from collections.abc import Callable

import numpy as np
from PIL import Image


def map_shard(src: str, dst: str, change: Callable[[np.ndarray], np.ndarray]) -> int:
    """Write ``dst``: ``src`` with ``change`` applied to every PNG (as a grey uint8 array);
    other members (transcripts, font records) copied unchanged. Returns how many changed."""
    changed = 0
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for member in tin.getmembers():
            data = tin.extractfile(member).read()
            if member.name.endswith(".png"):
                im = change(np.asarray(Image.open(io.BytesIO(data)).convert("L")))
                buf = io.BytesIO()
                Image.fromarray(im).save(buf, format="PNG")
                data, changed = buf.getvalue(), changed + 1
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))
    return changed


def pad_shard(src: str, dst: str, pad: int, sides: str) -> int:
    """Write ``dst``: ``src`` with ``pad`` background pixels on the ``sides`` named
    (``l``, ``r``, ``t``: top and bottom) of every PNG; returns how many were padded."""
    left, right = (pad if "l" in sides else 0), (pad if "r" in sides else 0)
    vertical = pad if "t" in sides else 0

    def padded(im: np.ndarray) -> np.ndarray:
        background = int(np.percentile(im, 90))
        return np.pad(im, ((vertical, vertical), (left, right)), constant_values=background)

    return map_shard(src, dst, padded)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--pad", type=int, default=8, help="pixels (default 8)")
    ap.add_argument("--sides", default="lr", help="l, r and/or t (top and bottom); default lr")
    args = ap.parse_args()
    print(f"padded {pad_shard(args.src, args.dst, args.pad, args.sides)} images -> {args.dst}")


if __name__ == "__main__":
    main()
