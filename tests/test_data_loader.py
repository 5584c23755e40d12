"""Loader: padding/widths, determinism, workers, bucketing, URL forms and bad samples."""

from __future__ import annotations

import io
import tarfile
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import png_bytes

from menu.data.loader import make_loader, sum_skipped
from menu.data.normalize import HeightNorm, NoNorm, WordNorm
from menu.data.shards import expand_urls, scan_texts


def _keys(loader) -> list[str]:
    return [k for b in loader for k in b["keys"]]


def test_batches_padded_with_true_widths(synth_shards) -> None:
    norm = HeightNorm(32)
    loader = make_loader(synth_shards["pattern"], norm, batch_size=16, shuffle=0, workers=0)
    batches = list(loader)
    assert [len(b["keys"]) for b in batches] == [16, 16, 8]  # last partial batch kept
    for b in batches:
        imgs, widths = b["images"], b["widths"]
        assert imgs.dtype == torch.float32 and imgs.ndim == 4 and imgs.shape[1:3] == (1, 32)
        assert widths.dtype == torch.int64 and b["heights"].tolist() == [32] * len(widths)
        assert int(widths.max()) == imgs.shape[3]
        for i, w in enumerate(widths.tolist()):
            assert imgs[i, 0, :, w:].abs().sum() == 0  # padding is background
            assert imgs[i, 0, :, :w].max() > 0.5
        assert b["skipped"] == {}
        assert all(t == unicodedata.normalize("NFC", t) and t for t in b["texts"])
    # the true width is the width of the normalized image
    from menu.data.shards import decode_sample, iter_members

    first = next(iter_members(synth_shards["paths"][0]))
    assert norm(decode_sample(first)[0]).shape[1] == batches[0]["widths"][0]
    assert batches[0]["keys"][0] == first["__key__"]


def test_every_sample_once_and_texts_match(synth_shards) -> None:
    loader = make_loader(
        synth_shards["pattern"], WordNorm(32), batch_size=7, shuffle=10, workers=0, seed=3
    )
    got = {k: t for b in loader for k, t in zip(b["keys"], b["texts"], strict=True)}
    assert len(got) == synth_shards["n"]
    assert sorted(got.values()) == sorted(scan_texts(synth_shards["pattern"]))


def test_deterministic_seed_epochs(synth_shards) -> None:
    def make(seed: int):
        return make_loader(
            synth_shards["paths"], HeightNorm(24), batch_size=8, shuffle=20, workers=0, seed=seed
        )

    a, b = make(0), make(0)
    first = _keys(a)
    assert first == _keys(b)
    assert first != _keys(make(1))
    second = _keys(a)  # next epoch: reshuffled
    assert second != first and sorted(second) == sorted(first)
    a.set_epoch(0)
    assert _keys(a) == first


def test_workers_deterministic_and_complete(synth_shards) -> None:
    def run() -> list[str]:
        loader = make_loader(
            synth_shards["pattern"], HeightNorm(24), batch_size=8, shuffle=10, workers=2, seed=5
        )
        return _keys(loader)

    a = run()
    assert len(a) == len(set(a)) == synth_shards["n"]
    assert a == run()


def test_nonorm_pads_height(synth_shards) -> None:
    loader = make_loader(synth_shards["pattern"], NoNorm(), batch_size=8, shuffle=0, workers=0)
    b = next(iter(loader))
    hs, ws = b["heights"].tolist(), b["widths"].tolist()
    assert len(set(hs)) > 1 and b["images"].shape[2] == max(hs) and b["images"].shape[3] == max(ws)
    for i, (h, w) in enumerate(zip(hs, ws, strict=True)):
        assert (
            b["images"][i, 0, h:, :].abs().sum() == 0 and b["images"][i, 0, :, w:].abs().sum() == 0
        )


def test_bucketing_reduces_padding(synth_shards) -> None:
    def padding(bucket: bool) -> tuple[float, int]:
        loader = make_loader(
            synth_shards["pattern"],
            HeightNorm(24),
            batch_size=5,
            shuffle=40,
            workers=0,
            bucket=bucket,
        )
        pad, n = 0.0, 0
        for b in loader:
            pad += float((b["images"].shape[3] - b["widths"]).sum())
            n += len(b["keys"])
        return pad, n

    (p_plain, n_plain), (p_bucket, n_bucket) = padding(False), padding(True)
    assert n_plain == n_bucket == 40
    assert p_bucket < 0.5 * p_plain


def test_epoch_length_repeats(synth_shards) -> None:
    loader = make_loader(
        synth_shards["pattern"], HeightNorm(24), batch_size=16, shuffle=8, workers=0, epoch_length=7
    )
    assert len(loader) == 7
    batches = list(loader)
    assert len(batches) == 7 and all(len(b["keys"]) == 16 for b in batches)


