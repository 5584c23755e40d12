"""Synthetic generator: determinism, fonts, corpora, held-out text and the prepare() cache."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from conftest import CLEAN
from omegaconf import OmegaConf

from menu.data.fonts import font_chars, resolve_fonts
from menu.data.prepare import prepare
from menu.data.shards import iter_members, read_meta, scan_texts
from menu.data.synth import Degrade, generate, render_line
from menu.data.text import TextSource, builtin_corpus, load_corpus, split_corpus
from menu.metrics import ErrorRates, group_table


def _samples(paths: list[str]) -> list[tuple[str, bytes, bytes]]:
    return [(s["__key__"], s["png"], s["txt"]) for s in iter_members(paths)]


def test_render_line_deterministic(fonts) -> None:
    a = render_line("Same seed, same pixels", fonts[0], np.random.default_rng(7))
    b = render_line("Same seed, same pixels", fonts[0], np.random.default_rng(7))
    c = render_line("Same seed, same pixels", fonts[0], np.random.default_rng(8))
    assert a.dtype == np.uint8 and a.ndim == 2 and a.shape[0] >= 20
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_render_degradations_change_image(fonts) -> None:
    img = render_line("Clean", fonts[0], np.random.default_rng(0), CLEAN)
    assert set(np.unique(img)) >= {0, 255}  # black ink on white paper
    binary = render_line(
        "Binary", fonts[0], np.random.default_rng(0), Degrade(binarize=1.0, noise=0.1)
    )
    assert set(np.unique(binary)) <= {0, 255}
    inverted = render_line("Dark", fonts[0], np.random.default_rng(0), Degrade(invert=1.0))
    assert np.median(inverted) < 128
    with pytest.raises(ValueError, match="unknown degradation"):
        Degrade.from_dict({"bluur": 1})


def test_generate_deterministic_across_workers(tmp_path: Path) -> None:
    kw = {"seed": 3, "shard_size": 10, "progress": False, "max_chars": 20, "chunk": 8}
    one = generate(tmp_path / "w1", 24, workers=1, **kw)
    two = generate(tmp_path / "w2", 24, workers=2, **kw)
    assert [Path(p).name for p in one] == [
        "train-000000.tar",
        "train-000001.tar",
        "train-000002.tar",
    ]
    a, b = _samples(one), _samples(two)
    assert len(a) == 24 and a == b
    assert [Path(p).read_bytes() for p in one] == [
        Path(p).read_bytes() for p in two
    ]  # byte-identical
    other = _samples(generate(tmp_path / "s4", 24, workers=1, **{**kw, "seed": 4}))
    assert [t for _, _, t in other] != [t for _, _, t in a]
    val = _samples(generate(tmp_path / "val", 5, workers=1, prefix="val", **kw))
    assert val[0][0] == "val_0000000" and val[0][2] != a[0][2]  # splits draw different lines


def test_resolve_fonts(tmp_path: Path) -> None:
    dejavu = resolve_fonts("dejavu")
    assert len(dejavu) == 12 and all(os.path.exists(f) for f in dejavu)
    assert len(resolve_fonts(None)) == 16
    assert resolve_fonts("DejaVuSerif")[0].endswith("DejaVuSerif.ttf")
    assert resolve_fonts(["DejaVuSans.ttf", dejavu[0]]) == [dejavu[0]]  # de-duplicated
    folder = tmp_path / "myfonts" / "nested"
    folder.mkdir(parents=True)
    (folder / "A.ttf").write_bytes(Path(dejavu[1]).read_bytes())
    assert resolve_fonts(str(tmp_path / "myfonts")) == [str(folder / "A.ttf")]
    assert resolve_fonts(str(tmp_path / "myfonts" / "**" / "*.ttf")) == [str(folder / "A.ttf")]
    with pytest.raises(FileNotFoundError):
        resolve_fonts("NoSuchFont")


def test_font_coverage_picks_a_font_that_has_the_glyphs(tmp_path: Path) -> None:
    fonts = resolve_fonts(["STIXGeneralItalic", "DejaVuSerif", "DejaVuSans"])
    assert ["ש" in font_chars(f) for f in fonts] == [False, False, True]  # Hebrew: DejaVuSans only
    corpus = tmp_path / "he.txt"
    corpus.write_text("שלום עולם ומלואו\n", encoding="utf-8")
    paths = generate(
        tmp_path / "out",
        6,
        fonts=fonts,
        corpus=corpus,
        workers=1,
        progress=False,
        mix=0.0,
        words=0.0,
    )
    texts = list(scan_texts(paths))
    assert len(texts) == 6 and all(set(t) <= set("שלום עולם ומלואו") for t in texts)
    assert {m["font"] for m in read_meta(paths).values()} == {
        "DejaVuSans"
    }  # each line records its font
    assert len(read_meta(paths)) == 6


def test_cer_by_group() -> None:
    rates = ErrorRates(keep_lines=True)
    for key, ref, hyp in [("a", "abcd", "abcd"), ("b", "abcd", "abxd"), ("c", "ab", "")]:
        rates.add(ref, hyp, key)
    table = group_table(rates.line_records(), {"a": "Sans", "b": "Sans", "c": "Mono"})
    assert list(table) == ["Mono", "Sans"]  # worst first
    assert table["Sans"] == {"n": 2, "char_errors": 1, "ref_chars": 8, "cer": 1 / 8}
    assert table["Mono"]["cer"] == 1.0
    assert group_table(rates.line_records(), {}) == {}


def test_corpus_sources_and_holdout(tmp_path: Path) -> None:
    builtin = builtin_corpus()
    assert len(builtin) > 200 and not any(line.startswith("#") for line in builtin)
    f = tmp_path / "c.txt"
    f.write_text("alpha beta gamma\n\ndelta epsilon\n", encoding="utf-8")
    assert load_corpus(f) == ["alpha beta gamma", "delta epsilon"]
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "missing.txt")
    train, held = split_corpus(builtin, 0.1)
    assert not set(train) & set(held) and len(train) + len(held) == len(builtin)
    assert 0.05 < len(held) / len(builtin) < 0.15
    seven = ["one two three four five six seven"]
    src = TextSource(seven, min_chars=3, max_chars=12, mix=0.0, words=0.0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        t = src.sample(rng)
        assert 1 <= len(t) <= 12 and t == t.strip()
        assert set(t.split()) <= {"one", "two", "three", "four", "five", "six", "seven"}
    mixed = TextSource(builtin, mix=1.0, words=0.0)
    chars = set("".join(mixed.sample(rng) for _ in range(300)))
    assert set("0123456789$%/:") <= chars


def test_mix_caps_sets_how_many_mixed_words_are_capitals(tmp_path: Path) -> None:
    from menu.data.prepare import synth_cache_dir
    from menu.data.text import MIX_CAPS
    from menu.record import identity_sha256

    def shares(mix_caps) -> tuple[float, float]:  # (all capitals, capitalized) of the words
        src = TextSource(builtin_corpus(), mix=1.0, words=0.0, mix_caps=mix_caps)
        lines = [src.sample(np.random.default_rng(s)) for s in range(200)]
        words = [w for line in lines for w in line.split() if w.isalpha() and len(w) > 1]
        upper = float(np.mean([w.isupper() for w in words]))
        return upper, float(np.mean([w[0].isupper() for w in words])) - upper

    default = shares(None)
    assert default == shares(MIX_CAPS)  # null draws the lines drawn before the knob existed
    assert default[0] > 0.08 and default[1] > 0.3
    running_text = shares([0.01, 0.06])  # the vocabulary's own capitals come on top
    assert running_text[0] < 0.02 and running_text[1] < 0.2
    with pytest.raises(ValueError, match="mix_caps"):
        TextSource(builtin_corpus(), mix_caps=[0.8, 0.3])
    # null leaves the data cache folder and a run's identity as they were before the key
    synth = _synth_cfg(tmp_path)["synth"]
    without = synth_cache_dir(synth)
    assert synth_cache_dir({**synth, "mix_caps": None}) == without
    assert synth_cache_dir({**synth, "mix_caps": [0.01, 0.06]}) != without
    cfg = {"data": {"synth": synth}, "seed": 0}
    null = {"data": {"synth": {**synth, "mix_caps": None}}, "seed": 0}
    caps = {"data": {"synth": {**synth, "mix_caps": [0.01, 0.06]}}, "seed": 0}
    assert identity_sha256(null) == identity_sha256(cfg) != identity_sha256(caps)
    # and the knob reaches the generated lines (prepare passes it on)
    from menu.data.prepare import generate_splits

    texts = {}
    for name, mix_caps in (("default", None), ("none", [0.0, 0.0])):
        block = {**synth, "mix": 1.0, "words": 0.0, "n_train": 40, "mix_caps": mix_caps}
        paths = generate_splits(block, str(tmp_path / name), ["train"])["train"]
        texts[name] = " ".join(scan_texts(paths)).split()
    assert sum(w.isupper() and len(w) > 1 for w in texts["default"]) > 5
    assert sum(w.isupper() and len(w) > 1 for w in texts["none"]) < 3
    with pytest.raises(ValueError, match=r"does not know.*mix_cap"):
        generate_splits({**synth, "mix_cap": [0.0, 0.0]}, str(tmp_path / "typo"), ["train"])


def _synth_cfg(root: Path, **over) -> dict:
    synth = {
        "dir": str(root),
        "seed": 0,
        "n_train": 6,
        "n_val": 3,
        "n_test": 3,
        "shard_size": 4,
        "workers": 1,
        "progress": False,
        "fonts": ["DejaVuSans"],
        "test_fonts": ["DejaVuSerif"],
        "corpus": None,
        "test_corpus": None,
        "holdout_text": 0.5,
        "min_chars": 5,
        "max_chars": 20,
        "mix": 0.0,
        "degrade": {"blur": 0.5},
    }
    synth.update(over)
    return {"train": None, "val": None, "test": None, "batch_size": 4, "synth": synth}


def test_prepare_generates_once_and_caches_by_config(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = OmegaConf.create(_synth_cfg(Path("cache")))  # relative: resolved against the cwd
    out = prepare(cfg)
    assert cfg.train is None  # input untouched, a copy is returned
    cache = Path(out.synth.cache_dir)
    assert (
        cache.is_absolute()
        and cache.parent == tmp_path / "cache"
        and cache.name.startswith("synth-")
    )
    assert out.train == str(cache / "train-{000000..000001}.tar")
    assert out.val == str(cache / "val-000000.tar")
    assert len(list(scan_texts(out.train))) == 6
    # held-out text: test lines come from the other half of the corpus lines
    _, held = split_corpus(builtin_corpus(), 0.5)
    held_words = {w for line in held for w in line.split()}
    test_texts = list(scan_texts(out.test))
    assert all(set(t.split()) <= held_words for t in test_texts)
    stamp = os.path.getmtime(cache / "manifest.json")
    again = prepare(cfg)
    assert again == out and os.path.getmtime(cache / "manifest.json") == stamp  # reused
    other = prepare(OmegaConf.create(_synth_cfg(Path("cache"), seed=1)))
    assert other.synth.cache_dir != out.synth.cache_dir
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".tmp")]


def test_prepare_user_shards_resolves_and_checks(synth_shards, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(synth_shards["dir"])
    d = {
        "train": "train-{000000..000001}.tar",
        "val": ["train-000000.tar"],
        "test": "pipe:cat x.tar",
    }
    out = prepare(d)
    assert out["train"] == synth_shards["pattern"]
    assert out["val"] == [synth_shards["paths"][0]]
    assert out["test"] == "pipe:cat x.tar"
    with pytest.raises(FileNotFoundError, match="not found"):
        prepare({**d, "val": "missing-000000.tar"})
    with pytest.raises(ValueError, match=r"data\.train"):
        prepare(OmegaConf.create({"train": "???", "val": "???", "test": "???"}))


def test_encode_png_is_lossless_and_standard() -> None:
    import io

    from PIL import Image

    from menu.data.image import decode_image, encode_png

    for shape in [(1, 1), (3, 700), (57, 1)]:
        a = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
        data = encode_png(a)
        assert np.array_equal(decode_image(data), a)
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG" and im.mode == "L" and im.size == shape[::-1]
    with pytest.raises(ValueError):
        encode_png(np.zeros((0, 3), np.uint8))


def test_the_config_states_the_generators_own_defaults():
    """conf/data/synth.yaml shows every knob; its values are generate()'s and Degrade's own
    (the one source), so the config and the library cannot drift apart."""
    import dataclasses
    import inspect

    from menu.config import compose
    from menu.data.synth import Degrade, generate

    synth = compose([]).data.synth
    params = inspect.signature(generate).parameters
    keys = ("seed", "shard_size", "workers", "min_chars", "max_chars", "mix", "words", "language",
            "mix_caps", "caps_lines", "slashes")  # fmt: skip
    for key in (*keys, "holdout_text"):
        assert synth[key] == params[key].default, key
    text = inspect.signature(TextSource).parameters  # generate()'s text comes from TextSource
    for key in ("min_chars", "max_chars", "mix", "words", "language", "mix_caps", "caps_lines",
                "slashes"):  # fmt: skip
        assert text[key].default == params[key].default, key
    assert synth.mix_caps is None and params["mix_caps"].default is None
    assert dict(synth.degrade) == {f.name: f.default for f in dataclasses.fields(Degrade)}


def _ink_runs(img: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of columns with ink (dark on light)."""
    ink = (img < 128).any(axis=0)
    edges = np.flatnonzero(np.diff(np.r_[0, ink.astype(np.int8), 0]))
    return list(zip(edges[::2], edges[1::2], strict=True))


