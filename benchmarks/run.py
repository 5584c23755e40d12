"""The whole benchmark: sizes, sections and the function ``scripts/bench.py`` calls."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import (
    PRESETS,
    bench_overrides,
    cores,
    machine_info,
    matmul_peak,
    other_training_jobs,
    prepare_data,
)
from benchmarks.memory import preset_memory
from benchmarks.report import fmt, targets
from benchmarks.tesseract import tesseract_compare
from benchmarks.throughput import data_throughput, infer_throughput, norm_configs, synth_throughput
from benchmarks.train import train_compare
from menu.config import compose

QUICK = {
    "matmul_n": 2048,
    "matmul_repeats": 3,
    "warmup": 2,
    "steps": 8,
    "repeats": 1,
    "data_lines": 64,
    "data_repeats": 1,
    "infer_repeats": 1,
    "synth_lines": 100,
    "synth_repeats": 1,
    "memory_warmup": 1,
    "memory_steps": 3,
    "tesseract_lines": 32,
    "fairness_seconds": 4.0,
    "fairness_repeats": 1,
    "tta_seeds": 1,
    "profile_steps": 3,
}
FULL = {
    "matmul_n": 2048,
    "matmul_repeats": 5,
    "warmup": 5,
    "steps": 30,
    "repeats": 3,
    "data_lines": 256,
    "data_repeats": 3,
    "infer_repeats": 3,
    "synth_lines": 500,
    "synth_repeats": 3,
    "memory_warmup": 2,
    "memory_steps": 10,
    "tesseract_lines": None,
    "fairness_seconds": 10.0,
    "fairness_repeats": 3,
    "tta_seeds": 3,
    "profile_steps": 8,
}
SECTIONS = ("matmul", "train", "profile", "data", "infer", "synth", "memory", "tesseract",
            "fairness", "tta")  # fmt: skip
#: Sections that train for hours: only when asked for by name (``--only tta``).
LONG_SECTIONS = ("tta",)


def benchmark(
    *,
    preset: str = "conv_bilstm",
    quick: bool = False,
    sections: Sequence[str] = SECTIONS,
    data_dir: str | os.PathLike = "data",
    work_dir: str | os.PathLike | None = None,
    threads: int | None = None,
    checkpoint: str | None = None,
    test: str | None = None,
    decode: dict[str, Any] | None = None,
    compile: bool = False,
    presets: Sequence[str] = PRESETS,
    sizes: dict[str, Any] | None = None,
    overrides: Sequence[str] = (),
    recipes: Sequence[str] | dict[str, Sequence[str]] = ("vs_tesseract", "printed_fast"),
    tta_targets: Sequence[float] | None = None,
    tta_jobs: int = 1,
    tta_full: bool = False,
    tta_baseline_seeds: int | None = None,
    tta_baseline_cpu_seconds: float | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Run the selected sections; returns the whole result (see ``scripts/bench.py``)."""
    size = {**(QUICK if quick else FULL), **(sizes or {})}
    threads = int(threads or cores())
    torch.set_num_threads(threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    result: dict[str, Any] = {
        "preset": preset,
        "quick": quick,
        "sizes": size,
        "overrides": list(overrides),
        "machine": machine_info(threads),
    }
    if result["machine"]["other_menu_train_jobs"]:
        log("WARNING: other menu-train jobs are running: timings are not valid")
    own_tmp = work_dir is None
    work = Path(work_dir or tempfile.mkdtemp(prefix="menu-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    try:
        base = compose(
            bench_overrides(preset, data_dir=data_dir, steps=1, threads=threads, extra=overrides)
        )
        if "matmul" in sections:
            result["matmul"] = {}
            for dev in devices:
                result["matmul"][dev] = matmul_peak(
                    size["matmul_n"], size["matmul_repeats"], device=dev
                )
                log(f"matmul {dev}: {fmt(result['matmul'][dev]['gflops'])} GFLOP/s")
        bench_ckpt = None
        bench_test = None
        if "train" in sections or "infer" in sections or "data" in sections:
            result["train"] = {}
            for dev in devices:
                peak = result.get("matmul", {}).get(dev, {}).get("gflops", {}).get("median")
                t0 = time.perf_counter()
                tr = train_compare(
                    preset,
                    data_dir=data_dir,
                    work_dir=work,
                    steps=size["steps"],
                    warmup=size["warmup"],
                    repeats=size["repeats"],
                    threads=threads,
                    variants=None if "train" in sections else (),
                    device=dev,
                    compile=compile and dev == "cpu" and "train" in sections,
                    peak_gflops=peak,
                    extra=overrides,
                    log=log,
                )
                tr["wall_seconds"] = round(time.perf_counter() - t0, 1)
                result["train"][dev] = tr
                bench_ckpt = bench_ckpt or tr["checkpoint"]
            cfg = compose(
                bench_overrides(
                    preset,
                    data_dir=data_dir,
                    steps=1,
                    threads=threads,
                    n_train=result["train"]["cpu"]["n_train"],
                    extra=overrides,
                )
            )
            data = prepare_data(cfg)
            bench_test = str(data.test)
            result["bench_data"] = {k: str(data[k]) for k in ("train", "val", "test")}
        if "profile" in sections:
            from benchmarks.profile import op_profile

            peak = result.get("matmul", {}).get("cpu", {}).get("gflops", {}).get("median")
            result["profile"] = op_profile(
                compose(
                    bench_overrides(
                        preset, data_dir=data_dir, steps=1, threads=threads, extra=overrides
                    )
                ),
                warmup=size["warmup"],
                steps=size["profile_steps"],
                peak_gflops=peak,
            )
            log(f"profile: {100 * result['profile']['flop_share']:.0f}% of the step in FLOP ops")
        if "data" in sections:
            t0 = time.perf_counter()
            norms = norm_configs(preset, overrides)
            result["data"] = {
                "lines": size["data_lines"],
                "workers": 0,
                "batch_size": int(base.data.batch_size),
                "norms": data_throughput(
                    result["bench_data"]["train"],
                    norms,
                    lines=size["data_lines"],
                    batch_size=int(base.data.batch_size),
                    repeats=size["data_repeats"],
                    max_width=int(base.data.max_width),
                ),
                "wall_seconds": round(time.perf_counter() - t0, 1),
            }
            for name, d in result["data"]["norms"].items():
                log(f"data norm={name}: {fmt(d['lines_per_s'])} lines/s")
        if "infer" in sections and bench_ckpt:
            result["infer"] = {}
            for dev in devices:
                torch.set_num_threads(threads)
                result["infer"][dev] = infer_throughput(
                    bench_ckpt, bench_test, repeats=size["infer_repeats"], device=dev
                )
                for bs, v in result["infer"][dev]["batch_sizes"].items():
                    log(f"infer {dev} batch {bs}: {fmt(v['lines_per_s'])} lines/s")
            if checkpoint and test:  # a trained model: the variants' CER changes mean something
                result["infer_checkpoint"] = {
                    "checkpoint": str(checkpoint),
                    "test": str(test),
                    "cpu": infer_throughput(
                        checkpoint, test, repeats=size["infer_repeats"], device="cpu"
                    ),
                }
        if "synth" in sections:
            for key, data in (("synth", "synth"), ("synth_transfer", "transfer")):
                try:
                    result[key] = synth_throughput(
                        size["synth_lines"], min(2, cores()), size["synth_repeats"], data=data
                    )
                except FileNotFoundError as e:  # data=transfer's fonts are Debian packages
                    result[key] = {"data": data, "skipped": str(e)}
                    log(f"{key}: skipped ({e})")
                    continue
                log(f"{key}: {fmt(result[key]['lines_per_s'])} lines/s")
        if "memory" in sections:
            result["memory"] = preset_memory(
                presets,
                data_dir=data_dir,
                work_dir=work,
                steps=size["memory_steps"],
                warmup=size["memory_warmup"],
                threads=threads,
                extra=overrides,
                log=log,
            )
        if "tesseract" in sections:
            torch.set_num_threads(threads)
            ckpt = checkpoint or bench_ckpt
            tst = test or bench_test
            if tst is None:
                tst = str(prepare_data(base).test)
            result["tesseract"] = tesseract_compare(
                ckpt,
                tst,
                work,
                lines=size["tesseract_lines"],
                processes=min(2, cores()),
                menu_decode=decode,
            )
            result["tesseract"]["checkpoint_is_untrained_bench_model"] = checkpoint is None
            log("tesseract: done")
        if "fairness" in sections:
            from benchmarks.fairness import cpu_budget_fairness

            result["fairness"] = cpu_budget_fairness(
                data_dir,
                seconds=size["fairness_seconds"],
                threads=tuple(sorted({1, threads})),
                repeats=size["fairness_repeats"],
                log=log,
            )
        if "tta" in sections:
            from benchmarks.tta import RECIPES, TARGETS, tta_compare

            named = recipes if isinstance(recipes, dict) else {r: RECIPES[r] for r in recipes}
            result["tta"] = tta_compare(
                named,
                work_dir=work,
                targets=tta_targets or TARGETS,
                seeds=range(size["tta_seeds"]),
                threads=None,  # each recipe trains with its own threads
                jobs=tta_jobs,
                stop_at_target=not tta_full,
                baseline_seeds=tta_baseline_seeds,
                baseline_cpu_seconds=tta_baseline_cpu_seconds,
                extra=[f"data.synth.dir={Path(data_dir).resolve()}", *overrides],
                log=log,
            )
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)
    for tr in result.get("train", {}).values():
        tr.pop("checkpoint", None)  # a temporary file, gone now
    result["targets"] = targets(result)
    result["machine"]["other_menu_train_jobs_at_end"] = len(other_training_jobs())
    result["wall_seconds"] = round(time.perf_counter() - t_all, 1)
    return result
