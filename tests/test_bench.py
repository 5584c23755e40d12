"""The benchmark harness (benchmarks/) on a tiny model and tiny synthetic data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tiny import tiny_overrides, write_digits_corpus

import benchmarks as bench
from benchmarks.train import _rate


def tiny_bench_overrides(root: Path) -> list[str]:
    corpus = write_digits_corpus(root / "digits.txt")
    return [
        *tiny_overrides(root / "data", corpus),
        "data.synth.n_train=96",
        "data.synth.n_val=8",
        "data.synth.n_test=16",
        "data.shuffle=16",
    ]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    extra = tiny_bench_overrides(root)
    train = bench.train_compare(
        "conv_bilstm",
        data_dir=root / "data",
        work_dir=root,
        steps=3,
        warmup=1,
        repeats=1,
        threads=1,
        variants=("data.bucket=false",),
        peak_gflops=10.0,
        extra=extra,
    )
    from menu.config import compose

    cfg = compose(
        bench.bench_overrides("conv_bilstm", data_dir=root, steps=1, threads=1, extra=extra)
    )
    data = bench.prepare_data(cfg)
    return {"root": root, "extra": extra, "train": train, "data": data}


def test_stats_and_rate():
    s = bench.stats([3.0, 1.0, 2.0])
    assert (s["median"], s["min"], s["max"], s["runs"]) == (2.0, 1.0, 3.0, [3.0, 1.0, 2.0])
    assert bench.stats([])["median"] is None
    r = _rate([0.0, 1.0, 3.0], [8, 16, 32], warmup=1)
    assert r == {"lines_per_s": 8.0, "seconds": 3.0, "lines": 24, "timed_steps": 2}
    with pytest.raises(ValueError):
        _rate([0.0], [8], warmup=1)
    assert bench.train_lines_needed(16, 35, 500) == 1600
    assert bench.train_lines_needed(16, 100, 500) == 2200


def test_train_variants_cover_the_tuned_keys():
    from menu.config import compose

    cfg = compose(["experiment=conv_bilstm"])
    variants = bench.train_variants(cfg)
    flipped = variants[: len(bench.TUNED)]
    assert flipped == [f"{k}={str(not bench.base_value(cfg, k)).lower()}" for k in bench.TUNED]
    assert variants[len(bench.TUNED) :] == list(bench.MEASURED)
    assert all(isinstance(bench.base_value(cfg, k), bool) for k in bench.TUNED)
    assert bench.base_value(compose(flipped), "data.bucket") != cfg.data.bucket
    for variant in variants:  # each one composes
        compose(["experiment=conv_bilstm", variant])


def test_matmul_peak_is_positive():
    m = bench.matmul_peak(n=128, repeats=2)
    assert m["n"] == 128 and m["gflops"]["median"] > 0 and len(m["gflops"]["runs"]) == 2


def test_framework_and_bare_loop_measure_the_same_batches(tiny):
    t = tiny["train"]
    assert set(t["settings"]) == {"default", "data.bucket=false"}
    assert t["speedups"]["data.bucket=false"] > 0
    s = t["settings"]["default"]
    for key in ("framework_lines_per_s", "bare_lines_per_s", "framework_gflops", "bare_gflops"):
        assert s[key]["median"] > 0, key
    assert s["same_batches"], "the bare loop must see the framework's batches"
    assert s["ratio_of_medians"] > 0 and s["menu_train_recorded_lines_per_s"]["median"] > 0
    assert s["step_flops"]["flops"] > 0 and s["gflop_per_line"] > 0
    assert "aten.convolution" in s["step_flops"]["by_op"]
    assert 0 < s["framework_fraction_of_peak"] < 100
    assert t["data_workers"] == 0 and t["threads"] == 1 and t["compile"] == {"run": False}
    assert Path(t["checkpoint"]).exists()


def test_data_throughput_per_norm(tiny):
    norms = bench.norm_configs("conv_bilstm")
    assert set(norms) >= {"height", "center", "none", "word", "line"}
    out = bench.data_throughput(
        tiny["data"].train, {k: norms[k] for k in ("height", "center")}, lines=16, batch_size=8,
        repeats=1,
    )  # fmt: skip
    assert set(out) == {"height", "center"}
    assert all(v["lines"] == 16 and v["lines_per_s"]["median"] > 0 for v in out.values())


def test_infer_throughput(tiny):
    out = bench.infer_throughput(
        tiny["train"]["checkpoint"], tiny["data"].test, batch_sizes=(1, 8), repeats=1
    )
    assert set(out["batch_sizes"]) == {"1", "8"}
    for v in out["batch_sizes"].values():
        assert v["lines"] == 16 and v["lines_per_s"]["median"] > 0 and v["ms_per_line"] > 0
        assert v["end_to_end_lines_per_s"]["median"] > 0
    assert out["channels_last"] is True and out["conv_chunk"] == 1
    assert set(out["variants"]) == {
        "channels_last=false", "conv_chunk=0", "batchnorm_folded", "folded_bf16", "folded_int8"
    }  # fmt: skip
    assert all(v["8"]["lines_per_s"]["median"] > 0 for v in out["variants"].values())
    assert abs(out["variants"]["batchnorm_folded"]["8"]["cer_change"]) < 1e-9  # same function
    assert 0 <= out["variants"]["folded_int8"]["8"]["cer"] <= 1
    assert 0 <= out["variants"]["folded_bf16"]["8"]["cer"] <= 1


def test_score_keeps_spaces_unless_collapsed():
    assert bench.score(["a b"], ["a  b"])["cer"] == pytest.approx(1 / 3)
    assert bench.score(["a b"], [" a  b "], collapse=True)["cer"] == 0
    assert bench.score(["caf\u00e9"], ["cafe\u0301"])["cer"] == 0  # NFC on both sides
    assert bench.clean_tesseract("text \n\f") == "text "


def test_tesseract_absent_is_reported(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract on this PATH
    out = bench.tesseract_compare(tiny["train"]["checkpoint"], tiny["data"].test, tmp_path, lines=4)
    assert out["tesseract"]["available"] is False
    assert "not found" in out["tesseract"]["reason"]
    assert out["lines"] == 4 and out["menu"]["lines_per_s"] > 0 and out["menu"]["cer"] >= 0
    assert "NFC" in out["scoring"]
    assert list(out["by_font"]) == ["DejaVuSans"] and out["by_font"]["DejaVuSans"]["lines"] == 4
    assert out["by_font"]["DejaVuSans"]["menu_cer"] == pytest.approx(out["menu"]["cer"])
    beam = bench.tesseract_compare(
        tiny["train"]["checkpoint"], tiny["data"].test, tmp_path, lines=4, menu_decode={"beam": 4}
    )
    assert beam["menu"]["decode"] == {"beam": 4} and beam["menu"]["cer"] >= 0
    assert "(beam 4)" in bench.table({"tesseract": beam})


def test_tesseract_comparison_scores_every_labelled_line(tiny, tmp_path, monkeypatch):
    from tiny import bad_test_shard

    monkeypatch.setenv("PATH", str(tmp_path))  # menu's side only
    bad = bad_test_shard(tmp_path / "bad-000000.tar")
    items = bench.write_test_pngs(str(bad), tmp_path / "png")
    assert [(k, p is None) for k, p, *_ in items] == [
        ("tiny", False), ("huge", False), ("corrupt", True), ("noimage", True)
    ]  # fmt: skip
    out = bench.tesseract_compare(tiny["train"]["checkpoint"], str(bad), tmp_path)
    assert out["lines"] == 4 and out["unreadable_lines"] == 2
    assert out["menu"]["ref_chars"] == 1 + 2 + 3 + 4 and out["menu"]["char_errors"] >= 3 + 4


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
def test_tesseract_compare_runs(tiny, tmp_path):
    out = bench.tesseract_compare(tiny["train"]["checkpoint"], tiny["data"].test, tmp_path, lines=4)
    t = out["tesseract"]
    assert t["available"] and t["processes"] == 2 and t["lines_per_s"] > 0
    assert t["cer"] >= 0 and len(t["examples"]) == 3
    assert t["cer"] < 0.5, t["examples"]  # clean printed digits: tesseract reads them
    assert out["by_font"]["DejaVuSans"]["tesseract_cer"] == pytest.approx(t["cer"])
    d = out["tesseract_minus_menu"]
    assert d["lines"] == 4 and d["ci95"][0] <= d["cer_difference"] <= d["ci95"][1]
    assert d["cer_difference"] == pytest.approx(t["cer"] - out["menu"]["cer"])
    text = bench.table({"tesseract": out})
    assert "CER by font (menu / tesseract):" in text and "paired bootstrap" in text


def test_targets_and_table(tiny):
    result = {
        "preset": "conv_bilstm",
        "machine": {"cores": 2},
        "train": {"cpu": tiny["train"]},
        "data": {"lines": 16, "norms": {"height": {"lines_per_s": bench.stats([1e6])}}},
    }
    t = bench.targets(result)
    assert set(t) == {"train_framework_vs_bare_cpu", "data_height_vs_training"}
    assert t["data_height_vs_training"]["met"]
    result["targets"] = t
    text = bench.table(result)
    assert "framework" in text and "norm=height" in text and "targets:" in text


def test_profile_families_and_the_bound_the_rest_of_the_step_sets():
    assert [bench.family(n) for n in ("aten::mkldnn_convolution", "aten::convolution_backward",
            "aten::mkldnn_rnn_layer", "aten::addmm", "aten::native_batch_norm_backward",
            "aten::max_pool2d_with_indices", "aten::fill_", "aten::threshold_backward",
            "aten::_foreach_add_", "aten::_ctc_loss")] == [
        "convolution", "convolution", "lstm + matmul", "lstm + matmul", "batch norm",
        "pooling", "copy / layout", "elementwise", "optimizer", "ctc"]  # fmt: skip
    events = [("aten::mkldnn_convolution", 1.0), ("aten::mm", 1.0), ("aten::fill_", 2.0)]
    flops = {"aten.convolution.default": 4e9, "aten.mm.default": 2e9}
    p = bench.summarize(events, flops, peak_gflops=6.0)
    assert p["flop_share"] == 0.5 and p["gflops"] == 1.5 and p["fraction_of_matmul_peak"] == 0.25
    assert (
        p["families"]["convolution"]["gflops"] == 4.0
        and p["families"]["copy / layout"]["share"] == 0.5
    )
    assert p["bound"] == 6.0 / (1.0 + 2.0) / 6.0  # 6 GFLOP at 6 GFLOP/s = 1 s, plus 2 s of the rest
    fast = bench.summarize(events, flops, peak_gflops=2.0)  # the FLOP ops beat the "peak"
    assert fast["bound"] >= fast["fraction_of_matmul_peak"]
    with pytest.raises(ValueError, match="no operator time"):
        bench.summarize([], {}, None)


def test_op_profile_of_a_few_steps(tiny):
    from menu.config import compose

    cfg = compose(bench.bench_overrides("conv_bilstm", data_dir=tiny["root"] / "data", steps=1,
                                        threads=1, extra=tiny["extra"]))  # fmt: skip
    p = bench.op_profile(cfg, warmup=1, steps=2, peak_gflops=10.0)
    assert 0 < p["flop_share"] < 1 and p["gflops"] > 0 and 0 < p["bound"] <= 1
    assert abs(sum(f["share"] for f in p["families"].values()) - 1) < 1e-9
    assert p["families"]["convolution"]["gflops"] > 0 and p["top_ops"]
    assert "at most" in "\n".join(bench.profile_rows(p))


def test_time_to_accuracy_compares_recipes(tiny, tmp_path):
    recipe = ["experiment=conv_bilstm", *tiny["extra"], "budget.max_steps=8"]
    recipes = {"base": recipe, "other": [*recipe, "optim.optimizer.lr=0.001"]}
    out = bench.tta_compare(recipes, work_dir=tmp_path, targets=(0.0,), seeds=(0, 1),
                            threads=1, val_every_steps=4, jobs=2,  # two processes
                            baseline_seeds=1, baseline_cpu_seconds=1e-3)  # fmt: skip
    assert list(out["recipes"]) == ["base", "other"]
    assert [len(rec["runs"]) for rec in out["recipes"].values()] == [1, 2]
    for name, rec in out["recipes"].items():
        for run in rec["runs"]:  # the baseline is capped after its first step; 0% never comes
            stop = ("max_cpu_seconds", 1) if name == "base" else ("max_steps", 8)
            assert (run["stopped_by"], run["steps"]) == stop
            assert run["reached"] == {"0.0": None} and 0 <= run["best_val_cer"] <= 1
            assert run["test_cer"] is not None and run["cpu_seconds"] > 0
        assert rec["median"]["0.0"]["reached"] == f"0/{len(rec['runs'])}"
        assert rec["median"]["0.0"]["cpu_seconds_vs_first"] is None
    assert (
        out["recipes"]["base"]["end"]["test_cer"] == out["recipes"]["base"]["runs"][0]["test_cer"]
    )
    rows = bench.table({"tta": out})
    assert "base to 0%: reached 0/1" in rows and "max_cpu_seconds)" in rows
    with pytest.raises(ValueError, match="targets"):
        bench.tta_compare(recipes, work_dir=tmp_path, targets=(1.5,))


@pytest.mark.slow
def test_preset_memory_subprocess(tiny):
    out = bench.preset_memory(
        ["conv_bilstm"], data_dir=tiny["root"] / "data", work_dir=tiny["root"], steps=2,
        warmup=1, threads=1, extra=tiny["extra"],
    )  # fmt: skip
    v = out["conv_bilstm"]
    assert "error" not in v, v
    assert v["peak_rss_mb"] >= v["rss_after_imports_mb"] > 0 and v["lines_per_s"] > 0


@pytest.mark.slow
def test_benchmark_all_sections(tiny, tmp_path):
    sizes = {**bench.QUICK, "matmul_n": 256, "steps": 2, "warmup": 1, "data_lines": 8,
             "synth_lines": 8, "memory_steps": 1, "tesseract_lines": 2}  # fmt: skip
    result = bench.benchmark(
        quick=True, data_dir=tiny["root"] / "data", work_dir=tmp_path, threads=1,
        presets=["conv_bilstm"], sizes=sizes, overrides=tiny["extra"],
    )  # fmt: skip
    assert set(result) >= {"matmul", "train", "data", "infer", "synth", "memory", "tesseract"}
    assert result["targets"] and "framework" in bench.table(result)


@pytest.mark.slow
def test_cpu_budget_fairness(tiny, tmp_path):
    from benchmarks.fairness import cpu_budget_fairness

    out = cpu_budget_fairness(tmp_path / "data", seconds=2.0, threads=(1, 2), repeats=1)
    for policy in ("ACTIVE", "PASSIVE"):
        p = out["threads"]["1"][policy]
        assert p["steps_alone"] > 0 and p["steps_loaded"] > 0 and p["ratio"] > 0
        assert {r["policy"] for r in p["runs"]["alone"]} == {policy}
    assert "cpu_budget_steps_loaded_vs_alone" in bench.targets({"fairness": out})
