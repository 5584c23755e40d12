"""Synthetic text-line generator (offline) and the data ``prepare`` step.

Fonts: the DejaVu and STIX TTFs shipped with matplotlib (``"dejavu"``, ``"stix"``),
font files, folders or globs. Text: the built-in public-domain corpus or a user file.
Degradations (:class:`Degrade`): scale/position jitter, letter spacing, slant (skew),
rotation, blur, baseline wobble, ink/paper contrast, noise, binarization, inversion.
Every line ``i`` of a split uses its own RNG seeded by ``(seed, split, i)``, so the
output is identical for any number of worker processes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import unicodedata
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import current_process, get_context
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from tqdm import tqdm

from menu.data import scan
from menu.data.fonts import _covers, _font, resolve_fonts
from menu.data.image import encode_png
from menu.data.text import TextSource, load_corpus, mix_caps_fractions, split_corpus

__all__ = [
    "GENERATOR_VERSION",
    "Degrade",
    "generate",
    "render_line",
]

log = logging.getLogger(__name__)

#: Bump when the renderer changes output for the same config (invalidates caches).
GENERATOR_VERSION = 2  # 2: a KEY.json member with the font of each line


@dataclass
class Degrade:
    """Rendering and degradation parameters; each ``max`` value is sampled uniformly per line."""

    font_size: int = 28  # nominal font size in pixels
    size_jitter: float = 0.2  # font size scaled by U[1-j, 1+j]
    margin: float = 0.2  # each margin U[0, 2*margin] x font size (position jitter)
    spacing: float = 0.08  # extra letter spacing U[-spacing/3, spacing] x font size ...
    spacing_prob: float = 0.3  # ... applied to this fraction of lines
    word_spacing: float = 0.0  # justified lines: every space's width x U[1-w/2, 1+w] (0: off)
    skew: float = 0.2  # max |horizontal shear| (slant, tan of angle)
    rotate: float = 0.5  # max |rotation| in degrees
    wobble: float = 1.2  # max baseline wobble amplitude in pixels
    wobble_period: float = 160.0  # wobble wavelength in pixels, scaled by U[0.5, 2]
    blur: float = 1.0  # max Gaussian blur radius in pixels
    contrast: float = 0.45  # min ink/paper contrast (1 = black on white), U[contrast, 1]
    noise: float = 0.06  # max Gaussian noise std (fraction of full scale)
    binarize: float = 0.2  # probability of thresholding the final line to black/white
    invert: float = 0.0  # probability of light text on a dark background
    # printing and scanning (menu.data.scan); 0 = off
    stretch: float = 0.0  # width scaled by U[1-s, 1+s] (condensed or wide type)
    weight: float = 0.0  # strokes grown or thinned by U[-w/2, w] pixels (bold or light)
    rescan: float = 0.0  # scanned at a resolution lower by U[1, 1+r], then upsampled
    background: float = 0.0  # uneven paper: smooth stains up to U[0, b] x the ink contrast
    speckle: float = 0.0  # up to this fraction of pixels black or white (dust, dropouts)
    threshold: float = 0.0  # binarization threshold at U[0.5-t, 0.5+t] of the contrast
    jpeg: float = 0.0  # probability of JPEG compression at quality U[20, 90]
    fade: float = 0.0  # probability of print fading toward one end (to U[0.4, 0.7] of the ink)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Degrade:
        """Build from a mapping, rejecting unknown keys with a clear error."""
        d = dict(d or {})
        names = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(d) - names)
        if bad:
            raise ValueError(f"unknown degradation keys {bad}; valid: {sorted(names)}")
        return cls(**d)


def _clusters(text: str) -> list[str]:
    """Split into base characters with their combining marks (drawn as one unit)."""
    out: list[str] = []
    for c in text:
        if out and unicodedata.combining(c):
            out[-1] += c
        else:
            out.append(c)
    return out


@lru_cache(maxsize=65536)
def _glyph(font_path: str, size: int, cluster: str) -> tuple[Image.Image | None, int, int, float]:
    """Cached rendering of one cluster: (mask or None if blank, dx, dy, advance)."""
    font = _font(font_path, size)
    adv = font.getlength(cluster)
    left, top, right, bottom = font.getbbox(cluster, anchor="la")
    if right <= left or bottom <= top:
        return None, 0, 0, adv
    mask = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(mask).text((-left, -top), cluster, font=font, fill=255, anchor="la")
    return mask, left, top, adv


def _advance(font_path: str, size: int, cluster: str, space: float) -> float:
    """A cluster's advance; a space's is ``space`` times the font's."""
    adv = _glyph(font_path, size, cluster)[3]
    return adv * space if cluster == " " else adv


