"""Printed lines from outside menu's generator, for the transfer study's evaluation only.

Another renderer (Pango via ``pango-view``), font families that no menu data config trains
on (Debian packages), text menu has never seen (the licence texts every Debian system ships
in /usr/share/common-licenses), sizes 22-40 px, rotations up to 2 degrees, grey paper, some
blur and noise made here with PIL/NumPy. Writes NAME.png + NAME.gt.txt pairs::

    apt-get install pango1.0-tools fonts-liberation fonts-linuxlibertine fonts-ebgaramond \\
        fonts-crosextra-carlito fonts-crosextra-caladea fonts-cantarell fonts-lato fonts-open-sans
    python experiments/transfer/typography.py data/eval/typography-lines -n 400
    menu-data convert data/eval/typography-lines data/eval/typography --prefix test --no-shuffle
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

FAMILIES = [
    "Liberation Serif", "Liberation Sans", "Liberation Sans Narrow", "Liberation Mono",
    "Caladea", "Carlito", "Cantarell", "EB Garamond", "Lato", "Linux Libertine O",
    "Linux Biolinum O", "Open Sans",
]  # fmt: skip
STYLES = ["", "Bold", "Italic", "Bold Italic"]
TEXTS = ["GPL-3", "Apache-2.0", "MPL-2.0", "LGPL-2.1", "Artistic", "GFDL-1.3"]


def text_lines(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` lines of 25-70 characters cut at word boundaries from the licence texts."""
    words: list[str] = []
    for name in TEXTS:
        path = Path("/usr/share/common-licenses") / name
        if path.exists():
            words += re.sub(r"\s+", " ", path.read_text(encoding="utf-8", errors="replace")).split()
    words = [w for w in words if w.isprintable() and not set(w) <= set("-=_*.")]
    lines = []
    while len(lines) < n:
        i, target = int(rng.integers(len(words))), int(rng.integers(25, 71))
        line = ""
        while i < len(words) and len(line) + len(words[i]) + 1 <= target:
            line = f"{line} {words[i]}".strip()
            i += 1
        if len(line) >= 20:
            lines.append(line)
    return lines


def render(
    text: str, font: str, size: int, angle: float, out: Path, rng: np.random.Generator
) -> None:
    """The line by pango-view, then paper, blur and noise."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.png"
        margin = f"{int(rng.integers(4, 14))} {int(rng.integers(4, 20))}"
        subprocess.run(
            ["pango-view", "-q", "--pixels", f"--font={font} {size}", f"--rotate={angle:.2f}",
             f"--margin={margin}", "--background=white", "--foreground=black",
             "--hinting=none", f"--text={text}", "-o", str(raw)],
            check=True, capture_output=True,
        )  # fmt: skip
        img = Image.open(raw).convert("L")
    radius = float(rng.uniform(0, 0.9))
    if radius > 0.2:
        img = img.filter(ImageFilter.GaussianBlur(radius))
    ink = 1.0 - np.asarray(img, np.float32) / 255.0
    paper, contrast = rng.uniform(0.75, 1.0), rng.uniform(0.6, 1.0)
    grey = paper - contrast * paper * ink + rng.normal(0, rng.uniform(0, 0.04), ink.shape)
    Image.fromarray((np.clip(grey, 0, 1) * 255 + 0.5).astype(np.uint8)).save(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("-n", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if not shutil.which("pango-view"):
        raise SystemExit("pango-view not found: apt-get install pango1.0-tools")
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(text_lines(args.n, rng)):
        family = FAMILIES[i % len(FAMILIES)]
        style = STYLES[int(rng.integers(len(STYLES)))]
        font = f"{family} {style}".strip()
        name = f"{i:04d}_{font.replace(' ', '')}"
        render(text, font, int(rng.integers(22, 41)), float(rng.uniform(-2, 2)),
               args.out / f"{name}.png", rng)  # fmt: skip
        (args.out / f"{name}.gt.txt").write_text(text + "\n", encoding="utf-8")
    print(f"wrote {args.n} lines to {args.out}")


if __name__ == "__main__":
    main()
