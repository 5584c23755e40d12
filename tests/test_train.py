"""Training, the run record, reproduction, resume, evaluation, prediction and export."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from tiny import bad_test_shard

from menu.budget import time_to
from menu.config import compose
from menu.export import export
from menu.infer import evaluate, load_checkpoint, predict
from menu.record import read_result
from menu.training import run

RECORD_KEYS = {
    "status", "choices", "overrides", "seed", "val_cer", "test_cer", "test_wer", "params",
    "downsampling", "train_seconds", "train_lines_per_s", "infer_lines_per_s", "epochs",
    "best_checkpoint", "skipped", "git_sha", "versions",
}  # fmt: skip


def test_training_lowers_cer_and_records_everything(tiny):
    record = tiny["record"]
    assert set(record) >= RECORD_KEYS, RECORD_KEYS - set(record)
    assert record["status"] == "ok"
    assert read_result(tiny["run"]) == json.loads(json.dumps(record, default=str))
    assert record["choices"] == {
        "norm": "height", "conv": "vgg", "scale": "none", "reduce": "sum", "seq": "lstm"
    }  # fmt: skip
    metrics = (tiny["run"] / "logs" / "metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    val = [float(row.split(",")[header.index("val_cer")]) for row in metrics[1:]
           if row.split(",")[header.index("val_cer")]]  # fmt: skip
    assert len(val) == 10 and val[0] >= 0.9
    assert record["val_cer"] == pytest.approx(min(val)) and min(val) < 0.5, val
    assert record["test_cer"] < 0.5
    assert record["downsampling"] == 4 and record["params"] > 0
    assert record["train_lines_per_s"] > 0 and record["infer_lines_per_s"] > 0
    assert record["cpu_seconds"] > 0 and record["wall_seconds"] > 0
    assert Path(record["best_checkpoint"]).exists()
    lines = (tiny["run"] / "test_lines.csv").read_text().splitlines()
    assert len(lines) == 1 + 32 and lines[0].startswith("key,ref,hyp,char_errors")
    assert lines[0].endswith(",font") and lines[1].endswith(",DejaVuSans")


def test_finished_run_is_skipped(tiny):
    t0 = time.perf_counter()
    again = run(compose(tiny["overrides"]), tiny["run"])
    assert again["test_cer"] == tiny["record"]["test_cer"]
    assert time.perf_counter() - t0 < 5


def test_eval_and_predict_from_the_checkpoint_alone(tiny):
    lit = load_checkpoint(tiny["record"]["best_checkpoint"])
    result = evaluate(lit, tiny["record"]["data"]["test"], lines=True)
    assert result["n"] == 32
    assert result["cer"] == pytest.approx(tiny["record"]["test_cer"])
    assert result["lines_per_s"] > 0 and result["by_length"]
    assert result["unknown_char_lines"] == 0
    # generated lines record their font: CER by font, and a font column per line
    assert list(result["by_font"]) == ["DejaVuSans"] and result["by_font"]["DejaVuSans"]["n"] == 32
    assert result["by_font"]["DejaVuSans"]["cer"] == pytest.approx(result["cer"])
    assert {line["font"] for line in result["lines"]} == {"DejaVuSans"}
    assert tiny["record"]["test_cer_by_font"] == {"DejaVuSans": round(result["cer"], 5)}
    from menu.data.convert import export_shards

    folder = tiny["root"] / "images"
    export_shards(tiny["record"]["data"]["test"], folder)
    images = sorted(str(p) for p in folder.rglob("*.png"))[:5]
    (folder / "broken.png").write_bytes(b"not a png")
    out = list(predict(lit, [*images, str(folder / "broken.png")], batch_size=2))
    assert [p for p, _, _ in out] == [*images, str(folder / "broken.png")]
    texts = [t for _, t, e in out if e is None]
    truths = [Path(p.removesuffix(".png") + ".gt.txt").read_text().strip() for p in images]
    by_ref = {}
    for line in result["lines"]:
        by_ref.setdefault(line["ref"], set()).add(line["hyp"])
    # reading the exported PNGs gives what evaluating the shards gave for those lines
    assert all(t in by_ref[g] for t, g in zip(texts, truths, strict=True)), (texts, truths)
    assert out[-1][1] is None and "cannot identify" in out[-1][2]


def test_export_round_trip(tiny):
    lit = load_checkpoint(tiny["record"]["best_checkpoint"])
    status = export(lit, tiny["root"] / "export")
    assert status["torchscript"].endswith("model.pt"), status
    assert status["onnx"].endswith("model.onnx"), status
    from menu.decode import greedy

    images, widths = torch.rand(1, 1, 24, 70), torch.tensor([70])
    want = lit.recognize(images, widths)
    scripted = torch.jit.load(status["torchscript"])
    scores, lengths = scripted(images, widths)
    assert [lit.codec.decode(i) for i in greedy(scores, lengths)] == want
    import onnxruntime as ort

    session = ort.InferenceSession(status["onnx"])
    scores, lengths = session.run(None, {"images": images.numpy(), "widths": widths.numpy()})
    got = greedy(torch.from_numpy(scores), torch.from_numpy(lengths))
    assert [lit.codec.decode(i) for i in got] == want


def test_checkpoint_loads_with_weights_only(tiny):
    ckpt = torch.load(tiny["record"]["best_checkpoint"], weights_only=True)
    assert ckpt["hyper_parameters"]["codec"]["chars"]


def test_failed_run_records_the_error(tmp_path):
    missing = tmp_path / "missing"
    cfg = compose(
        ["data=shards", f"data.train='{missing}-{{000..001}}.tar'"]
        + [f"data.{split}={missing}.tar" for split in ("val", "test")]
    )
    with pytest.raises(Exception, match="missing"):
        run(cfg, tmp_path / "run")
    record = read_result(tmp_path / "run")
    assert record["status"] == "failed" and "missing" in record["error"]


def test_bad_samples_are_counted_in_the_record(tiny, tmp_path):
    import io

    import webdataset as wds
    from PIL import Image

    def png(w: int, h: int) -> bytes:
        buf = io.BytesIO()
        Image.new("L", (w, h), 255).save(buf, format="PNG")
        return buf.getvalue()

    bad = tmp_path / "bad-000000.tar"
    with wds.TarWriter(str(bad)) as sink:
        sink.write({"__key__": "corrupt", "png": b"\x89PNG broken", "txt": b"123"})
        sink.write({"__key__": "notext", "png": png(60, 30)})
        sink.write({"__key__": "latin1", "png": png(60, 30), "txt": "caf\xe9".encode("latin-1")})
        sink.write({"__key__": "dot", "png": png(1, 1), "txt": b"1"})
        sink.write({"__key__": "huge", "png": png(20000, 30), "txt": b"12"})
    data = tiny["record"]["data"]
    overrides = [
        *tiny["overrides"],
        "budget.max_epochs=1",
        f"data.train=['{data['train']}','{bad}']",
        f"data.val='{data['val']}'",
        f"data.test='{data['test']}'",
    ]
    record = run(compose(overrides), tmp_path / "run")
    assert record["status"] == "ok"
    assert record["skipped"]["train"] == {
        "corrupt_image": 1, "missing_text": 1, "bad_utf8": 1, "too_small": 1, "too_wide": 1
    }  # fmt: skip


def test_cpu_budget_stops_training(tiny, tmp_path):
    overrides = [
        *tiny["overrides"],
        "budget.max_epochs=100",
        "budget.max_cpu_seconds=3",
        "budget.val_every_steps=10",  # the budget must hold across validations
    ]
    record = run(compose(overrides), tmp_path / "run")
    assert record["status"] == "ok"
    assert 0 < record["steps"] < 100 * 32
    assert record["epochs"] < 50
    assert record["budget"]["max_cpu_seconds"] == 3


def test_target_val_cer_ends_the_run_and_the_clock_says_when(tiny, tmp_path):
    overrides = [*tiny["overrides"], "budget.max_epochs=100", "budget.val_every_steps=12",
                 f"init_from={tiny['record']['best_checkpoint']}",  # reads from the start
                 "optim.optimizer.lr=0.00001"]  # fmt: skip
    ran = run(compose([*overrides, "budget.max_steps=36"]), tmp_path / "full")
    history = ran["val_history"]
    steps = [step for step, _ in history]
    assert [c[0] for c in ran["val_clock"]] == steps  # one clock reading per validation
    seconds = [c[1] for c in ran["val_clock"]]
    assert seconds == sorted(seconds) and seconds[0] > 0
    target = min(cer for _, cer in history)
    assert target < 1
    first = next(step for step, cer in history if cer <= target)
    record = run(compose([*overrides, f"budget.target_val_cer={target}"]), tmp_path / "tta")
    assert record["stopped_by"] == "target_val_cer"
    assert record["steps"] == first and record["val_history"][-1][1] <= target
    reached = time_to(record, target)
    assert reached["step"] == first and reached["cpu_seconds"] > 0
    assert time_to(record, -1.0) is None
    with pytest.raises(ValueError, match="target_val_cer"):
        run(compose([*overrides, "budget.target_val_cer=1.5"]), tmp_path / "bad")


def test_beam_search_decoding(tiny):
    lit = load_checkpoint(tiny["record"]["best_checkpoint"])
    greedy = evaluate(lit, tiny["record"]["data"]["test"])
    lit.cfg.decode.beam = 8
    beam = evaluate(lit, tiny["record"]["data"]["test"])
    assert beam["n"] == greedy["n"]
    assert beam["cer"] <= greedy["cer"] + 0.02


def test_step_budget_shorter_than_an_epoch_with_early_stopping(tiny, tmp_path):
    overrides = [*tiny["overrides"], "budget.max_steps=5", "early_stopping.patience=4"]
    record = run(compose(overrides), tmp_path / "run")
    assert record["status"] == "ok" and record["steps"] == 5


def test_init_from_starts_at_the_checkpoints_accuracy(tiny, tmp_path):
    best = tiny["record"]["best_checkpoint"]
    one_step = [*tiny["overrides"], "budget.max_steps=1", "optim.warmup_steps=1000"]
    cold = run(compose(one_step), tmp_path / "cold")
    warm = run(compose([*one_step, f"init_from={best}"]), tmp_path / "warm")
    assert warm["status"] == cold["status"] == "ok" and warm["steps"] == 1
    assert cold["test_cer"] > 0.9
    assert warm["test_cer"] <= tiny["record"]["test_cer"] + 0.02
    with pytest.raises(ValueError, match="does not match"):
        run(compose([*one_step, f"init_from={best}", "seq.hidden=8"]), tmp_path / "bad")
    assert read_result(tmp_path / "bad")["status"] == "failed"


def test_eval_scores_every_labelled_line(tiny, tmp_path):
    lit = load_checkpoint(tiny["record"]["best_checkpoint"])
    good = evaluate(lit, tiny["record"]["data"]["test"])
    bad = bad_test_shard(tmp_path / "bad-000000.tar")
    result = evaluate(lit, [tiny["record"]["data"]["test"], str(bad)], lines=True)
    assert result["n"] == 32 + 4  # every labelled line, the tiny one padded and read
    assert result["failed"] == {"too_wide": 1, "corrupt_image": 1, "missing_image": 1}
    assert {(f["key"], f["reason"]) for f in result["failed_lines"]} == {
        ("huge", "too_wide"), ("corrupt", "corrupt_image"), ("noimage", "missing_image")
    }  # fmt: skip
    assert result["skipped"] == {"missing_text": 1, "empty_text": 1}
    rows = {r["key"]: r for r in result["lines"]}
    assert rows["corrupt"]["hyp"] == "" and rows["corrupt"]["char_errors"] == 3
    assert rows["tiny"]["reason"] == "" and rows["tiny"]["ref"] == "7"
    tiny_errors = rows["tiny"]["char_errors"]
    assert result["char_errors"] == good["char_errors"] + 2 + 3 + 4 + tiny_errors
    assert result["ref_chars"] == good["ref_chars"] + 1 + 2 + 3 + 4


def test_the_test_pass_scores_every_labelled_line(tiny, tmp_path):
    bad = bad_test_shard(tmp_path / "bad-000000.tar")
    data = tiny["record"]["data"]
    overrides = [*tiny["overrides"], "budget.max_steps=2", f"data.train='{data['train']}'",
                 f"data.val='{data['val']}'", f"data.test=['{data['test']}','{bad}']"]  # fmt: skip
    record = run(compose(overrides), tmp_path / "run")
    assert record["test_lines"] == 36
    assert record["test_failed"] == {"too_wide": 1, "corrupt_image": 1, "missing_image": 1}
    assert record["skipped"]["test"] == {"missing_text": 1, "empty_text": 1}
    import pandas as pd

    lines = pd.read_csv(tmp_path / "run" / "test_lines.csv", keep_default_na=False)
    assert len(lines) == 36
    assert dict(zip(lines.key, lines.reason, strict=True))["huge"] == "too_wide"


def test_non_finite_losses_are_not_applied(tiny, tmp_path, monkeypatch):
    """Steps with a NaN loss are skipped and counted; the weights and the BN statistics
    stay finite; 20 in a row stop the run as diverged."""
    calls = {"n": 0}
    forward = torch.nn.CTCLoss.forward

    def sometimes_nan(self, *args):
        calls["n"] += 1
        loss = forward(self, *args)
        return loss * float("nan") if calls["n"] in (3, 4, 5) else loss

    monkeypatch.setattr(torch.nn.CTCLoss, "forward", sometimes_nan)
    record = run(compose([*tiny["overrides"], "budget.max_steps=10"]), tmp_path / "run")
    assert record["status"] == "ok" and record["skipped_steps"] == {"nonfinite_loss": 3}
    assert record["steps"] == record["batches"] == 10  # a skipped step changes nothing
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    weights = [v for v in state["state_dict"].values() if v.is_floating_point()]
    assert all(torch.isfinite(v).all() for v in weights)

    from menu.lit import LitRecognizer

    def inf_gradient(self):
        if self.global_step in (2, 6):
            next(self.parameters()).grad.fill_(float("inf"))

    monkeypatch.setattr(torch.nn.CTCLoss, "forward", forward)
    monkeypatch.setattr(LitRecognizer, "on_after_backward", inf_gradient, raising=False)
    record = run(compose([*tiny["overrides"], "budget.max_steps=10"]), tmp_path / "grad")
    assert record["skipped_steps"] == {"nonfinite_grad": 2}
    state = torch.load(tmp_path / "grad" / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values())
    monkeypatch.undo()

    def always_nan(self, *args):
        return forward(self, *args) * float("nan")

    monkeypatch.setattr(torch.nn.CTCLoss, "forward", always_nan)
    with pytest.raises(FloatingPointError, match="20 steps in a row"):
        run(compose([*tiny["overrides"], "budget.max_steps=30"]), tmp_path / "diverged")
    assert read_result(tmp_path / "diverged")["status"] == "failed"


def test_a_run_folder_belongs_to_one_configuration(tiny, tmp_path):
    from menu.config import _dirname
    from menu.record import FolderBusy, RunLock

    assert _dirname("data.train=x y/a.tar") != _dirname("data.train=x_y/a.tar")
    assert _dirname("conv=vgg,reduce=sum") == "conv=vgg,reduce=sum"  # unchanged: no hash
    # a sweep over experiments: a folder each (the experiment leads the sweep's folder name)
    assert _dirname("", "crnn") == "experiment=crnn" != _dirname("", "lstm_plain")
    assert _dirname("seed=1", "crnn") == "experiment=crnn,seed=1"
    assert _dirname("", None) == "defaults"
    # a finished folder is reused only for its own configuration
    with pytest.raises(FolderBusy, match=r"another configuration .*seq\.hidden"):
        run(compose([*tiny["overrides"], "seq.hidden=16"]), tiny["run"])
    assert read_result(tiny["run"]) == json.loads(json.dumps(tiny["record"], default=str))
    # one process per folder
    (tmp_path / "run").mkdir()
    with RunLock(tmp_path / "run"), pytest.raises(FolderBusy, match="another process"):
        run(compose([*tiny["overrides"], "budget.max_steps=1"]), tmp_path / "run")


def test_init_from_with_a_growing_codec_and_frozen_convolutions(tiny, tmp_path):
    """Fine-tuning on lines with characters the checkpoint never saw (init_codec=union):
    the output layer grows, the old classes keep their weights; freeze=[conv] keeps the
    convolutions (and their BatchNorm statistics) as they were."""
    from tiny import tiny_overrides

    corpus = tmp_path / "mixed.txt"
    corpus.write_text("\n".join(["12ab", "3b4a", "a5b6", "78ba"] * 20) + "\n")
    best = tiny["record"]["best_checkpoint"]
    overrides = [*tiny_overrides(tmp_path / "data", corpus), "budget.max_steps=3",
                 f"init_from={best}", "init_codec=union", "freeze=[conv]"]  # fmt: skip
    record = run(compose(overrides), tmp_path / "run")
    assert record["status"] == "ok" and record["num_classes"] == 1 + 10 + 2
    old = torch.load(best, weights_only=True)["state_dict"]
    new = torch.load(record["best_checkpoint"], weights_only=True)
    assert new["hyper_parameters"]["codec"]["chars"][:10] == list("0123456789")
    conv = [k for k in old if k.startswith("model.conv.")]
    assert conv and all(torch.equal(old[k], new["state_dict"][k]) for k in conv)
    head = [k for k, v in old.items() if v.shape[:1] == (11,)]  # rows = the old classes
    assert head and all(new["state_dict"][k].shape[0] == 13 for k in head)
    # the old classes kept what they learned: the digits still read as well
    digits = evaluate(load_checkpoint(record["best_checkpoint"]), tiny["record"]["data"]["test"])
    assert digits["cer"] <= tiny["record"]["test_cer"] + 0.05


@pytest.mark.parametrize(("logger", "folders"), [("none", set()), ("csv", {"logs"})])
def test_loggers_are_a_config_group(tiny, tmp_path, logger, folders):
    record = run(compose([*tiny["overrides"], "budget.max_steps=2", f"logger={logger}"]), tmp_path)
    assert record["status"] == "ok" and record["val_history"]  # the record holds the metrics
    assert {p.name for p in tmp_path.iterdir() if p.is_dir()} - {"checkpoints"} == folders