def _draw_spaced(
    im: Image.Image,
    x: float,
    y: float,
    text: str,
    font_path: str,
    size: int,
    spacing: float,
    space: float = 1.0,
) -> None:
    """Draw ``text`` glyph by glyph with extra ``spacing`` pixels between clusters and
    spaces ``space`` times as wide as the font's."""
    for cl in _clusters(text):
        mask, dx, dy, _ = _glyph(font_path, size, cl)
        if mask is not None:
            im.paste(255, (round(x) + dx, round(y) + dy), mask)
        x += _advance(font_path, size, cl, space) + spacing


def _spacing_safe(text: str) -> bool:
    """True for scripts drawn correctly glyph by glyph (Latin, Greek, Cyrillic, symbols)."""
    return all(ord(c) < 0x0590 or 0x1E00 <= ord(c) < 0x2C00 for c in text)


def _spaced_width(
    text: str, font_path: str, size: int, spacing: float, space: float = 1.0
) -> float:
    cl = _clusters(text)
    return sum(_advance(font_path, size, c, space) for c in cl) + spacing * max(0, len(cl) - 1)


def render_line(
    text: str,
    font_path: str,
    rng: np.random.Generator,
    cfg: Degrade | None = None,
) -> np.ndarray:
    """Render ``text`` with the font at ``font_path`` and random degradations.

    Returns a uint8 grayscale image (dark ink on light paper unless inverted).
    All randomness comes from ``rng``, so a seeded generator gives identical output.
    """
    cfg = cfg or Degrade()
    size = max(6, round(cfg.font_size * rng.uniform(1 - cfg.size_jitter, 1 + cfg.size_jitter)))
    font = _font(font_path, size)
    ascent, descent = font.getmetrics()
    mt, mb, ml, mr = (rng.uniform(0.05, 2 * cfg.margin + 0.05) * size for _ in range(4))
    spacing = 0.0
    if cfg.spacing > 0 and rng.random() < cfg.spacing_prob:
        spacing = rng.uniform(-cfg.spacing / 3, cfg.spacing) * size
        if not _spacing_safe(text):  # glyph-by-glyph drawing would break shaping/bidi
            spacing = 0.0
    space = 1.0  # no draw when off: lines of configs without it stay as they were
    if cfg.word_spacing > 0 and " " in text and _spacing_safe(text):
        space = rng.uniform(1 - cfg.word_spacing / 2, 1 + cfg.word_spacing)
    if spacing:
        tw = _spaced_width(text, font_path, size, spacing, space)
    elif space != 1.0:  # word by word: kerning inside words kept
        words = [(word, font.getlength(word)) for word in text.split(" ")]
        space_adv = font.getlength(" ") * space
        tw = sum(adv for _, adv in words) + space_adv * (len(words) - 1)
    else:
        tw = font.getlength(text)
    w = max(1, math.ceil(tw + ml + mr))
    h = max(1, math.ceil(ascent + descent + mt + mb))
    im = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(im)
    if spacing:
        _draw_spaced(im, ml, mt, text, font_path, size, spacing, space)
    elif space != 1.0:
        x = ml
        for word, adv in words:
            if word:
                draw.text((x, mt), word, font=font, fill=255, anchor="la")
            x += adv + space_adv
    else:
        draw.text((ml, mt), text, font=font, fill=255, anchor="la")
    if cfg.stretch > 0:
        im = scan.stretch(im, rng.uniform(1 - cfg.stretch, 1 + cfg.stretch))
        w = im.size[0]
    if cfg.weight > 0:
        im = scan.stroke(im, rng.uniform(-cfg.weight / 2, cfg.weight))
    shear = rng.uniform(-cfg.skew, cfg.skew) if cfg.skew > 0 else 0.0
    angle = rng.uniform(-cfg.rotate, cfg.rotate) if cfg.rotate > 0 else 0.0
    wob = rng.uniform(0, cfg.wobble) if cfg.wobble > 0 else 0.0
    period = max(8.0, cfg.wobble_period * rng.uniform(0.5, 2.0))
    phase = rng.uniform(0, 2 * np.pi)
    if abs(shear) > 0.01 or abs(angle) > 0.05 or wob > 0.25:
        wob = wob if wob > 0.25 else 0.0
        strip = int(min(48, max(12, period / 6))) if wob else 1 << 30
        out_size, mesh = scan.geometry_mesh(w, h, shear, angle, wob, period, phase, strip)
        if len(mesh) == 1:  # no wobble: one exact affine map
            (ulx, uly, llx, lly, _, _, urx, ury), (ow, oh) = mesh[0][1], out_size
            coeffs = (
                (urx - ulx) / ow,
                (llx - ulx) / oh,
                ulx,
                (ury - uly) / ow,
                (lly - uly) / oh,
                uly,
            )
            im = im.transform(out_size, Image.AFFINE, coeffs, Image.BILINEAR, fillcolor=0)
        else:
            im = im.transform(out_size, Image.MESH, mesh, Image.BILINEAR, fillcolor=0)
    if cfg.rescan > 0:
        im = scan.rescan(im, rng.uniform(1.0, 1.0 + cfg.rescan))
    radius = rng.uniform(0, cfg.blur) if cfg.blur > 0 else 0.0
    if radius > 0.2:
        im = im.filter(ImageFilter.BoxBlur(radius))
    ink = np.asarray(im, dtype=np.float32)
    contrast = rng.uniform(cfg.contrast, 1.0)
    paper = rng.uniform(contrast, 1.0)
    if cfg.fade > 0 and rng.random() < cfg.fade:  # over 1-4 line heights from either end
        level, length = rng.uniform(0.4, 0.7), rng.uniform(1.0, 4.0) * ink.shape[0]
        ink = scan.fade(ink, level, length, left=bool(rng.random() < 0.5))
    if cfg.background > 0:  # stains: up to a fraction of the ink's contrast
        ink = ink + scan.stains(rng, ink.shape, rng.uniform(0, cfg.background))
    img = np.float32(paper * 255.0) - np.float32(contrast) * ink
    sigma = rng.uniform(0, cfg.noise) if cfg.noise > 0 else 0.0
    if sigma > 0.005:
        img += scan.noise(rng, img.shape) * np.float32(sigma * 255.0)
    if cfg.speckle > 0:
        img = scan.speckle(rng, img, rng.uniform(0, cfg.speckle))
    if rng.random() < cfg.binarize:
        level = rng.uniform(0.5 - cfg.threshold, 0.5 + cfg.threshold) if cfg.threshold else 0.5
        img = np.where(img > (paper - contrast * level) * 255.0, np.float32(255.0), np.float32(0))
    if cfg.jpeg > 0 and rng.random() < cfg.jpeg:
        img = scan.jpeg(img, int(rng.integers(20, 91)))
    if rng.random() < cfg.invert:
        img = 255.0 - img
    np.clip(img + 0.5, 0, 255, out=img)
    return img.astype(np.uint8)


