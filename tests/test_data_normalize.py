"""Normalizations: height, centering, no cropping, degenerate inputs, config and pickling."""

from __future__ import annotations

import pickle
from inspect import signature

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from menu.config import CONF_DIR, options
from menu.data.image import to_ink
from menu.data.normalize import CenterNorm, HeightNorm, LineNorm, NoNorm, WordNorm

H = 48
FIXED = [HeightNorm(H), WordNorm(H), LineNorm(H), CenterNorm(H)]
CENTERING = [WordNorm(H), LineNorm(H), CenterNorm(H)]
ALL = [NoNorm(), *FIXED]
# ascenders, descenders, capitals with accents, brackets that span the full body
TEXTS = [
    "Typography jumps quickly over lazy dogs",
    "ounce ran over me",
    "gggg ppp yyy jjj qqq",
    "(Quoth) [the] {raven} |never| more",
    "Égypte Ångström façade",
    "ALL CAPS 1234",
]
CONF_NORM = CONF_DIR / "norm"


def _ink_rows(out: np.ndarray, thr: float = 0.3) -> np.ndarray:
    return np.nonzero(out.max(axis=1) > thr)[0]


def _centroid_row(out: np.ndarray) -> float:
    w = (out > 0.5).sum(axis=1).astype(float)
    return float((w * (np.arange(out.shape[0]) + 0.5)).sum() / w.sum())


@pytest.mark.parametrize("norm", FIXED, ids=lambda n: type(n).__name__)
def test_fixed_height_and_range(norm, render) -> None:
    out = norm(render("Hello world, quickly!"))
    assert out.dtype == np.float32 and out.shape[0] == H and out.shape[1] > 20
    assert out.min() >= 0.0 and out.max() <= 1.0 and out.max() > 0.9


@pytest.mark.parametrize("norm", CENTERING, ids=lambda n: type(n).__name__)
def test_centroid_near_middle(norm, render) -> None:
    for i, text in enumerate(TEXTS):
        img = render(text, font=i % 4, seed=i, margin=0.6)  # large random margins move the text
        assert abs(_centroid_row(norm(img)) - H / 2) < 0.1 * H, text


@pytest.mark.parametrize("norm", FIXED, ids=lambda n: type(n).__name__)
def test_no_ascender_descender_cropping(norm, render, fonts) -> None:
    """Every ink row of the line is kept: no stroke is cut by the top or bottom border."""
    for i, text in enumerate(TEXTS):
        for font in range(0, len(fonts), 3):
            out = norm(render(text, font=font, seed=i))
            rows = _ink_rows(out)
            assert rows.min() >= 1 and rows.max() <= H - 2, (text, font, rows.min(), rows.max())
            assert out[0].max() < 0.3 and out[-1].max() < 0.3


def test_moment_norms_use_the_height(render) -> None:
    """The default spread fills a useful part of the box (not a tiny line in the middle)."""
    for norm in CENTERING:
        rows = _ink_rows(norm(render("Typography jumps quickly")))
        assert rows.max() - rows.min() > 0.55 * H


def test_lecture_factor_crops(render) -> None:
    """sigma -> h/2 (spread 0.5) crops ascenders/descenders: why the default is smaller."""
    out = WordNorm(H, spread=0.5)(render("Typography jumps quickly"))
    assert out[0].max() > 0.5 or out[-1].max() > 0.5


def test_line_norm_straightens_curved_line(render) -> None:
    img = render("a long curved line of text that bends up and down", margin=1.0)
    h, w = img.shape
    shift = 0.25 * h * np.sin(2 * np.pi * np.arange(w) / w)
    rows = np.clip(np.rint(np.arange(h)[:, None] - shift[None, :]).astype(int), 0, h - 1)
    curved = img[rows, np.arange(w)[None, :]]

    def wander(out: np.ndarray) -> float:
        ink = (out > 0.5).astype(float)
        cols = np.array_split(np.arange(out.shape[1]), 8)
        ys = np.arange(out.shape[0])[:, None] + 0.5
        cents = [(ink[:, c] * ys).sum() / ink[:, c].sum() for c in cols if ink[:, c].sum() > 20]
        return float(np.std(cents))

    assert wander(LineNorm(H)(curved)) < 0.5 * wander(WordNorm(H)(curved))


def test_line_norm_keeps_size_of_skewed_line(render) -> None:
    """A rotated line is straightened at the size of the upright one (WordNorm shrinks it)."""
    from PIL import Image

    img = render("a long line of text, slightly rotated on the page", margin=0.8)
    upright = LineNorm(H)(img).shape[1]
    rotated = np.asarray(Image.fromarray(img).rotate(-5, expand=True, fillcolor=255))
    assert abs(LineNorm(H)(rotated).shape[1] - upright) < 0.12 * upright
    assert WordNorm(H)(rotated).shape[1] < 0.8 * upright


@pytest.mark.parametrize("angle", [-3.0, 1.5, 3.0])
@pytest.mark.parametrize("name", ["word", "line", "center"])
def test_a_line_rotated_by_up_to_3_degrees_comes_out_straight_at_its_size(render, name, angle):
    """As configured in conf/norm (what a user gets)."""
    from PIL import Image

    norm = instantiate(OmegaConf.load(CONF_NORM / f"{name}.yaml"), height=H)

    img = render("a long line of text, rotated on the page by the scanner", margin=0.8)
    rotated = np.asarray(Image.fromarray(img).rotate(angle, expand=True, fillcolor=255))
    upright, out = norm(img), norm(rotated)
    assert abs(out.shape[1] - upright.shape[1]) < 0.1 * upright.shape[1]  # same x-height
    ink = (out > 0.5).astype(float)
    mass = ink.sum(axis=0)
    cols = np.flatnonzero(mass)
    ys = np.arange(H)[:, None] + 0.5
    centroids = (ink * ys).sum(axis=0)[cols] / mass[cols]
    tilt = abs(np.polyfit(cols, centroids, 1)[0]) * out.shape[1]  # rows from end to end
    assert tilt < 0.1 * H, tilt


