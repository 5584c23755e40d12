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
import glob
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import unicodedata
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import current_process, get_context
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from tqdm import tqdm

from menu.data.image import encode_png
from menu.data.text import TextSource, load_corpus, split_corpus

__all__ = [
    "GENERATOR_VERSION",
    "Degrade",
    "font_chars",
    "generate",
    "prepare",
    "render_line",
    "resolve_fonts",
    "synth_cache_dir",
]

log = logging.getLogger(__name__)

#: Bump when the renderer changes output for the same config (invalidates caches).
GENERATOR_VERSION = 2  # 2: a KEY.json member with the font of each line

_FAMILIES = {
    "dejavu": [
        "DejaVuSans.ttf",
        "DejaVuSans-Bold.ttf",
        "DejaVuSans-Oblique.ttf",
        "DejaVuSans-BoldOblique.ttf",
        "DejaVuSerif.ttf",
        "DejaVuSerif-Bold.ttf",
        "DejaVuSerif-Italic.ttf",
        "DejaVuSerif-BoldItalic.ttf",
        "DejaVuSansMono.ttf",
        "DejaVuSansMono-Bold.ttf",
        "DejaVuSansMono-Oblique.ttf",
        "DejaVuSansMono-BoldOblique.ttf",
    ],
    "stix": [
        "STIXGeneral.ttf",
        "STIXGeneralBol.ttf",
        "STIXGeneralItalic.ttf",
        "STIXGeneralBolIta.ttf",
    ],
}
_FONT_EXTS = (".ttf", ".otf", ".ttc")


def _mpl_font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def resolve_fonts(spec: str | Sequence[str] | None) -> list[str]:
    """Font file paths from a spec (or list of specs).

    A spec is ``"dejavu"`` / ``"stix"`` (families shipped with matplotlib), a font
    file name in matplotlib's font folder (``"DejaVuSerif.ttf"`` or ``"DejaVuSerif"``),
    a path to a ``.ttf``/``.otf``/``.ttc`` file, a folder (searched recursively) or a
    glob. ``None`` means ``["dejavu", "stix"]``. Raises if nothing is found.
    """
    if spec is None:
        spec = ["dejavu", "stix"]
    specs = [spec] if isinstance(spec, str | os.PathLike) else list(spec)
    mpl = _mpl_font_dir()
    out: list[str] = []
    for s in specs:
        s = os.path.expanduser(os.fspath(s))
        if s.lower() in _FAMILIES:
            found = [str(mpl / f) for f in _FAMILIES[s.lower()] if (mpl / f).exists()]
        elif os.path.isdir(s):
            found = sorted(
                str(p) for p in Path(s).rglob("*") if p.suffix.lower() in _FONT_EXTS and p.is_file()
            )
        elif os.path.isfile(s):
            found = [s]
        elif any(c in s for c in "*?["):
            found = sorted(
                p for p in glob.glob(s, recursive=True) if p.lower().endswith(_FONT_EXTS)
            )
        else:
            name = s if s.lower().endswith(_FONT_EXTS) else s + ".ttf"
            found = [str(mpl / name)] if (mpl / name).exists() else []
        if not found:
            raise FileNotFoundError(f"no fonts found for {s!r} (families: {sorted(_FAMILIES)})")
        out.extend(f for f in found if f not in out)
    return out


@lru_cache(maxsize=64)
def font_chars(path: str) -> frozenset[str]:
    """Characters with a glyph in the font's character map."""
    try:
        from matplotlib.ft2font import FT2Font

        return frozenset(chr(c) for c in FT2Font(path).get_charmap())
    except Exception:  # pragma: no cover - exotic font formats: assume everything renders
        log.warning("cannot read the character map of %s; assuming full coverage", path)
        return frozenset()


def _covers(path: str, text: str) -> bool:
    chars = font_chars(path)
    if not chars:
        return True
    return all(c in chars or c.isspace() or unicodedata.category(c) in ("Cf", "Mn") for c in text)


@lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@dataclass
class Degrade:
    """Rendering and degradation parameters; each ``max`` value is sampled uniformly per line."""

    font_size: int = 28  # nominal font size in pixels
    size_jitter: float = 0.2  # font size scaled by U[1-j, 1+j]
    margin: float = 0.2  # each margin U[0, 2*margin] x font size (position jitter)
    spacing: float = 0.08  # extra letter spacing U[-spacing/3, spacing] x font size ...
    spacing_prob: float = 0.3  # ... applied to this fraction of lines
    skew: float = 0.2  # max |horizontal shear| (slant, tan of angle)
    rotate: float = 0.5  # max |rotation| in degrees
    wobble: float = 1.2  # max baseline wobble amplitude in pixels
    wobble_period: float = 160.0  # wobble wavelength in pixels, scaled by U[0.5, 2]
    blur: float = 1.0  # max Gaussian blur radius in pixels
    contrast: float = 0.45  # min ink/paper contrast (1 = black on white), U[contrast, 1]
    noise: float = 0.06  # max Gaussian noise std (fraction of full scale)
    binarize: float = 0.2  # probability of thresholding the final line to black/white
    invert: float = 0.0  # probability of light text on a dark background

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


