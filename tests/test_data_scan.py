"""Printing and scanning degradations of the generator (menu.data.scan)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import CLEAN

from menu.data import scan
from menu.data.synth import Degrade, render_line

SCAN_KNOBS = {
    "stretch": 0.3, "weight": 1.5, "rescan": 1.0, "background": 0.5, "speckle": 0.01,
    "threshold": 0.2, "jpeg": 1.0, "fade": 1.0,
}  # fmt: skip


def test_every_scan_knob_is_off_by_default_and_in_the_config():
    defaults = {f.name: f.default for f in dataclasses.fields(Degrade)}
    assert all(defaults[k] == 0.0 for k in SCAN_KNOBS)


@pytest.mark.parametrize("knob", sorted(SCAN_KNOBS))
def test_each_scan_knob_changes_the_line_and_stays_deterministic(fonts, knob):
    base = dataclasses.replace(CLEAN, binarize=1.0 if knob == "threshold" else 0.0)
    cfg = dataclasses.replace(base, **{knob: SCAN_KNOBS[knob]})
    lines = [
        render_line("Scanned 12.5% [6]", fonts[0], np.random.default_rng(s), cfg) for s in (1, 1)
    ]
    assert np.array_equal(*lines)
    plain = render_line("Scanned 12.5% [6]", fonts[0], np.random.default_rng(1), base)
    assert plain.shape != lines[0].shape or not np.array_equal(plain, lines[0])


def test_stretched_and_bold_text_is_never_cut_at_the_edges(fonts):
    cfg = dataclasses.replace(CLEAN, stretch=0.4, weight=2.0, rotate=3.0)
    for seed in range(20):
        img = render_line(
            "Wide and bold type, cut nowhere", fonts[0], np.random.default_rng(seed), cfg
        )
        ink = img < 128
        assert ink.any() and not ink[:, 0].any() and not ink[:, -1].any(), seed
        assert not ink[0].any() and not ink[-1].any(), seed


def test_stroke_grows_and_thins_ink():
    from PIL import Image

    im = Image.new("L", (40, 20), 0)
    im.paste(255, (10, 5, 30, 15))
    mass = lambda x: int(np.asarray(x, np.int64).sum())  # noqa: E731
    assert mass(scan.stroke(im, 1.0)) > mass(scan.stroke(im, 0.5)) > mass(im)
    assert mass(scan.stroke(im, -1.0)) < mass(im)


def test_jpeg_and_speckle_keep_the_shape_and_range():
    img = np.full((20, 50), 200.0, np.float32)
    img[5:15, 10:40] = 20.0
    out = scan.jpeg(img, 30)
    assert out.shape == img.shape and out.dtype == np.float32 and not np.array_equal(out, img)
    sp = scan.speckle(np.random.default_rng(0), img, 0.05)
    changed = (sp != img).mean()
    assert 0.01 < changed < 0.06 and set(np.unique(sp[sp != img])) <= {0.0, 255.0}


def test_fade_weakens_one_end_only():
    ink = np.full((10, 100), 200.0, np.float32)
    left = scan.fade(ink, 0.5, 40.0, left=True)
    assert left[:, 0].max() == 100.0 and np.array_equal(left[:, 40:], ink[:, 40:])
    assert np.all(np.diff(left[0]) >= 0)
    right = scan.fade(ink, 0.5, 40.0, left=False)
    assert np.array_equal(right, left[:, ::-1])


def test_fade_at_zero_keeps_the_data_folder_and_run_identity_of_before():
    """degrade.fade came after runs and caches were recorded (a search resumed across it
    must find its lines and runs): at 0 it is left out of both, at 0.3 it is not."""
    from menu.config import compose
    from menu.data.prepare import synth_cache_dir
    from menu.record import identity

    cfg = compose([])
    synth = cfg.data.synth
    before = {**synth, "degrade": {k: v for k, v in synth.degrade.items() if k != "fade"}}
    assert synth.degrade.fade == 0.0 and synth_cache_dir(synth) == synth_cache_dir(before)
    faded = {**synth, "degrade": {**synth.degrade, "fade": 0.3}}
    assert synth_cache_dir(faded) != synth_cache_dir(before)
    assert not any(k.endswith("degrade.fade") for k in identity(cfg))
