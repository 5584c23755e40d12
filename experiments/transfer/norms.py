"""How each normalizer copes with a rotated line: the letter height it keeps and the tilt it
leaves, on 40 clean generated lines rotated by 0-3 degrees (PIL, outside the generator).

    python experiments/transfer/norms.py

Per norm and angle: the median over lines of (local ink spread in the output / the same at
0 degrees; 1.00 = the x-height is kept) and of the residual tilt of the output's column
centroids in pixels per 100 pixels (0 = straight).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from menu.data.fonts import resolve_fonts
from menu.data.normalize import CenterNorm, LineNorm, WordNorm, _moment_weights
from menu.data.synth import Degrade, render_line
from menu.data.text import TextSource, builtin_corpus

ANGLES = (0, 1, 2, 3)
NORMS = {
    "word": WordNorm(),
    "word+deskew": WordNorm(deskew=5),
    "line": LineNorm(),
    "center": CenterNorm(),
    "center+deskew": CenterNorm(deskew=5),
}


def tilt(out: np.ndarray) -> float:
    """|slope| of the mass-weighted fit through the column centroids, px per 100 px."""
    w = _moment_weights(out, 0.5)
    m = w.sum(0)
    c = m > 0
    yc = (w * (np.arange(out.shape[0]) + 0.5)[:, None]).sum(0)[c] / m[c]
    return abs(np.polyfit(np.flatnonzero(c), yc, 1, w=np.sqrt(m[c]))[0]) * 100


def local_spread(out: np.ndarray) -> float:
    """RMS vertical ink spread around each window's centroid (windows as wide as high)."""
    w = _moment_weights(out, 0.5)
    h = out.shape[0]
    ys = np.arange(h)[:, None] + 0.5
    total, acc = 0.0, 0.0
    for x0 in range(0, out.shape[1] - h // 2, h // 2):
        win = w[:, x0 : x0 + h]
        m = win.sum()
        if m >= 5:
            cy = (win * ys).sum() / m
            acc += (win * (ys - cy) ** 2).sum()
            total += m
    return float(np.sqrt(acc / total))


def main() -> None:
    clean = Degrade(size_jitter=0, skew=0, rotate=0, wobble=0, blur=0, noise=0, binarize=0,
                    contrast=1.0, margin=0.3)  # fmt: skip
    fonts = resolve_fonts(["dejavu", "stix"])
    src = TextSource(builtin_corpus(), 30, 48, mix=0, words=0)
    res = {k: {a: [] for a in ANGLES} for k in NORMS}
    for i in range(40):
        rng = np.random.default_rng(i)
        img = Image.fromarray(render_line(src.sample(rng), fonts[i % len(fonts)], rng, clean))
        base = {}
        for a in ANGLES:
            rot = np.asarray(
                img.rotate(a if i % 2 else -a, Image.BILINEAR, expand=True, fillcolor=255)
            )
            for name, norm in NORMS.items():
                out = norm(rot)
                spread = local_spread(out)
                base.setdefault(name, spread)
                res[name][a].append((spread / base[name], tilt(out)))
    print("norm           " + "  ".join(f"{a} deg: height/tilt" for a in ANGLES))
    for name in NORMS:
        medians = [np.median(np.array(res[name][a]), axis=0) for a in ANGLES]
        cells = [f"{height:.2f}/{slope:.2f}" for height, slope in medians]
        print(f"{name:14s} " + "  ".join(f"{c:>17s}" for c in cells))


if __name__ == "__main__":
    main()
