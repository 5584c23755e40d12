"""Shared test fixtures: tiny rendered lines, synthetic shard sets and png+gt.txt folders.

All data is generated offline into pytest's temporary directories and kept small so
the whole suite stays fast on 2 cores.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from menu.data.fonts import resolve_fonts
from menu.data.synth import Degrade, generate, render_line

#: Degradation settings that render clean, upright, black-on-white lines.
CLEAN = Degrade(
    size_jitter=0.0,
    margin=0.2,
    spacing=0.0,
    skew=0.0,
    rotate=0.0,
    wobble=0.0,
    blur=0.0,
    contrast=1.0,
    noise=0.0,
    binarize=0.0,
)


@pytest.fixture(scope="session")
def fonts() -> list[str]:
    """The DejaVu fonts shipped with matplotlib (always available offline)."""
    return resolve_fonts("dejavu")


@pytest.fixture(scope="session")
def render(fonts: list[str]) -> Callable[..., np.ndarray]:
    """``render(text, font=0, seed=0, clean=True, **degrade) -> uint8 line image``."""

    def _render(
        text: str, font: int | str = 0, seed: int = 0, clean: bool = True, **degrade: Any
    ) -> np.ndarray:
        path = fonts[font] if isinstance(font, int) else font
        cfg = Degrade(**{**CLEAN.__dict__, **degrade}) if clean else Degrade(**degrade)
        return render_line(text, path, np.random.default_rng(seed), cfg)

    return _render


def png_bytes(img: np.ndarray, mode: str = "L", fmt: str = "PNG") -> bytes:
    """Encode an array as image bytes (helper for building test files and shards)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(img, np.uint8)).convert(mode).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="session")
def synth_shards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """40 synthetic lines in 2 train shards (20 each), rendered once per session."""
    out = tmp_path_factory.mktemp("synth")
    paths = generate(
        out, 40, seed=1, prefix="train", shard_size=20, workers=1, progress=False, max_chars=30
    )
    return {"dir": out, "paths": paths, "pattern": str(out / "train-{000000..000001}.tar"), "n": 40}


#: Transcripts exercising NFC, spaces, punctuation and non-Latin scripts.
GT_TEXTS = [
    "plain ascii line",
    "two  spaces  kept",
    "naïve café – déjà vu",
    "Ελληνικά και Кириллица",
    "日本語のテキスト",
    "quotes “curly” and 'straight'",
    "tabs\tinside",
    "ends with space ",
]


@pytest.fixture
def gt_folder(tmp_path: Path, render: Callable[..., np.ndarray]) -> Callable[..., Path]:
    """Factory ``gt_folder(texts=GT_TEXTS, name='lines') -> folder`` of NAME.png + NAME.gt.txt.

    Files are spread over ``book/0001`` and ``book/0002`` subfolders, named with dots
    (``010001.bin.png`` style for even items, ``line.7.png`` for odd ones) to exercise
    key sanitising. Transcripts end with a newline as tesseract/kraken write them.
    """

    def _make(texts: list[str] | None = None, name: str = "lines") -> Path:
        root = tmp_path / name
        for i, text in enumerate(GT_TEXTS if texts is None else texts):
            sub = root / "book" / f"{i % 2 + 1:04d}"
            sub.mkdir(parents=True, exist_ok=True)
            stem = f"01{i:04d}" if i % 2 == 0 else f"line.{i}"
            img_name = f"{stem}.bin.png" if i % 2 == 0 else f"{stem}.png"
            (sub / img_name).write_bytes(png_bytes(render("ascii stand-in " + str(i), seed=i)))
            (sub / f"{stem}.gt.txt").write_bytes((text + "\n").encode("utf-8"))
        return root

    return _make


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One tiny digits model trained once per session (``tests/tiny.py``): its root folder,
    overrides, record and run folder."""
    from tiny import tiny_overrides, write_digits_corpus

    from menu.config import compose
    from menu.training import run

    root = tmp_path_factory.mktemp("tiny")
    corpus = write_digits_corpus(root / "digits.txt")
    overrides = [*tiny_overrides(root / "data", corpus), "optim.optimizer.lr=0.003"]
    record = run(compose(overrides), root / "run", overrides=overrides)
    return {"root": root, "overrides": overrides, "record": record, "run": root / "run"}