def test_word_norm_deskew_is_off_by_default_and_bounded(render) -> None:
    from PIL import Image

    img = render("a long line of text, rotated on the page by the scanner", margin=0.8)
    rotated = np.asarray(Image.fromarray(img).rotate(3, expand=True, fillcolor=255))
    assert WordNorm(H)(rotated).shape[1] < 0.8 * WordNorm(H)(img).shape[1]  # shrunk
    bounded = WordNorm(H, deskew=1)(rotated)  # removes 1 of the 3 degrees only
    assert (
        WordNorm(H)(rotated).shape[1] < bounded.shape[1] < WordNorm(H, deskew=5)(rotated).shape[1]
    )
    with pytest.raises(ValueError, match="deskew"):
        WordNorm(H, deskew=50)


DEGENERATE = {
    "empty": np.zeros((0, 0), np.uint8),
    "zero_width": np.zeros((12, 0), np.uint8),
    "white": np.full((40, 200), 255, np.uint8),
    "black": np.zeros((40, 200), np.uint8),
    "grey": np.full((40, 200), 128, np.uint8),
    "dot": np.pad(np.zeros((3, 3), np.uint8), ((20, 20), (100, 100)), constant_values=255),
    "1x1": np.zeros((1, 1), np.uint8),
    "sliver_1x20000": np.full((1, 20000), 255, np.uint8),
    "tall_3000x5": np.full((3000, 5), 255, np.uint8),
    "noise": np.random.default_rng(0).integers(0, 256, (40, 300)).astype(np.uint8),
    "nan_float": np.full((10, 10), np.nan, np.float32),
    "bool": np.eye(20, dtype=bool),
}


@pytest.mark.parametrize("norm", ALL, ids=lambda n: type(n).__name__)
@pytest.mark.parametrize("name", list(DEGENERATE))
def test_degenerate_inputs(norm, name) -> None:
    out = norm(DEGENERATE[name])
    assert out.dtype == np.float32 and out.ndim == 2 and out.shape[1] >= 1
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    if norm.height is not None:
        assert out.shape[0] == H
    assert out.shape[1] <= 1000 * H


@pytest.mark.parametrize("norm", ALL, ids=lambda n: type(n).__name__)
def test_huge_and_wide_lines(norm, render) -> None:
    line = render("Huge scanned line")
    huge = np.kron(line, np.ones((10, 10), np.uint8))  # ~500 x 2500 pixels
    out = norm(huge)
    assert np.isfinite(out).all() and out.max() > 0.5
    if norm.height is not None:
        assert out.shape[0] == H
        small = norm(line)
        assert abs(out.shape[1] - small.shape[1]) < 0.15 * small.shape[1]  # scale invariant
    wide = np.tile(line, (1, 25))  # ~20000 px wide
    assert np.isfinite(norm(wide)).all()


@pytest.mark.parametrize("norm", ALL, ids=lambda n: type(n).__name__)
def test_inverted_polarity_and_float_input(norm, render) -> None:
    line = render("Polarity test gjy")
    base = norm(line)
    assert np.abs(norm(255 - line) - base).max() < 1e-4
    assert np.abs(norm(line.astype(np.float32) / 255) - base).max() < 1e-4


def test_to_ink_grey_background_and_dark_background() -> None:
    img = np.full((30, 60), 180, np.uint8)
    img[10:20, 10:50] = 40
    ink = to_ink(img)
    assert ink[0, 0] == 0.0 and ink[15, 20] == pytest.approx(1.0)
    inv = to_ink(255 - img)
    assert np.allclose(inv, ink)
    assert to_ink(np.full((5, 5), 255, np.uint8)).max() == 0.0


def test_center_norm_ignores_grey_background(render) -> None:
    line = render("Center line normalizer")
    grey = (line.astype(np.float32) * (170 / 255)).astype(np.uint8)  # paper 170, ink 0
    a, b = CenterNorm(H)(line), CenterNorm(H)(grey)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 0.02


@pytest.mark.parametrize("name", options("norm"))
def test_instantiate_from_yaml_and_pickle(name, render) -> None:
    cfg = OmegaConf.load(CONF_NORM / f"{name}.yaml")
    norm = instantiate(cfg)
    assert norm.height == cfg.height
    for key in cfg:
        if key != "_target_":
            assert getattr(norm, key) == cfg[key], key  # every YAML key is a constructor parameter
    clone = pickle.loads(pickle.dumps(norm))
    assert clone == norm
    line = render("pickle me")
    assert np.array_equal(clone(line), norm(line))


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError):
        HeightNorm(0)
    with pytest.raises(ValueError):
        WordNorm(48, spread=0.0)


@pytest.mark.parametrize("norm", ALL, ids=lambda n: type(n).__name__)
def test_pad_adds_background_columns_on_both_sides_and_nothing_else(norm, render) -> None:
    line = render("tight.")
    plain = norm(line)
    args = {k: v for k, v in norm._params().items() if k in signature(type(norm)).parameters}
    padded = type(norm)(**{**args, "pad": 0.25})(line)
    p = round(0.25 * plain.shape[0])
    assert p > 0 and padded.shape == (plain.shape[0], plain.shape[1] + 2 * p)
    assert np.array_equal(padded[:, p:-p], plain)
    assert not padded[:, :p].any() and not padded[:, -p:].any()
    with pytest.raises(ValueError, match="pad"):
        type(norm)(**{**args, "pad": -1.0})