def test_word_spacing_stretches_the_spaces_and_nothing_else(fonts) -> None:
    import dataclasses

    justified = dataclasses.replace(CLEAN, word_spacing=1.0)
    ratios = []
    for seed in range(12):
        plain = _ink_runs(render_line("m m m", fonts[0], np.random.default_rng(seed), CLEAN))
        wide = _ink_runs(render_line("m m m", fonts[0], np.random.default_rng(seed), justified))
        assert len(plain) == len(wide) == 3  # the same three words ...
        assert [e - s for s, e in plain] == [e - s for s, e in wide]  # ... at their own widths
        gap = [[b[0] - a[1] for a, b in pairwise(runs)] for runs in (plain, wide)]
        (p0, p1), (w0, w1) = gap  # one stretch per line, as in justified text (to a pixel)
        assert abs(p0 - p1) <= 1 and abs(w0 - w1) <= 1
        ratios.append(w0 / p0)
    assert min(ratios) < 0.9 and max(ratios) > 1.3  # narrower and wider spaces both occur
    # a line without a space draws no random number: the same pixels as with it off
    a = render_line("unspaced", fonts[0], np.random.default_rng(3), CLEAN)
    b = render_line("unspaced", fonts[0], np.random.default_rng(3), justified)
    assert np.array_equal(a, b)