# --------------------------------------------------------------------------- generation

_STATE: dict[str, Any] = {}


def _init_worker(state: dict[str, Any]) -> None:
    _STATE.clear()
    _STATE.update(state)
    _STATE["source"] = TextSource(
        state["lines"],
        state["min_chars"],
        state["max_chars"],
        state["mix"],
        state["words"],
        state["language"],
        state["mix_caps"],
        state["caps_lines"],
        state["slashes"],
    )


def _line_rng(seed: int, prefix: str, i: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([int(seed), zlib.crc32(prefix.encode()), int(i)]))


def _render_one(i: int) -> tuple[str, bytes, str, dict[str, str]] | None:
    st = _STATE
    rng = _line_rng(st["seed"], st["prefix"], i)
    fonts: list[str] = st["fonts"]
    cfg: Degrade = st["cfg"]
    for _ in range(20):
        text = st["source"].sample(rng)
        first = int(rng.integers(len(fonts)))
        order = fonts[first:] + fonts[:first]
        font = next((f for f in order if _covers(f, text)), None)
        if font is not None:
            img = render_line(text, font, rng, cfg)
            return f"{st['prefix']}_{i:07d}", encode_png(img), text, {"font": Path(font).stem}
    return None


def _render_chunk(bounds: tuple[int, int]) -> list[tuple[str, bytes, str, dict] | None]:
    return [_render_one(i) for i in range(*bounds)]


