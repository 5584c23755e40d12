"""``menu-data`` command line: help texts and each subcommand on tiny data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from menu.cli.data import main


@pytest.mark.parametrize("command", ["synth", "convert", "export", "show", "stats"])
def test_help(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"menu-data {command}" in out


def test_help_as_a_program() -> None:
    for command in ("synth", "convert"):  # cheap: --help must not import torch
        res = subprocess.run(
            [sys.executable, "-m", "menu.cli.data", command, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0 and "usage: menu-data" in res.stdout


def test_synth_convert_export_stats_show(tmp_path: Path, gt_folder, capsys) -> None:
    assert (
        main(
            [
                "synth",
                str(tmp_path / "syn"),
                "-n",
                "12",
                "--shard-size",
                "5",
                "--workers",
                "1",
                "--no-progress",
                "--max-chars",
                "20",
                "--blur",
                "0.5",
                "--fonts",
                "dejavu",
            ]
        )
        == 0
    )
    assert "wrote 12 lines to 3 shard(s)" in capsys.readouterr().out

    src = gt_folder()
    (src / "broken.png").write_bytes(b"junk")
    (src / "broken.gt.txt").write_text("x\n", encoding="utf-8")
    assert (
        main(
            [
                "convert",
                str(src),
                str(tmp_path / "conv"),
                "--split",
                "train=0.75,val=0.25",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "wrote 8 samples" in out and "corrupt_image=1" in out
    report = json.loads((tmp_path / "conv" / "convert-report.json").read_text(encoding="utf-8"))
    n_train, n_val = report["written"]["train"], report["written"]["val"]
    assert n_train + n_val == 8 and n_val >= 1  # the split is drawn over the 9 pairs found

    assert (
        main(
            [
                "export",
                str(tmp_path / "conv" / "train-*.tar"),
                str(tmp_path / "back"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert f"exported {n_train} samples" in capsys.readouterr().out
    assert len(list((tmp_path / "back").rglob("*.gt.txt"))) == n_train
    assert (
        main(
            [
                "convert",
                "--reverse",
                str(tmp_path / "conv" / "val-000000.tar"),
                str(tmp_path / "back2"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "back2").rglob("*.gt.txt"))) == n_val

    assert main(["stats", str(tmp_path / "syn"), "--codec-out", str(tmp_path / "codec.json")]) == 0
    out = capsys.readouterr().out
    assert "samples: 12" in out and "skipped: none" in out
    assert json.loads((tmp_path / "codec.json").read_text(encoding="utf-8"))["chars"]

    sheet = tmp_path / "sheet.png"
    assert (
        main(["show", str(tmp_path / "syn" / "train-000000.tar"), "-o", str(sheet), "-n", "3"]) == 0
    )
    with Image.open(sheet) as im:
        assert im.width > 100 and im.height > 3 * 6 * 48  # 3 lines x (raw + 5 norms)
    assert main(["show", "-o", str(tmp_path / "s2.png"), "-n", "2", "--norm", "word", "line"]) == 0


def test_errors_are_reported_not_raised(tmp_path: Path, capsys) -> None:
    assert main(["convert", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2
    assert "error" in capsys.readouterr().err
    assert main(["stats", str(tmp_path / "missing-*.tar")]) == 2
