"""Lines set vertically (menu.data.upright): turned a quarter, the way the model is surer of."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from menu.data.convert import export_shards, folder_as_shards
from menu.data.upright import is_tall, turned


def test_only_crops_much_taller_than_wide_are_turned_and_the_turns_undo_each_other():
    assert is_tall((916, 35), 3.0) and not is_tall((35, 23), 3.0)  # uw3's line / a digit
    assert not is_tall((916, 35), 0.0)  # 0: never
    line = np.arange(12, dtype=np.uint8).reshape(3, 4)  # a level line, 3 x 4
    up = np.rot90(line, 1)  # set vertically, reading bottom to top
    clockwise, counterclockwise = turned(up)
    assert np.array_equal(clockwise, line)  # the clockwise turn reads it level again
    assert np.array_equal(counterclockwise, np.rot90(line, 2))  # upside down
    assert np.array_equal(turned(np.rot90(line, -1))[1], line)  # top to bottom: the other


def _vertical_folder(src: Path, out: Path, min_ratio: float) -> dict[str, str]:
    """Each level line of ``src`` wide enough to stand tall, set vertically in ``out``:
    alternately reading bottom to top and top to bottom. Returns key -> the turn that
    reads it level."""
    expected = {}
    for i, png in enumerate(sorted(src.rglob("*.png"))):
        pixels = np.asarray(Image.open(png).convert("L"))
        if pixels.shape[1] < min_ratio * pixels.shape[0]:
            continue
        k = 1 if i % 2 == 0 else -1  # np.rot90 k=1: counterclockwise (reads bottom to top)
        rel = png.relative_to(src)
        (out / rel.parent).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rot90(pixels, k)).save(out / rel)
        gt = png.with_name(png.name.split(".")[0] + ".gt.txt")
        (out / rel.parent / gt.name).write_text(gt.read_text())
        expected[str(rel.with_suffix("")).split(".")[0]] = (
            "clockwise" if k == 1 else "counterclockwise"
        )
    return expected


def test_a_line_set_vertically_is_read_as_if_it_were_level(tiny, tmp_path):
    """The tiny digits model's test lines set vertically, both ways up (its lines are 1.3 to
    2.9 times wider than tall, so the rule's ratio is lowered to 1.4 here). Digits are the
    hard case for the choice: 0, 1 and 8 read the same upside down, and 6 and 9 swap."""
    from menu.infer import evaluate, load_checkpoint, predict

    export_shards(tiny["record"]["data"]["test"], tmp_path / "level")
    expected = _vertical_folder(tmp_path / "level", tmp_path / "vertical", min_ratio=1.5)
    assert len(expected) >= 12, "too few long lines in the tiny test split"
    lit = load_checkpoint(tiny["record"]["best_checkpoint"])
    level_shard = folder_as_shards(tmp_path / "level", tmp_path / "a")
    level = evaluate(lit, level_shard, upright=1.4)
    vertical = folder_as_shards(tmp_path / "vertical", tmp_path / "b")
    read = evaluate(lit, vertical, upright=1.4)
    never = evaluate(lit, vertical, upright=0.0)
    assert level["turned"] == {} and never["turned"] == {}  # level lines, or the rule off
    assert set(read["turned"]) == set(expected) and read["n"] == len(expected)
    right = sum(read["turned"][k] == expected[k] for k in expected)
    assert right >= 0.75 * len(expected), (right, len(expected))
    assert level["cer"] < 0.3 and read["cer"] < level["cer"] + 0.15  # reads as level lines
    assert never["cer"] > 0.8  # read as it stands: next to nothing
    images = sorted(str(p) for p in (tmp_path / "vertical").rglob("*.png"))
    for _, detail, error in predict(lit, images, detail=True, upright=1.4):
        assert error is None and detail["turned"] in ("clockwise", "counterclockwise")
        assert detail["width"] > 1.4 * detail["height"]  # the turned image's frame
