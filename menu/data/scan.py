"""What printing and scanning do to a rendered line, for the synthetic generator.

Each function takes the line and the values already drawn for it (the caller draws them
from the line's seeded generator, so lines stay deterministic) and returns the changed
line. Geometry and stroke functions work on the PIL ink image (ink = 255 on 0) before
the paper is made; the others on the float32 grey image (paper light, ink dark).
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFilter


def stretch(im: Image.Image, factor: float) -> Image.Image:
    """Condensed (< 1) or wide (> 1) type: the width scaled by ``factor``."""
    w, h = im.size
    return im.resize((max(1, round(w * factor)), h), Image.BILINEAR)


def stroke(im: Image.Image, pixels: float) -> Image.Image:
    """Bold (> 0) or light (< 0) strokes: grown or thinned by about ``pixels`` on each
    side (whole pixels by 3x3 max/min filters, the fraction by blending)."""
    grow = pixels > 0
    whole, frac = divmod(abs(pixels), 1.0)
    size = 3
    for _ in range(int(whole)):
        im = im.filter(ImageFilter.MaxFilter(size) if grow else ImageFilter.MinFilter(size))
    if frac > 0.05:
        more = im.filter(ImageFilter.MaxFilter(size) if grow else ImageFilter.MinFilter(size))
        im = Image.blend(im, more, float(frac))
    return im


def rescan(im: Image.Image, factor: float) -> Image.Image:
    """Scanned at a lower resolution: down by ``factor`` (>= 1), back up to the size."""
    w, h = im.size
    small = (max(1, round(w / factor)), max(1, round(h / factor)))
    return im.resize(small, Image.BOX).resize((w, h), Image.BILINEAR)


def stains(rng: np.random.Generator, shape: tuple[int, int], amount: float) -> np.ndarray:
    """Uneven paper (stains, lighting) as a smooth ink field in ``[0, 255 * amount]``."""
    h, w = shape
    cells = rng.random((3, max(2, w // max(h, 1) + 2)), dtype=np.float32)
    field = Image.fromarray(cells).resize((w, h), Image.BICUBIC)
    return np.float32(255.0 * amount) * np.clip(np.asarray(field, np.float32), 0.0, 1.0)


def fade(ink: np.ndarray, level: float, length: float, left: bool) -> np.ndarray:
    """Print fading toward one end of the line (light inking, a binding's shadow): the ink
    scaled by ``level`` at that end, rising linearly to full strength over ``length`` pixels.
    Thin and blurred strokes there then fall under a binarization threshold and break."""
    w = ink.shape[1]
    ramp = np.clip(np.arange(w, dtype=np.float32) / np.float32(max(length, 1.0)), 0.0, 1.0)
    ramp = np.float32(level) + np.float32(1.0 - level) * ramp
    return ink * (ramp if left else ramp[::-1])


def speckle(rng: np.random.Generator, img: np.ndarray, density: float) -> np.ndarray:
    """Dust and dropouts: a fraction ``density`` of pixels set to black or white."""
    hit = rng.random(img.shape, dtype=np.float32) < density
    dark = rng.random(img.shape, dtype=np.float32) < 0.5
    img = img.copy()
    img[hit & dark] = 0.0
    img[hit & ~dark] = 255.0
    return img


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG artifacts: the grey image through an encoder at ``quality`` (1-95)."""
    buf = io.BytesIO()
    Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8)).save(
        buf, format="JPEG", quality=int(quality)
    )
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"), np.float32)


@lru_cache(maxsize=1)
def _noise_buffer() -> np.ndarray:
    """A fixed buffer of standard normal noise; lines take random slices (fast, deterministic)."""
    return np.random.default_rng(20240601).standard_normal(1 << 21, dtype=np.float32)


def noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    buf = _noise_buffer()
    n = shape[0] * shape[1]
    if n > buf.size:
        reps = -(-n // buf.size)
        return np.tile(buf, reps)[:n].reshape(shape)
    start = int(rng.integers(0, buf.size - n + 1))
    return buf[start : start + n].reshape(shape)


def geometry_mesh(
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