def generate(
    out_dir: str | os.PathLike,
    n: int,
    *,
    seed: int = 0,
    prefix: str = "train",
    shard_size: int = 1000,
    corpus: str | os.PathLike | Sequence[str] | None = None,
    corpus_part: str = "all",
    holdout_text: float = 0.1,
    fonts: str | Sequence[str] | None = None,
    workers: int | None = None,
    min_chars: int = 5,
    max_chars: int = 48,
    mix: float = 0.2,
    words: float = 0.4,
    language: str = "en",
    mix_caps: Sequence[float] | None = None,
    caps_lines: float = 0.0,
    slashes: float = 0.0,
    progress: bool = True,
    chunk: int = 64,
    **degrade: Any,
) -> list[str]:
    """Render ``n`` synthetic lines into ``out_dir/{prefix}-NNNNNN.tar`` shards.

    ``corpus``: None (built-in), a text file, a folder of ``.txt`` or a list of those.
    ``corpus_part``: ``"all"``, ``"train"`` or ``"heldout"`` (every ``1/holdout_text``-th
    corpus line is held out, for test sets with unseen text). ``fonts``: see
    :func:`resolve_fonts`. ``mix``, ``words``, ``language``, ``mix_caps``, ``caps_lines``,
    ``slashes``: see :class:`TextSource`.
    ``workers``: processes (None = all cores). ``degrade``:
    :class:`Degrade` fields. Deterministic for a given seed regardless of ``workers``.
    Lines no font can render are redrawn; returns the shard paths.
    """
    from menu.data.shards import ShardSink

    if n < 1:
        raise ValueError("n must be >= 1")
    cfg = Degrade.from_dict(degrade)
    lines = load_corpus(corpus)
    if corpus_part != "all":
        train, held = split_corpus(lines, holdout_text)
        if corpus_part not in ("train", "heldout"):
            raise ValueError(f"corpus_part must be all/train/heldout, got {corpus_part!r}")
        lines = train if corpus_part == "train" else held
    state = {
        "lines": lines,
        "min_chars": min_chars,
        "max_chars": max_chars,
        "mix": mix,
        "words": words,
        "language": language,
        "mix_caps": mix_caps_fractions(mix_caps),  # checked here, before any worker starts
        "caps_lines": float(caps_lines),
        "slashes": float(slashes),
        "fonts": resolve_fonts(fonts),
        "cfg": cfg,
        "seed": seed,
        "prefix": prefix,
    }
    workers = max(1, min(os.cpu_count() or 1, 8) if workers is None else int(workers))
    if current_process().daemon:  # e.g. inside a DataLoader/launcher worker: no children allowed
        workers = 1
    chunks = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]
    dropped = 0
    bar = tqdm(total=n, desc=f"synth {prefix}", unit="line", disable=not progress)
    with ShardSink(out_dir, prefix=prefix, shard_size=shard_size) as sink:
        if workers == 1 or len(chunks) == 1:
            _init_worker(state)
            results = map(_render_chunk, chunks)
            pool = None
        else:
            pool = get_context().Pool(workers, initializer=_init_worker, initargs=(state,))
            results = pool.imap(_render_chunk, chunks)  # ordered: output independent of workers
        try:
            for res in results:
                for item in res:
                    if item is None:
                        dropped += 1
                    else:
                        key, png, text, meta = item
                        sink.write(key, png, text, meta=meta)
                bar.update(len(res))
        except BaseException:
            if pool is not None:
                pool.terminate()
            raise
        finally:
            if pool is not None:
                pool.close()
                pool.join()
            bar.close()
    if dropped:
        log.warning("%d of %d lines could not be rendered with the given fonts", dropped, n)
    return sink.paths