def _draw_spaced(
    im: Image.Image, x: float, y: float, text: str, font_path: str, size: int, spacing: float
) -> None:
    """Draw ``text`` glyph by glyph with extra ``spacing`` pixels between clusters."""
    for cl in _clusters(text):
        mask, dx, dy, adv = _glyph(font_path, size, cl)
        if mask is not None:
            im.paste(255, (round(x) + dx, round(y) + dy), mask)
        x += adv + spacing


def _spacing_safe(text: str) -> bool:
    """True for scripts drawn correctly glyph by glyph (Latin, Greek, Cyrillic, symbols)."""
    return all(ord(c) < 0x0590 or 0x1E00 <= ord(c) < 0x2C00 for c in text)


def _spaced_width(text: str, font_path: str, size: int, spacing: float) -> float:
    cl = _clusters(text)
    return sum(_glyph(font_path, size, c)[3] for c in cl) + spacing * max(0, len(cl) - 1)


@lru_cache(maxsize=1)
def _noise_buffer() -> np.ndarray:
    """A fixed buffer of standard normal noise; lines take random slices (fast, deterministic)."""
    return np.random.default_rng(20240601).standard_normal(1 << 21, dtype=np.float32)


def _noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    buf = _noise_buffer()
    n = shape[0] * shape[1]
    if n > buf.size:
        reps = -(-n // buf.size)
        return np.tile(buf, reps)[:n].reshape(shape)
    start = int(rng.integers(0, buf.size - n + 1))
    return buf[start : start + n].reshape(shape)


def _geometry_mesh(
    w: int,
    h: int,
    shear: float,
    angle: float,
    wob: float,
    period: float,
    phase: float,
    strip: int = 16,
) -> tuple[tuple[int, int], list[tuple[tuple[int, int, int, int], tuple[float, ...]]]]:
    """Output size and PIL MESH (piecewise-bilinear) for slant + rotation + baseline wobble."""
    cx, cy = w / 2, h / 2
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    # forward map of the source corners -> bounding box of the output
    xs = np.array([0, w, w, 0], dtype=np.float64) - cx
    ys = np.array([0, 0, h, h], dtype=np.float64) - cy
    xs = xs + shear * ys
    fx, fy = c * xs - s * ys, s * xs + c * ys
    pad = math.ceil(wob) + 1
    W = max(1, math.ceil(fx.max() - fx.min()) + 2)
    H = max(1, math.ceil(fy.max() - fy.min()) + 2 * pad)
    CX, CY = W / 2, H / 2

    def inverse(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y_ = Y - wob * np.sin(2 * np.pi * X / period + phase) - CY
        x_ = X - CX
        u, v = c * x_ + s * y_, -s * x_ + c * y_
        return u - shear * v + cx, v + cy

    x0 = np.arange(0, W, strip, dtype=np.float64)
    x1 = np.minimum(x0 + strip, W)
    zero, full = np.zeros_like(x0), np.full_like(x0, float(H))
    ulx, uly = inverse(x0, zero)
    llx, lly = inverse(x0, full)
    lrx, lry = inverse(x1, full)
    urx, ury = inverse(x1, zero)
    quads = np.stack([ulx, uly, llx, lly, lrx, lry, urx, ury], axis=1).tolist()
    mesh = [((int(a), 0, int(b), H), tuple(q)) for a, b, q in zip(x0, x1, quads, strict=True)]
    return (W, H), mesh


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
    tw = _spaced_width(text, font_path, size, spacing) if spacing else font.getlength(text)
    w = max(1, math.ceil(tw + ml + mr))
    h = max(1, math.ceil(ascent + descent + mt + mb))
    im = Image.new("L", (w, h), 0)
    if spacing:
        _draw_spaced(im, ml, mt, text, font_path, size, spacing)
    else:
        ImageDraw.Draw(im).text((ml, mt), text, font=font, fill=255, anchor="la")
    shear = rng.uniform(-cfg.skew, cfg.skew) if cfg.skew > 0 else 0.0
    angle = rng.uniform(-cfg.rotate, cfg.rotate) if cfg.rotate > 0 else 0.0
    wob = rng.uniform(0, cfg.wobble) if cfg.wobble > 0 else 0.0
    period = max(8.0, cfg.wobble_period * rng.uniform(0.5, 2.0))
    phase = rng.uniform(0, 2 * np.pi)
    if abs(shear) > 0.01 or abs(angle) > 0.05 or wob > 0.25:
        wob = wob if wob > 0.25 else 0.0
        strip = int(min(48, max(12, period / 6))) if wob else 1 << 30
        out_size, mesh = _geometry_mesh(w, h, shear, angle, wob, period, phase, strip)
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
    radius = rng.uniform(0, cfg.blur) if cfg.blur > 0 else 0.0
    if radius > 0.2:
        im = im.filter(ImageFilter.BoxBlur(radius))
    ink = np.asarray(im, dtype=np.float32)
    contrast = rng.uniform(cfg.contrast, 1.0)
    paper = rng.uniform(contrast, 1.0)
    img = np.float32(paper * 255.0) - np.float32(contrast) * ink
    sigma = rng.uniform(0, cfg.noise) if cfg.noise > 0 else 0.0
    if sigma > 0.005:
        img += _noise(rng, img.shape) * np.float32(sigma * 255.0)
    if rng.random() < cfg.binarize:
        img = np.where(img > (paper - contrast / 2) * 255.0, np.float32(255.0), np.float32(0.0))
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
        state["lines"], state["min_chars"], state["max_chars"], state["mix"]
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
    mix: float = 0.3,
    progress: bool = True,
    chunk: int = 64,
    **degrade: Any,
) -> list[str]:
    """Render ``n`` synthetic lines into ``out_dir/{prefix}-NNNNNN.tar`` shards.

    ``corpus``: None (built-in), a text file, a folder of ``.txt`` or a list of those.
    ``corpus_part``: ``"all"``, ``"train"`` or ``"heldout"`` (every ``1/holdout_text``-th
    corpus line is held out, for test sets with unseen text). ``fonts``: see
    :func:`resolve_fonts`. ``workers``: processes (None = all cores). ``degrade``:
    :class:`Degrade` fields. Deterministic for a given seed regardless of ``workers``.
    Lines no font can render are redrawn; returns the shard paths.
    """
    from menu.data.shards import ShardSink  # imports webdataset/torch: keep `--help` fast

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


# --------------------------------------------------------------------------- prepare

_SPLITS = ("train", "val", "test")


def _base_dir() -> str:
    """Original working directory (Hydra changes cwd in jobs), else the current one."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.utils import get_original_cwd

        if HydraConfig.initialized():
            return get_original_cwd()
    except Exception:  # pragma: no cover - hydra missing or not configured
        pass
    return os.getcwd()


def _file_digest(spec: Any) -> Any:
    """Content digest of corpus files (so an edited corpus regenerates)."""
    if spec is None or spec in ("", "builtin"):
        return spec
    if isinstance(spec, list | tuple):
        return [_file_digest(s) for s in spec]
    p = Path(os.path.expanduser(str(spec)))
    files = sorted(p.rglob("*.txt")) if p.is_dir() else [p]
    h = hashlib.sha1()
    for f in files:
        h.update(f.read_bytes() if f.exists() else b"<missing>")
    return [str(spec), h.hexdigest()]


def _plain(cfg: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, DictConfig | ListConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return cfg


def _abs(path: str, base: str) -> str:
    path = os.path.expanduser(str(path))
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def synth_cache_dir(synth: Mapping[str, Any], base: str | None = None) -> str:
    """Absolute cache folder ``{dir}/synth-{hash}`` for a ``synth`` config block."""
    synth = dict(_plain(synth))
    base = base or _base_dir()
    key = {k: v for k, v in synth.items() if k not in ("dir", "workers", "progress")}
    key["corpus"] = _file_digest(key.get("corpus"))
    key["test_corpus"] = _file_digest(key.get("test_corpus"))
    for k in ("fonts", "test_fonts"):
        if key.get(k) is not None or k == "fonts":
            key[k] = [[os.path.basename(f), os.path.getsize(f)] for f in resolve_fonts(key.get(k))]
    key["version"] = GENERATOR_VERSION
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return os.path.join(_abs(synth.get("dir") or "data", base), f"synth-{digest}")


def _generate_splits(
    synth: dict[str, Any], out: str, splits: Sequence[str]
) -> dict[str, list[str]]:
    common = {
        "seed": int(synth.get("seed", 0)),
        "shard_size": int(synth.get("shard_size", 1000)),
        "workers": synth.get("workers"),
        "min_chars": int(synth.get("min_chars", 5)),
        "max_chars": int(synth.get("max_chars", 48)),
        "mix": float(synth.get("mix", 0.3)),
        "holdout_text": float(synth.get("holdout_text", 0.1)),
        "progress": bool(synth.get("progress", True)),
        **dict(synth.get("degrade") or {}),
    }
    held_out_corpus = synth.get("test_corpus") is None and common["holdout_text"] > 0
    shards: dict[str, list[str]] = {}
    for split in splits:
        n = int(synth.get(f"n_{split}", 0))
        if n <= 0:
            raise ValueError(f"data.synth.n_{split} must be > 0 to generate the {split} split")
        if split == "test":
            corpus = synth.get("test_corpus") or synth.get("corpus")
            part = "heldout" if held_out_corpus else "all"
            fonts = synth.get("test_fonts") or synth.get("fonts")
        else:
            corpus = synth.get("corpus")
            part = "train" if held_out_corpus else "all"
            fonts = synth.get("fonts")
        shards[split] = generate(
            out, n, prefix=split, corpus=corpus, corpus_part=part, fonts=fonts, **common
        )
    return shards


@contextmanager
def _file_lock(path: str) -> Iterator[None]:
    """Exclusive advisory lock (POSIX flock); a no-op where fcntl is unavailable."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _ensure_synth(synth: dict[str, Any], out: str) -> None:
    """Generate all splits into ``out`` unless a complete copy (manifest.json) exists.

    Concurrent callers serialize on a lock file; each generates into a private temp
    folder renamed into place at the end, so a crash never leaves a partial cache.
    """
    manifest = os.path.join(out, "manifest.json")
    if os.path.exists(manifest):
        return
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    with _file_lock(os.path.join(parent, f".{os.path.basename(out)}.lock")):
        if os.path.exists(manifest):  # another job finished it while we waited
            return
        tmp = tempfile.mkdtemp(prefix=f".tmp-{os.path.basename(out)}-", dir=parent)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared
        try:
            shards = _generate_splits(synth, tmp, _SPLITS)
            rel = {k: [os.path.basename(p) for p in v] for k, v in shards.items()}
            with open(os.path.join(tmp, "manifest.json"), "w", encoding="utf-8") as f:
                json.dump(
                    {"synth": synth, "version": GENERATOR_VERSION, "shards": rel}, f, indent=1
                )
            try:
                os.rename(tmp, out)
            except OSError:
                if not os.path.exists(manifest):  # not a lost race: a real error
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def prepare(data_cfg: Any) -> Any:
    """Resolve the data config's ``train``/``val``/``test`` to real shard locations.

    Returns an updated copy (a ``DictConfig`` if given one, else a dict); the input is
    not modified. Relative local paths are made absolute against the original working
    directory (Hydra's, if running inside Hydra). Splits that are ``null`` while a
    ``synth`` block is present are generated (once) into ``{synth.dir}/synth-{hash}``,
    where the hash covers the generator config: a different config uses a different
    folder, an existing complete folder is reused, and generation happens in a
    temporary folder renamed into place, so concurrent jobs never see partial data.
    The chosen folder is stored as ``synth.cache_dir``.
    """
    from omegaconf import DictConfig, OmegaConf

    from menu.data.shards import brace_pattern, expand_urls

    was_omega = isinstance(data_cfg, DictConfig)
    d = OmegaConf.to_container(data_cfg, resolve=True) if was_omega else dict(data_cfg)
    base = _base_dir()
    unset = [s for s in _SPLITS if d.get(s) == "???"]
    if unset:
        raise ValueError(
            f"data.{unset[0]} is mandatory: give shard URL(s), e.g. "
            f"data.{unset[0]}='data/mine/{unset[0]}-{{000000..000009}}.tar'"
        )
    missing = [s for s in _SPLITS if d.get(s) is None]
    synth = d.get("synth")
    if missing and synth:
        out = synth_cache_dir(synth, base)
        manifest = os.path.join(out, "manifest.json")
        _ensure_synth(synth, out)
        with open(manifest, encoding="utf-8") as f:
            rel = json.load(f)["shards"]
        for s in missing:
            d[s] = brace_pattern([os.path.join(out, p) for p in rel[s]])
        d["synth"] = {**synth, "cache_dir": out}
    elif missing:
        raise ValueError(
            f"data.{missing[0]} is not set and there is no data.synth block to generate it; "
            "set data.train/val/test to shard URLs (e.g. data=shards data.train=...)"
        )
    for s in _SPLITS:
        v = d[s]
        if isinstance(v, str):
            d[s] = v if _is_url(v) else _abs(v, base)
        else:
            d[s] = [u if _is_url(u) else _abs(u, base) for u in v]
        expand_urls(d[s])  # fail early with a clear message if local shards are missing
    return OmegaConf.create(d) if was_omega else d


def _is_url(u: str) -> bool:
    from menu.data.shards import is_remote

    return is_remote(str(u))
