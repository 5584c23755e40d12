"""No silent wrong answers: decompression bombs, empty evaluations, truncated per-line files,
one counting path for stats and eval, results that survive a full disk."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import webdataset as wds
from tiny import bad_test_shard

from menu.config import compose
from menu.data.convert import convert_folder
from menu.data.image import ImageTooLarge, decode_image
from menu.data.viz import shard_stats
from menu.infer import evaluate, load_checkpoint, predict
from menu.record import read_result
from menu.tables import aggregate
from menu.training import run

FIXTURES = Path(__file__).parent / "fixtures" / "runs"


def bomb(width: int = 10_000, height: int = 9_000) -> bytes:
    """A 57-byte PNG whose header declares ``width`` x ``height`` pixels (no pixel data)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_decoding(tiny, tmp_path):
    with pytest.raises(ImageTooLarge, match="10000 x 9000"):
        decode_image(bomb())
    shard = tmp_path / "bomb-000000.tar"
    with wds.TarWriter(str(shard)) as sink:
        sink.write({"__key__": "bomb", "png": bomb(), "txt": b"123"})
    lit = load_checkpoint(tiny["record"]["best_checkpoint"])
    result = evaluate(lit, [tiny["record"]["data"]["test"], str(shard)])
    assert result["n"] == 33 and result["failed"] == {"too_large": 1}
    # predict: the bomb is reported, the good images are read
    (tmp_path / "bomb.png").write_bytes(bomb(20_000, 10_000))
    good = tmp_path / "good.png"
    from menu.data.convert import export_shards

    export_shards(tiny["record"]["data"]["test"], tmp_path / "png")
    shutil.copy(next((tmp_path / "png").rglob("*.png")), good)
    out = {p: (t, e) for p, t, e in predict(lit, [str(tmp_path / "bomb.png"), str(good)])}
    assert out[str(good)][0] is not None
    assert "ImageTooLarge" in out[str(tmp_path / "bomb.png")][1]
    # convert: skipped and counted
    folder = tmp_path / "lines"
    folder.mkdir()
    (folder / "a.png").write_bytes(bomb())
    (folder / "a.gt.txt").write_text("123\n")
    report = convert_folder(folder, tmp_path / "shards")
    assert report.skip_counts() == {"too_large": 1}


def test_nothing_to_score_is_an_error_not_a_perfect_score(tiny, tmp_path):
    shard = tmp_path / "unlabelled-000000.tar"
    with wds.TarWriter(str(shard)) as sink:
        sink.write({"__key__": "a", "png": bomb(40, 30)})
    lit = load_checkpoint(tiny["record"]["best_checkpoint"])
    with pytest.raises(ValueError, match="nothing to score"):
        evaluate(lit, str(shard))
    proc = subprocess.run(
        [sys.executable, "-m", "menu.cli.eval", tiny["record"]["best_checkpoint"], str(shard)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0 and "nothing to score" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    data = tiny["record"]["data"]
    overrides = [*tiny["overrides"], "budget.max_steps=1", f"data.train='{data['train']}'",
                 f"data.val='{data['val']}'", f"data.test='{shard}'"]  # fmt: skip
    with pytest.raises(ValueError, match="test split has no labelled line"):
        run(compose(overrides), tmp_path / "run")
    assert read_result(tmp_path / "run")["status"] == "failed"


def test_eval_prints_its_result_even_if_the_lines_file_cannot_be_written(tiny, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "menu.cli.eval", tiny["record"]["best_checkpoint"],
         tiny["record"]["data"]["test"], "--lines", str(tmp_path / "no" / "such" / "dir.csv")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0 and '"cer"' in proc.stdout and "not written" in proc.stderr


def test_a_truncated_lines_file_is_reported_not_used(tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURES, runs, ignore=shutil.ignore_patterns("_make.py"))
    lines = runs / "conv=vgg,reduce=sum,seed=0" / "test_lines.csv"
    text = lines.read_text()
    lines.write_text(text[: len(text) * 2 // 3])  # cut in the middle of a row
    result = aggregate([runs], quiet=True, plots=False)
    assert "conv=vgg,reduce=sum,seed=0" in result["report"]
    assert "not used" in result["report"] or "unreadable" in result["report"]


def test_stats_and_eval_count_the_same(tiny, tmp_path):
    bad = bad_test_shard(tmp_path / "bad-000000.tar")
    broken = tmp_path / "broken-000000.tar"
    broken.write_bytes(b"not a tar archive" * 100)
    urls = [str(bad), tiny["record"]["data"]["test"], str(broken)]
    stats = shard_stats(urls)
    result = evaluate(load_checkpoint(tiny["record"]["best_checkpoint"]), urls)
    assert stats["labelled"] == result["n"]
    unscored = {k: v for k, v in stats["skipped"].items() if k in result["skipped"]}
    assert unscored == result["skipped"]
    assert unscored["shard_error"] == 1  # the broken shard, counted once by both
    image_problems = {k: v for k, v in stats["skipped"].items() if k not in result["skipped"]}
    normalized_away = {"too_wide"}  # found by normalizing, which stats does not do
    assert image_problems == {k: v for k, v in result["failed"].items() if k not in normalized_away}


def test_eval_reads_a_folder_of_images_and_transcripts(tiny, tmp_path):
    """menu-eval on a png + gt.txt folder: every transcript is scored, an unreadable or
    missing image as an empty hypothesis, an image without a transcript is skipped."""
    import json

    from menu.data.convert import export_shards

    folder = tmp_path / "lines"
    export_shards(tiny["record"]["data"]["test"], folder)
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / "broken.gt.txt").write_text("12\n")
    (folder / "alone.gt.txt").write_text("345\n")
    shutil.copy(next(folder.rglob("*.png")), folder / "unlabelled.png")
    cmd = [sys.executable, "-m", "menu.cli.eval", tiny["record"]["best_checkpoint"], str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["n"] == 32 + 2
    assert result["failed"] == {"corrupt_image": 1, "missing_image": 1}
    assert result["skipped"] == {"missing_text": 1}