def test_url_forms(synth_shards, tmp_path: Path) -> None:
    d = synth_shards["dir"]
    paths = synth_shards["paths"]
    assert expand_urls(synth_shards["pattern"]) == paths
    assert expand_urls(str(d / "train-*.tar")) == paths
    assert expand_urls(str(d)) == paths
    assert expand_urls([paths[1], paths[0]]) == [paths[1], paths[0]]
    assert expand_urls("pipe:cat x{1,2}.tar") == ["pipe:cat x1.tar", "pipe:cat x2.tar"]
    assert expand_urls("http://host/s-{0..1}.tar") == ["http://host/s-0.tar", "http://host/s-1.tar"]
    with pytest.raises(FileNotFoundError, match="not found"):
        expand_urls(str(tmp_path / "missing-{0..2}.tar"))
    with pytest.raises(FileNotFoundError, match="no shards match"):
        expand_urls(str(tmp_path / "*.tar"))
    loader = make_loader(
        f"pipe:cat {paths[0]}", HeightNorm(24), batch_size=50, shuffle=0, workers=0
    )
    assert len(next(iter(loader))["keys"]) == 20


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def bad_shards(tmp_path: Path, render) -> tuple[list[str], set[str], Counter]:
    """A shard with every kind of bad member between good ones, and a truncated shard."""
    good = png_bytes(render("good line", seed=1))
    path = tmp_path / "bad-000000.tar"
    expected: Counter = Counter()
    goods = set()
    with tarfile.open(path, "w") as tar:

        def good_sample(key: str) -> None:
            _add(tar, f"{key}.png", good)
            _add(tar, f"{key}.txt", f"text of {key}".encode())
            goods.add(key)

        good_sample("g1")
        _add(tar, "b_corrupt.png", b"\x89PNG\r\n\x1a\n garbage")
        _add(tar, "b_corrupt.txt", b"corrupt png")
        expected["corrupt_image"] += 1
        _add(tar, "b_notext.png", good)
        expected["missing_text"] += 1
        good_sample("g2")
        _add(tar, "b_noimage.txt", b"text without image")
        expected["missing_image"] += 1
        _add(tar, "b_utf8.png", good)
        _add(tar, "b_utf8.txt", b"caf\xe9 latin-1")
        expected["bad_utf8"] += 1
        _add(tar, "b_empty.png", good)
        _add(tar, "b_empty.txt", b"  \n")
        expected["empty_text"] += 1
        _add(tar, "b_tiny.png", png_bytes(np.zeros((1, 1), np.uint8)))
        _add(tar, "b_tiny.txt", b"1x1")
        expected["too_small"] += 1
        _add(tar, "b_wide.png", png_bytes(np.tile(render("wide", seed=2), (1, 300))[:, :20000]))
        _add(tar, "b_wide.txt", b"20000 pixels wide")
        expected["too_wide"] += 1
        good_sample("g3")
    # second shard: one good sample, then cut in the middle of the next image (truncated tar)
    path2 = tmp_path / "bad-000001.tar"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for key in ("t1", "t2"):
            _add(tar, f"{key}.png", good)
            _add(tar, f"{key}.txt", f"text of {key}".encode())
    padded = -(-len(good) // 512) * 512
    t2_start = 512 + padded + 512 + 512
    path2.write_bytes(buf.getvalue()[: t2_start + 512 + 100])
    goods.add("t1")
    expected["shard_error"] += 1
    return [str(path), str(path2)], goods, expected


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("workers", [0, 2, 3])  # 3 workers > 2 shards: split by sample
def test_bad_members_are_skipped_and_counted(bad_shards, workers: int) -> None:
    urls, goods, expected = bad_shards
    loader = make_loader(
        urls, HeightNorm(32), batch_size=2, shuffle=0, workers=workers, max_width=5000
    )
    batches = list(loader)
    keys = {k for b in batches for k in b["keys"]}
    assert keys == goods
    skipped = sum_skipped([b["skipped"] for b in batches])
    assert skipped == dict(expected)
    for b in batches:  # an empty batch (a worker with only bad samples) only carries counts
        assert b["images"].shape[0] == len(b["keys"]) == len(b["widths"])
        assert len(b["keys"]) > 0 or b["skipped"]


def test_only_bad_samples_still_reported(tmp_path: Path) -> None:
    path = tmp_path / "allbad.tar"
    with tarfile.open(path, "w") as tar:
        _add(tar, "a.png", b"broken")
        _add(tar, "a.txt", b"text")
        _add(tar, "b.txt", b"no image")
    batches = list(make_loader(str(path), HeightNorm(24), batch_size=4, shuffle=0, workers=0))
    assert len(batches) == 1 and tuple(batches[0]["images"].shape) == (0, 1, 24, 1)
    assert batches[0]["skipped"] == {"corrupt_image": 1, "missing_image": 1}
    assert all(isinstance(v, int) for b in batches for v in b["skipped"].values())
