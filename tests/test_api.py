"""The Python API: compose, train, load, recognize, evaluate; a user's own option."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import menu
from menu.data.convert import export_shards


def test_load_recognize_evaluate(tiny, tmp_path):
    model = menu.load(tiny["record"]["best_checkpoint"])
    export_shards(tiny["record"]["data"]["test"], tmp_path / "png")
    paths = sorted((tmp_path / "png").rglob("*.png"))[:3]
    pixels = np.asarray(Image.open(paths[1]))
    texts = model.recognize([paths[0], pixels, Image.open(paths[2])])
    assert texts == model.recognize(paths)  # an array or a PIL image reads like its file
    assert model.evaluate(tiny["record"]["data"]["test"])["n"] == 32
    assert set(model.charset) >= set("0123456789")
    with pytest.raises(ValueError, match=r"unreadable images: .*missing\.png"):
        model.recognize([tmp_path / "missing.png"])


def test_compose_and_train(tiny, tmp_path):
    cfg = menu.compose(*tiny["overrides"], "budget.max_steps=3")
    record = menu.train(cfg, tmp_path / "run")
    assert record["status"] == "ok" and record["steps"] == 3


USER_OPTION = Path(__file__).parent / "fixtures" / "user_option"  # mypkg/ + my_conf/


def test_a_users_own_option_without_forking(tiny, tmp_path):
    """A reduction in the user's package and config folder (MENU_CONFIG_PATH): it composes,
    trains through menu-train, loads for evaluation and passes menu-check-option."""
    shutil.copytree(USER_OPTION, tmp_path, dirs_exist_ok=True)
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "MENU_CONFIG_PATH": str(tmp_path / "my_conf"), "PYTHONPATH": path}
    args = [
        *tiny["overrides"],
        "budget.max_steps=3",
        "reduce=mean",
        f"hydra.run.dir={tmp_path}/run",
    ]
    subprocess.run([sys.executable, "-m", "menu.cli.train", *args], env=env, check=True,
                   capture_output=True, cwd=tmp_path)  # fmt: skip
    record = menu.record.read_result(tmp_path / "run")
    assert record["status"] == "ok" and record["choices"]["reduce"] == "mean"
    ckpt = Path(record["best_checkpoint"])
    cmd = [sys.executable, "-m", "menu.cli.eval", str(ckpt), record["data"]["test"]]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and '"n": 32' in proc.stdout, proc.stderr


@pytest.mark.slow
def test_menu_check_option_runs_the_grid_on_a_users_folder(tmp_path):
    shutil.copytree(USER_OPTION, tmp_path, dirs_exist_ok=True)
    cmd = [sys.executable, "-m", "menu.cli.check", str(tmp_path / "my_conf")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and "reduce=mean: 150 combinations ok" in proc.stdout, proc.stdout


def test_predict_formats_carry_positions_and_confidences(tiny, tmp_path):
    import json
    import xml.etree.ElementTree as ET

    from menu.data.convert import export_shards

    export_shards(tiny["record"]["data"]["test"], tmp_path / "png")
    images = [str(p) for p in sorted((tmp_path / "png").rglob("*.png"))[:3]]
    ckpt = tiny["record"]["best_checkpoint"]
    model = menu.load(ckpt)
    texts = model.recognize(images)
    run = [sys.executable, "-m", "menu.cli.predict", ckpt, *images]
    proc = subprocess.run([*run, "--format", "json"], capture_output=True, text=True, check=True)
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [x["text"] for x in lines] == texts  # the same reading, with where and how sure
    for x in lines:
        xs = [c["x0"] for c in x["chars"]]
        assert xs == sorted(xs) and all(0 <= c["x0"] < c["x1"] <= x["width"] for c in x["chars"])
        assert all(0 < c["confidence"] <= 1 for c in x["chars"])
    from menu.cli.predict import main as predict  # the CLI ran above; in-process here

    for fmt in ("hocr", "alto", "page"):
        assert predict([ckpt, *images, "--format", fmt, "--out", str(tmp_path / fmt)]) == 0
        files = sorted((tmp_path / fmt).iterdir())
        assert len(files) == 3
        for f in files:
            ET.parse(f)  # well-formed
        text = files[0].read_text()
        assert (
            "x_wconf" in text
            if fmt == "hocr"
            else ("WC=" in text if fmt == "alto" else "conf=" in text)
        )


def test_bfloat16_inference_from_the_command_line_and_the_api(tiny, capsys):
    import json

    from menu.cli.eval import main as eval_main

    ckpt, test = tiny["record"]["best_checkpoint"], tiny["record"]["data"]["test"]
    results = {}
    for precision in ("float32", "bfloat16"):
        assert eval_main([ckpt, test, "--precision", precision, "--confusions", "0"]) == 0
        results[precision] = json.loads(capsys.readouterr().out)
    assert results["float32"]["n"] == results["bfloat16"]["n"] == 32  # every line scored
    assert abs(results["float32"]["cer"] - results["bfloat16"]["cer"]) < 0.05
    model = menu.load(ckpt, precision="bfloat16")
    assert model.lit.model.compute_dtype == torch.bfloat16
    with pytest.raises(SystemExit):
        eval_main([ckpt, test, "--precision", "float16"])  # not a choice


def test_predicted_positions_are_in_the_image_when_the_norm_pads(tiny, tmp_path):
    from omegaconf import open_dict

    from menu.data.convert import export_shards
    from menu.infer import load_checkpoint, predict

    export_shards(tiny["record"]["data"]["test"], tmp_path / "png")
    images = [str(p) for p in sorted((tmp_path / "png").rglob("*.png"))[:8]]
    lit = load_checkpoint(tiny["record"]["best_checkpoint"])
    plain = {k: v for k, v, _ in predict(lit, images, detail=True)}
    with open_dict(lit.cfg):
        lit.cfg.norm.pad = 1.0  # background columns the image does not have
    padded = {k: v for k, v, _ in predict(lit, images, detail=True)}
    same = [k for k in images if plain[k]["text"] == padded[k]["text"] and plain[k]["text"]]
    assert same, "padding changed every reading of the tiny model"
    for k in same:
        frame = plain[k]["width"] / max(len(plain[k]["text"]), 1)  # a character's width
        for a, b in zip(plain[k]["chars"], padded[k]["chars"], strict=True):
            assert abs(a["x0"] - b["x0"]) < frame / 2 and abs(a["x1"] - b["x1"]) < frame / 2
            assert 0 <= b["x0"] < b["x1"] <= padded[k]["width"]
