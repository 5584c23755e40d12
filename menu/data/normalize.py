"""Line image normalizations (the ``norm`` config group).

Every normalizer is a small picklable callable built by ``hydra.utils.instantiate``
from ``conf/norm/*.yaml`` (constructor kwargs = YAML keys). ``norm(img)`` accepts a
uint8 or float 2-D array of any polarity and returns a float32 ``H x W`` ink map
(ink = 1, background = 0). Fixed-height normalizers return exactly ``height`` rows;
widths are capped at ``MAX_ASPECT * height`` (beyond that the line is squeezed; the
loader skips such lines long before, see ``max_width``).
All are vectorized NumPy/SciPy/PIL and survive empty, near-empty, single-dot,
huge and inverted inputs (no ink -> plain height rescale; zero-size -> ``height x 1``).
``pad`` (every normalizer): background columns added on both sides, as a fraction of the
output height, so that a line cropped tight to its ink (as line segmenters and scanned
data sets crop) ends the way generated lines with margins do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from menu.data.image import resample, to_ink

__all__ = ["CenterNorm", "HeightNorm", "LineNorm", "NoNorm", "Normalizer", "WordNorm"]


class Normalizer:
    """Base class: converts to an ink map, handles degenerate sizes, calls ``_apply``,
    then adds ``pad`` x height background columns on each side."""

    height: int | None

    def __init__(self, height: int | None = 48, pad: float = 0.0) -> None:
        if height is not None and int(height) < 1:
            raise ValueError(f"height must be >= 1 or None, got {height}")
        if not 0 <= pad <= 4:
            raise ValueError(f"pad must be in [0, 4] (x height), got {pad}")
        self.height = None if height is None else int(height)
        self.pad = float(pad)

    def pad_columns(self, height: int) -> int:
        """Background columns added on each side of an output ``height`` rows tall."""
        return round(self.pad * height)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        ink = to_ink(img)
        if ink.ndim != 2 or ink.shape[0] == 0 or ink.shape[1] == 0:
            return np.zeros((self.height or 1, 1), np.float32)
        out = self._apply(ink)
        out = np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0)
        if self.pad:
            p = self.pad_columns(out.shape[0])
            out = np.pad(out, ((0, 0), (p, p)))
        return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=np.float32)

    def _apply(self, ink: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        return dict(vars(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._params() == other._params()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self._params().items()))))


#: Output width cap (x height): a 1-pixel-tall sliver must not explode into a huge array.
MAX_ASPECT = 1000


def _out_width(w: float, height: int) -> int:
    return int(min(max(1, round(w)), MAX_ASPECT * height))


def _rescale_height(ink: np.ndarray, height: int) -> np.ndarray:
    h, w = ink.shape
    return resample(ink, height, _out_width(w * height / h, height))


class NoNorm(Normalizer):
    """No geometric change: polarity/contrast only. Heights vary; the batch pads them.

    ``height`` (optional) is a safety cap: taller images are scaled down to it.
    """

    def __init__(self, height: int | None = None, pad: float = 0.0) -> None:
        super().__init__(height, pad)

    def _apply(self, ink: np.ndarray) -> np.ndarray:
        if self.height is not None and ink.shape[0] > self.height:
            return _rescale_height(ink, self.height)
        return ink


class HeightNorm(Normalizer):
    """Rescale to a fixed height keeping the aspect ratio."""

    def __init__(self, height: int = 48, pad: float = 0.0) -> None:
        super().__init__(height, pad)

    def _apply(self, ink: np.ndarray) -> np.ndarray:
        assert self.height is not None
        return _rescale_height(ink, self.height)


def _moment_weights(ink: np.ndarray, threshold: float) -> np.ndarray | None:
    """Thresholded ink used for moments; falls back to the raw ink if nothing passes."""
    mask = ink > threshold
    if mask.any():
        return mask.astype(np.float32)
    if float(ink.sum()) > 1e-6:
        return ink
    return None


def _global_moments(weights: np.ndarray) -> tuple[float, float]:
    """Ink centroid row (pixel-centre coordinates) and vertical standard deviation."""
    prof = weights.sum(axis=1, dtype=np.float64)
    total = prof.sum()
    y = np.arange(weights.shape[0], dtype=np.float64) + 0.5
    cy = float((prof * y).sum() / total)
    var = float((prof * (y - cy) ** 2).sum() / total)
    return cy, float(np.sqrt(max(var, 0.0)))


class WordNorm(Normalizer):
    """Moment normalization: ink centroid row -> ``height/2``, vertical sigma -> ``spread*height``.

    Moments come from the thresholded image (``ink > threshold``). The same scale is
    applied horizontally (aspect ratio kept). ``spread`` is the fraction of the output
    height that one standard deviation of ink occupies: real lines have ink about
    2.5 sigma either side of the centroid (descender lines reach ~3.5 sigma), so the
    default 0.13 keeps ascenders and descenders (the lecture's sigma -> h/2 crops them).
    ``min_sigma`` bounds the magnification for dots/specks: sigma is clamped to at
    least ``min_sigma * input_height``. ``deskew`` (degrees, 0 = off): a skew up to that
    angle is estimated (the ink-weighted regression line of the column centroids) and
    removed by shifting each column, and sigma is measured around that line, so a
    rotated line keeps its x-height instead of shrinking.
    """

    def __init__(
        self,
        height: int = 48,
        spread: float = 0.13,
        threshold: float = 0.5,
        min_sigma: float = 0.04,
        deskew: float = 0.0,
        pad: float = 0.0,
    ) -> None:
        super().__init__(height, pad)
        if not 0 < spread <= 1:
            raise ValueError(f"spread must be in (0, 1], got {spread}")
        if not 0 <= deskew < 45:
            raise ValueError(f"deskew must be in [0, 45) degrees, got {deskew}")
        self.spread = float(spread)
        self.threshold = float(threshold)
        self.min_sigma = float(min_sigma)
        self.deskew = float(deskew)

    def _zoom(self, sigma: float, input_height: int) -> float:
        """The scale that brings a vertical ink spread ``sigma`` to ``spread * height``
        (sigma at least ``min_sigma * input_height``)."""
        assert self.height is not None
        return self.spread * self.height / max(sigma, self.min_sigma * input_height, 0.5)

    def _apply(self, ink: np.ndarray) -> np.ndarray:
        assert self.height is not None
        weights = _moment_weights(ink, self.threshold)
        if weights is None:
            return _rescale_height(ink, self.height)
        slope = _skew(weights, self.deskew) if self.deskew > 0 else 0.0
        if slope != 0.0:
            return self._straightened(ink, weights, slope)
        cy, sigma = _global_moments(weights)
        s = self._zoom(sigma, ink.shape[0])
        w = ink.shape[1]
        half = self.height / 2 / s
        out_w = _out_width(w * s, self.height)
        return resample(ink, self.height, out_w, box=(0.0, cy - half, float(w), cy + half))

    def _straightened(self, ink: np.ndarray, weights: np.ndarray, slope: float) -> np.ndarray:
        """Moments around the line ``y = cy + slope (x - cx)``; each column shifted onto it."""
        assert self.height is not None
        h, w = ink.shape
        ys = np.arange(h, dtype=np.float64)[:, None] + 0.5
        xs = np.arange(w, dtype=np.float64)[None, :] + 0.5
        total = float(weights.sum(dtype=np.float64))
        cx = float((weights * xs).sum() / total)
        cy = float((weights * ys).sum() / total)
        r = ys - (cy + slope * (xs - cx))
        s = self._zoom(float(np.sqrt((weights * r**2).sum() / total)), h)
        sh, sw = max(1, round(h * s)), _out_width(w * s, self.height)
        img = resample(ink, sh, sw)
        x_in = (np.arange(sw, dtype=np.float64) + 0.5) * w / sw
        centre = (cy + slope * (x_in - cx)) * sh / h
        rows = np.arange(self.height, dtype=np.float64)[:, None] + 0.5 - self.height / 2
        return _sample_columns(img, centre[None, :] + rows - 0.5)


def _skew(weights: np.ndarray, max_degrees: float) -> float:
    """Slope of the ink-weighted regression line through the column centroids, clamped
    to ``tan(max_degrees)``; 0 for a line shorter than three times its height."""
    h = weights.shape[0]
    mass = weights.sum(axis=0, dtype=np.float64)
    cols = mass > 0
    if cols.sum() < 3 or np.ptp(np.flatnonzero(cols)) < 3 * h:
        return 0.0
    ys = np.arange(h, dtype=np.float64) + 0.5
    yc = (weights * ys[:, None]).sum(axis=0)[cols] / mass[cols]
    x, m = np.flatnonzero(cols) + 0.5, mass[cols]
    xm, ym = np.average(x, weights=m), np.average(yc, weights=m)
    slope = float(np.sum(m * (x - xm) * (yc - ym)) / max(np.sum(m * (x - xm) ** 2), 1e-9))
    limit = float(np.tan(np.radians(max_degrees)))
    return float(np.clip(slope, -limit, limit))


class LineNorm(WordNorm):
    """Windowed moment normalization: straightens curved/skewed long lines.

    Per-column ink mass, first and second moments are Gaussian-smoothed along x with
    sigma ``window * height`` output pixels (overlapping windows), giving a local
    centroid and spread per column. The scale is set so that the typical *local*
    spread (mass-weighted RMS over columns) becomes ``spread * height`` - a skewed or
    curved line is not shrunk like with the global moments of :class:`WordNorm`. Each
    column is then resampled so its local centroid lands on ``height/2`` and its local
    spread on ``spread * height`` (local/typical ratio clamped to ``[1/max_ratio,
    max_ratio]``). Columns far from any ink fall back to the global values.
    """

    def __init__(
        self,
        height: int = 48,
        spread: float = 0.13,
        threshold: float = 0.5,
        min_sigma: float = 0.04,
        window: float = 1.0,
        max_ratio: float = 1.25,
        pad: float = 0.0,
    ) -> None:
        super().__init__(height, spread, threshold, min_sigma, pad=pad)
        self.window = float(window)
        self.max_ratio = max(1.0, float(max_ratio))

    def _local(
        self, ink: np.ndarray, weights: np.ndarray, s: float, cy_g: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Image at scale ``s`` with smoothed per-column centroid, spread and ink mass."""
        assert self.height is not None
        h, w = ink.shape
        sh, sw = max(1, round(h * s)), _out_width(w * s, self.height)
        img = resample(ink, sh, sw)  # bounded: h*s <= spread*height/min_sigma
        wts = resample(weights, sh, sw)
        ys = (np.arange(sh, dtype=np.float64) + 0.5)[:, None]
        m0 = wts.sum(axis=0, dtype=np.float64)
        my0 = (wts * ys).sum(axis=0)
        myy0 = (wts * ys**2).sum(axis=0)
        sig = max(self.window * self.height, 1e-3)
        m = ndimage.gaussian_filter1d(m0, sig, mode="constant")
        my = ndimage.gaussian_filter1d(my0, sig, mode="constant")
        cy0, sd0 = cy_g * sh / h, self.spread * self.height
        lam = 0.02 * float(m.max()) + 1e-9  # prior mass: global moments where ink is far
        cy = (my + lam * cy0) / (m + lam)
        # spread around the local centre line (so a tilt or curve does not inflate it)
        r2 = np.maximum(myy0 - 2 * cy * my0 + cy**2 * m0, 0.0)
        r2 = ndimage.gaussian_filter1d(r2, sig, mode="constant")
        sd = np.sqrt(np.maximum((r2 + lam * sd0**2) / (m + lam), 1e-6))
        return img, cy, sd, m

    def _apply(self, ink: np.ndarray) -> np.ndarray:
        assert self.height is not None
        weights = _moment_weights(ink, self.threshold)
        if weights is None:
            return _rescale_height(ink, self.height)
        cy_g, sigma_g = _global_moments(weights)
        floor = max(self.min_sigma * ink.shape[0], 0.5)
        target = self.spread * self.height
        s = target / max(sigma_g, floor)
        img, cy, sd, m = self._local(ink, weights, s, cy_g)
        for _ in range(6):  # rescale until the typical within-window spread hits the target
            local = float(np.sqrt((m * sd**2).sum() / max(m.sum(), 1e-12))) / s
            s1 = target / max(local, floor)
            if abs(s1 / s - 1.0) < 0.03:
                break
            s = s1
            img, cy, sd, m = self._local(ink, weights, s, cy_g)
        ratio = np.clip(sd / target, 1.0 / self.max_ratio, self.max_ratio)
        r = np.arange(self.height, dtype=np.float64)[:, None] + 0.5 - self.height / 2
        src_y = cy[None, :] + r * ratio[None, :] - 0.5
        return _sample_columns(img, src_y)


def _sample_columns(img: np.ndarray, src_y: np.ndarray) -> np.ndarray:
    """out[r, c] = img[src_y[r, c], c], linear in y, 0 outside (vectorized gather)."""
    h, w = img.shape
    padded = np.pad(img, ((1, 1), (0, 0)))  # zero row above and below
    y = np.clip(src_y + 1.0, 0.0, h + 1.0)
    i0 = np.minimum(np.floor(y).astype(np.int64), h)
    f = (y - i0).astype(np.float32)
    flat = padded.ravel()
    idx = i0 * w + np.arange(w)[None, :]
    return flat[idx] * (1 - f) + flat[idx + w] * f


class CenterNorm(Normalizer):
    """Classic (OCRopus-style) center-line normalizer, vectorized and ink-weighted.

    The per-column line center is the argmax of the image smoothed by a Gaussian of
    sigma ``(0.5 h, smoothness h)``, itself smoothed along x (sigma ``extra h``).
    The band half-width is ``1 + range * MAD`` where MAD is the ink-weighted mean
    absolute deviation of ink rows from the center (weighting ink instead of counting
    non-zero pixels makes it robust to grey backgrounds). The band is cut out along
    the center line and rescaled to ``height``. The half-width is at least
    ``min_band * input_height`` (bounds magnification of dots). The center is measured
    on a copy reduced to at most ``measure_height`` rows for speed on huge images.
    ``deskew`` (degrees, 0 = off): a skew up to that angle is estimated as in
    :class:`WordNorm` and taken out before the smoothing, which would otherwise flatten
    the centre line towards the ends of a rotated line.
    """

    def __init__(
        self,
        height: int = 48,
        range: float = 5.0,
        smoothness: float = 1.0,
        extra: float = 0.3,
        threshold: float = 0.5,
        min_band: float = 0.1,
        measure_height: int = 32,
        deskew: float = 0.0,
        pad: float = 0.0,
    ) -> None:
        super().__init__(height, pad)
        if not 0 <= deskew < 45:
            raise ValueError(f"deskew must be in [0, 45) degrees, got {deskew}")
        self.deskew = float(deskew)
        self.range = float(range)
        self.smoothness = float(smoothness)
        self.extra = float(extra)
        self.threshold = float(threshold)
        self.min_band = float(min_band)
        self.measure_height = int(measure_height)

    def _center(self, ink: np.ndarray, slope: float = 0.0) -> np.ndarray:
        """Smoothed per-column center row (float, full-resolution row coordinates);
        ``slope``: a skew (rows per column) taken out while smoothing, put back after."""
        h, w = ink.shape
        # reduced copy: at most measure_height rows; x reduced 4x more (the x smoothing is wide)
        fy = min(1.0, self.measure_height / h)
        hs = max(1, round(h * fy))
        ws = max(1, min(w, round(w * fy / 4)))
        fy, fx = hs / h, ws / w
        small = ink if (hs, ws) == (h, w) else resample(ink, hs, ws)
        trend = slope * fy / fx * (np.arange(ws, dtype=np.float64) - (ws - 1) / 2)
        if slope:
            rows = np.arange(hs, dtype=np.float64)[:, None]
            small = _sample_columns(small.astype(np.float32), rows + trend[None, :])
        sigma = (0.5 * h * fy, max(self.smoothness * h * fx, 1e-3))
        sm = ndimage.gaussian_filter(small, sigma, mode="constant", truncate=3.0)
        sm += 0.001 * ndimage.uniform_filter(sm, (max(1, round(hs * 0.5)), ws), mode="constant")
        a = np.argmax(sm, axis=0).astype(np.float64)
        a = ndimage.gaussian_filter1d(a, max(self.extra * h * fx, 1e-3), mode="nearest") + trend
        centers = (a + 0.5) / fy - 0.5
        if ws == w:
            return centers
        xs = (np.arange(w) + 0.5) * fx - 0.5
        return np.interp(xs, np.arange(ws), centers)

    def _apply(self, ink: np.ndarray) -> np.ndarray:
        assert self.height is not None
        weights = _moment_weights(ink, self.threshold)
        if weights is None:
            return _rescale_height(ink, self.height)
        h, w = ink.shape
        center = self._center(ink, _skew(weights, self.deskew) if self.deskew else 0.0)
        rows = np.arange(h, dtype=np.float64)[:, None]
        total = float(weights.sum(dtype=np.float64))
        mad = float((np.abs(rows - center[None, :]) * weights).sum() / total)
        r = int(max(1 + self.range * mad, self.min_band * h, 2))
        ci = np.rint(center).astype(np.int64)
        padded = np.pad(ink, ((r, r), (0, 0)))
        idx = ci[None, :] + r + np.arange(-r, r)[:, None]
        idx = np.clip(idx, 0, padded.shape[0] - 1)
        band = np.take_along_axis(padded, idx, axis=0)
        return resample(band, self.height, _out_width(w * self.height / (2 * r), self.height))
