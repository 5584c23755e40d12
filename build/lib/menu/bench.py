"""Performance benchmarks of the framework (the library behind ``scripts/bench.py``).

Every measurement is a function returning plain dicts, so tests can call them with tiny
sizes. Throughputs are steady-state rates: warm-up steps/passes are run and not timed,
and repeated measurements are summarized by :func:`stats` (median, min, max).

* :func:`matmul_peak` -- float32 ``torch.mm`` GFLOP/s, the reference "peak".
* :func:`framework_train` -- lines/s of ``menu.training.run`` (the menu-train path: same
  config, loaders, LitRecognizer, Lightning Trainer), timed by a callback between the end
  of the last warm-up step and the end of the last step (data loading in the process,
  optimizer, logging and callbacks included; the test pass after training excluded).
* :func:`bare_train` -- the same model, batches (same loader and seed), loss, gradient
  clipping, Adam and schedule in a plain PyTorch loop; optionally ``torch.compile``.
* :func:`step_flops` -- FLOPs of one training step (``FlopCounterMode``).
* :func:`data_throughput` -- decode + normalize + batch lines/s per normalizer.
* :func:`infer_throughput` -- ``load_checkpoint`` + ``menu.infer.evaluate`` lines/s.
* :func:`synth_throughput` -- ``menu.data.synth.generate`` lines/s.
* :func:`preset_memory` -- peak RSS of a preset's training in a fresh subprocess.
* :func:`tesseract_compare` -- tesseract ``--psm 7`` vs a menu checkpoint on the same PNGs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

import menu.assemble as assemble
import menu.training as menu_train
from menu.config import compose, options
from menu.data.shards import fonts_of
from menu.metrics import group_table
from menu.registry import instantiate_option

#: Marker of the result line a worker subprocess prints on stdout.
RESULT_MARK = "MENU_BENCH_RESULT "
#: Lines in the shuffle buffer before the first training batch (conf/data/*.yaml).
PRESETS = ("lstm_plain", "conv_bilstm", "crnn")


# --------------------------------------------------------------------------- helpers


def stats(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """Median, min, max and every value (rounded) of repeated measurements."""
    vals = [float(v) for v in values]
    if not vals:
        return {"median": None, "min": None, "max": None, "runs": []}
    r = lambda v: float(f"{v:.{digits}g}")  # noqa: E731
    return {
        "median": r(statistics.median(vals)),
        "min": r(min(vals)),
        "max": r(max(vals)),
        "runs": [r(v) for v in vals],
    }


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def maxrss_mb() -> float:
    """Peak resident set size of this process so far, in MiB: ``VmHWM`` of
    ``/proc/self/status`` on Linux (the high-water mark of this address space), else
    ``ru_maxrss``. Not ``ru_maxrss`` on Linux: across ``vfork`` + ``exec`` (how
    ``subprocess`` starts a child) it keeps the parent's peak, so a small child would report
    its parent's size."""
    with contextlib.suppress(OSError, ValueError):
        status = Path("/proc/self/status").read_text()
        m = re.search(r"^VmHWM:\s*(\d+)\s*kB", status, re.M)
        if m:
            return int(m.group(1)) / 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def cpu_model() -> str:
    """CPU model name (lscpu, else /proc/cpuinfo, else platform)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        if m:
            return m.group(1).strip()
    with contextlib.suppress(OSError):
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        if m:
            return m.group(1).strip()
    return platform.processor() or platform.machine()


def other_training_jobs() -> list[str]:
    """Command lines of other menu-train processes (their load invalidates timings)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["pgrep", "-af", "menu-train"], capture_output=True, text=True, timeout=10
        ).stdout
        return [line for line in out.splitlines() if str(os.getpid()) not in line.split()[:1]]
    return []


def machine_info(threads: int) -> dict[str, Any]:
    """The machine, software versions and the load at the start."""
    from menu.record import git_sha

    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cores": cores(),
        "torch_threads": threads,
        "torch": torch.__version__,
        "pytorch_lightning": pl.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_sha": git_sha(),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "other_menu_train_jobs": len(other_training_jobs()),
    }
    return info


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Lightning's info messages and warnings while measuring."""
    names = (
        "pytorch_lightning",
        "lightning.pytorch",
        "lightning.fabric",
        "lightning",
        "torch._dynamo",
        "torch._inductor",
    )
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def nondeterministic() -> Iterator[None]:
    """Default (non-deterministic) algorithms, as ``menu-eval``/``menu-predict`` run; the
    Lightning Trainer of a training run leaves ``torch.use_deterministic_algorithms`` on."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


# --------------------------------------------------------------------------- config + data


def train_lines_needed(batch_size: int, steps: int, shuffle: int) -> int:
    """Training lines so that ``steps`` batches stay in one epoch and the shuffle buffer keeps
    decoding one new line per line consumed (steady state), rounded up to 100s."""
    need = shuffle + batch_size * (steps + 2)
    return max(1600, int(math.ceil(need / 100.0) * 100))


def bench_overrides(
    preset: str,
    *,
    data_dir: str | os.PathLike,
    steps: int,
    threads: int,
    n_train: int = 1600,
    n_val: int = 32,
    n_test: int = 128,
    device: str = "cpu",
    extra: Sequence[str] = (),
) -> list[str]:
    """Hydra overrides of a benchmark training run of ``preset`` on synthetic data."""
    out = [
        f"experiment={preset}",
        f"threads={threads}",
        "data.workers=0",
        f"data.synth.dir={Path(data_dir).resolve()}",
        f"data.synth.n_train={n_train}",
        f"data.synth.n_val={n_val}",
        f"data.synth.n_test={n_test}",
        "data.synth.progress=false",
        f"budget.max_steps={steps}",
        # no validation inside the timed steps; and EarlyStopping would fail at the end of a
        # training cut short by max_steps before any validation (val_cer not logged yet)
        "early_stopping.patience=null",
        "trainer.enable_progress_bar=false",
    ]
    if device.startswith("cuda"):
        out.insert(1, "trainer=gpu")
    return [*out, *extra]


def prepare_data(cfg: DictConfig) -> DictConfig:
    """Generate (once, cached) or find the config's synthetic shards."""
    from menu.data.synth import prepare

    return prepare(cfg.data)


# --------------------------------------------------------------------------- matmul peak


def matmul_peak(
    n: int = 2048, repeats: int = 5, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> dict[str, Any]:
    """GFLOP/s of ``torch.mm`` of two n x n matrices (2 n^3 FLOPs each), after one warm-up."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen, dtype=dtype).to(device)
    b = torch.randn(n, n, generator=gen, dtype=dtype).to(device)
    c = torch.mm(a, b)
    inner = 1 if device == "cpu" else 20
    rates = []
    for _ in range(max(1, repeats)):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(inner):
            torch.mm(a, b, out=c)
        _sync(device)
        rates.append(inner * 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "gflops": stats(rates)}


# --------------------------------------------------------------------------- training


class StepTimer(pl.Callback):
    """Wall-clock time, lines trained and batch shape at the end of every training step."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.times: list[float] = []
        self.lines: list[int] = []
        self.shapes: list[tuple[int, int]] = []
        self.maxrss_mb: float | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, *args: Any) -> None:
        _sync(self.device)
        batch = args[1]
        self.times.append(time.perf_counter())
        self.lines.append(int(pl_module.train_lines))
        self.shapes.append((len(batch["keys"]), int(batch["images"].shape[-1])))

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self.maxrss_mb = maxrss_mb()


def _rate(times: list[float], lines: list[int], warmup: int) -> dict[str, Any]:
    """Steady-state rate between the end of step ``warmup`` and the end of the last step."""
    if len(times) <= warmup or warmup < 1:
        raise ValueError(f"need more than {warmup} steps (and warmup >= 1), got {len(times)}")
    seconds = times[-1] - times[warmup - 1]
    n = lines[-1] - lines[warmup - 1]
    return {
        "lines_per_s": n / max(seconds, 1e-9),
        "seconds": seconds,
        "lines": n,
        "timed_steps": len(times) - warmup,
    }


@contextlib.contextmanager
def _extra_callbacks(*callbacks: pl.Callback) -> Iterator[None]:
    """Add callbacks to the Trainer that ``menu.training.fit`` builds (and nothing else)."""
    original = menu_train.make_trainer

    def make_trainer(*args: Any, **kwargs: Any) -> pl.Trainer:
        trainer = original(*args, **kwargs)
        trainer.callbacks.extend(callbacks)
        return trainer

    menu_train.make_trainer = make_trainer
    try:
        yield
    finally:
        menu_train.make_trainer = original


def framework_train(
    cfg: DictConfig, run_dir: str | os.PathLike, warmup: int, device: str = "cpu"
) -> dict[str, Any]:
    """Train with ``menu.training.run`` (exactly what ``menu-train`` runs) for
    ``cfg.budget.max_steps`` steps; the steady-state rate after ``warmup`` steps."""
    timer = StepTimer(device)
    with _extra_callbacks(timer), quiet():
        record = menu_train.run(cfg, run_dir, force=True)
    out = _rate(timer.times, timer.lines, warmup)
    out |= {
        "steps": len(timer.times),
        "shapes": timer.shapes[warmup:],
        "maxrss_mb": timer.maxrss_mb,
        "record_train_lines_per_s": record.get("train_lines_per_s"),
        "params": record.get("params"),
        "checkpoint": record.get("best_checkpoint"),
    }
    return out


def _trainable(
    batch: dict, codec: Any, model: torch.nn.Module, device: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[list[int]]] | None:
    """``menu.lit.trainable_lines`` (the lines ``LitRecognizer.training_step`` trains on),
    moved to ``device``; None when no line is trainable."""
    from menu.lit import trainable_lines

    images, widths, frames, targets, _ = trainable_lines(batch, codec, model)
    if images is None:
        return None
    return images.to(device, non_blocking=True), widths.to(device), frames, targets


def _ctc(
    ctc: torch.nn.Module,
    scores: torch.Tensor,
    frames: torch.Tensor,
    targets: list[list[int]],
    device: str,
) -> torch.Tensor:
    """CTC loss of BDL ``scores`` against concatenated ``targets``."""
    log_probs = scores.float().log_softmax(1).permute(2, 0, 1)
    return ctc(
        log_probs,
        torch.tensor([i for t in targets for i in t], dtype=torch.long, device=device),
        frames.clamp(max=scores.shape[2]).to(device),
        torch.tensor([len(t) for t in targets], device=device),
    )


def _plain_cfg(cfg: DictConfig, data: DictConfig) -> dict:
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain["data"] = OmegaConf.to_container(data, resolve=True)
    return plain


def bare_train(
    cfg: DictConfig,
    warmup: int,
    *,
    device: str = "cpu",
    compile: bool = False,
    flops: bool = True,
) -> dict[str, Any]:
    """The same training in a plain PyTorch loop: the model, batches (the same train loader
    and seed as ``menu.training.fit``), CTC loss, gradient clipping, Adam and LR schedule, for
    ``cfg.budget.max_steps`` steps. With ``flops`` also the FLOPs of one step (the first
    timed batch) and the padded line-columns of every timed batch."""
    from menu.lit import LitRecognizer

    pl.seed_everything(int(cfg.seed), verbose=False)
    menu_train.set_threads(cfg.get("threads"))
    torch.use_deterministic_algorithms(bool(cfg.deterministic) and device == "cpu")
    data = prepare_data(cfg)
    codec, _ = assemble.build_codec(data)
    norm = instantiate_option("norm", cfg.norm)
    loader = assemble.loaders(cfg, data, norm)["train"]
    lit = LitRecognizer(_plain_cfg(cfg, data), codec.to_dict())
    model = lit.model.to(device).train()
    opt_cfg = lit.configure_optimizers()
    optimizer, schedule = opt_cfg["optimizer"], opt_cfg["lr_scheduler"]["scheduler"]
    clip = cfg.optim.get("grad_clip")
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=bool(cfg.loss.zero_infinity))
    mixed = device.startswith("cuda") and "16" in str(cfg.trainer.get("precision", "32"))
    scaler = torch.amp.GradScaler("cuda", enabled=mixed)
    forward: Callable[..., torch.Tensor] = model
    t_compile = None
    if compile:
        forward = torch.compile(model, dynamic=True)

    def step(batch: dict) -> tuple[int, torch.Tensor | None]:
        selected = _trainable(batch, codec, model, device)
        if selected is None:
            return 0, None
        images, widths, frames, targets = selected
        with torch.autocast("cuda", dtype=torch.float16, enabled=mixed):
            scores = forward(images, widths)
        loss = _ctc(ctc, scores, frames, targets, device)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(clip))
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        return len(targets), loss

    steps = int(cfg.budget.max_steps)
    times: list[float] = []
    lines: list[int] = []
    shapes: list[tuple[int, int]] = []
    first_timed: dict | None = None
    total = 0
    t_start = time.perf_counter()
    for i, batch in enumerate(loader):
        if i >= steps:
            break
        if not batch["keys"]:
            continue
        if i == warmup:
            first_timed = batch
        n, _ = step(batch)
        _sync(device)
        total += n
        times.append(time.perf_counter())
        lines.append(total)
        shapes.append((len(batch["keys"]), int(batch["images"].shape[-1])))
        if compile and i == 0:
            t_compile = times[-1] - t_start
    out = _rate(times, lines, warmup)
    out |= {"steps": len(times), "shapes": shapes[warmup:], "params": model.num_params}
    if compile:
        out["first_step_seconds"] = t_compile
    if flops and first_timed is not None:
        out["step_flops"] = step_flops(model, ctc, codec, first_timed, device=device)
    return out


def step_flops(
    model: torch.nn.Module, ctc: torch.nn.Module, codec: Any, batch: dict, device: str = "cpu"
) -> dict[str, Any]:
    """FLOPs of one training step (forward, CTC loss, backward) on ``batch``, counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (matmuls, convolutions and the LSTM's
    matmuls; elementwise ops and the optimizer are not counted), and per padded line-column
    (B x W of the padded batch) to scale the count to other batches."""
    from torch.utils.flop_counter import FlopCounterMode

    selected = _trainable(batch, codec, model, device)
    if selected is None:
        raise ValueError("no trainable line in the batch to count FLOPs on")
    images, widths, frames, targets = selected
    with FlopCounterMode(display=False) as counter:
        loss = _ctc(ctc, model(images, widths), frames, targets, device)
        loss.backward()
    model.zero_grad(set_to_none=True)
    total = int(counter.get_total_flops())
    by_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    columns = int(images.shape[0] * images.shape[-1])
    return {
        "flops": total,
        "by_op": by_op,
        "batch": [int(images.shape[0]), int(images.shape[-1])],
        "flops_per_line_column": total / max(1, columns),
    }


def achieved_gflops(
    rate: dict[str, Any], flops_per_column: float, peak_gflops: float | None
) -> dict[str, Any]:
    """GFLOP/s of a timed run: FLOPs per padded line-column x the timed batches' columns."""
    columns = sum(b * w for b, w in rate["shapes"])
    gflops = flops_per_column * columns / max(rate["seconds"], 1e-9) / 1e9
    return {
        "gflops": gflops,
        "fraction_of_matmul_peak": gflops / peak_gflops if peak_gflops else None,
    }


#: Config keys whose defaults were chosen by this benchmark; ``train_compare`` measures
#: each of them flipped against the default.
TUNED = ("channels_last", "data.bucket")
#: other settings the training section measures against the default (one override each)
MEASURED = ("data.workers=1",)


def base_value(cfg: DictConfig, key: str) -> Any:
    """The value of a dotted config key."""
    return OmegaConf.select(cfg, key)


def train_variants(cfg: DictConfig) -> list[str]:
    """One override per ``TUNED`` key that sets it to the opposite of ``cfg``'s value, then
    the ``MEASURED`` alternatives."""
    return [f"{k}={str(not bool(base_value(cfg, k))).lower()}" for k in TUNED] + list(MEASURED)


def train_compare(
    preset: str,
    *,
    data_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    steps: int,
    warmup: int,
    repeats: int,
    threads: int,
    variants: Sequence[str] | None = None,
    device: str = "cpu",
    compile: bool = False,
    peak_gflops: float | None = None,
    extra: Sequence[str] = (),
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Framework (``menu.training.run``) vs bare-loop lines/s of ``preset``, ``repeats`` times
    (alternating which goes first), plus GFLOP/s and the fraction of ``peak_gflops``, for the
    default config and each of ``variants`` (one override each; default: the defaults that
    the measurements chose flipped, see ``train_variants``). ``steps`` are timed after
    ``warmup``. ``speedups``: default lines/s over each variant's (framework)."""
    total = warmup + steps
    base = compose(
        bench_overrides(preset, data_dir=data_dir, steps=total, threads=threads, extra=extra)
    )
    shuffle, bs = int(base.data.shuffle), int(base.data.batch_size)
    n_train = train_lines_needed(bs, total, shuffle)
    results: dict[str, Any] = {
        "preset": preset,
        "device": device,
        "batch_size": bs,
        "warmup_steps": warmup,
        "timed_steps": steps,
        "repeats": repeats,
        "threads": threads,
        "data_workers": int(base.data.workers),
        "defaults": {k: base_value(base, k) for k in TUNED},
        "n_train": n_train,
        "settings": {},
    }
    if variants is None:
        variants = train_variants(base)
    checkpoint = None
    for variant in ["", *variants]:
        name = variant or "default"
        overrides = bench_overrides(
            preset,
            data_dir=data_dir,
            steps=total,
            threads=threads,
            n_train=n_train,
            device=device,
            extra=[*extra, *([variant] if variant else [])],
        )
        cfg = compose(overrides)
        prepare_data(cfg)  # generate once, outside any timing
        fw, bare = [], []
        flops = None
        for r in range(repeats):
            order = ("fw", "bare") if r % 2 == 0 else ("bare", "fw")
            for which in order:
                if which == "fw":
                    run_dir = tempfile.mkdtemp(prefix=f"fw-{len(fw)}-{r}-", dir=work_dir)
                    res = framework_train(cfg, run_dir, warmup, device=device)
                    checkpoint = checkpoint or res["checkpoint"]
                    fw.append(res)
                else:
                    res = bare_train(cfg, warmup, device=device, flops=flops is None)
                    flops = flops or res.get("step_flops")
                    bare.append(res)
                log(
                    f"  train {preset} {device} {name} {which:4s} repeat {r + 1}: "
                    f"{res['lines_per_s']:.1f} lines/s"
                )
        same = all(f["shapes"] == b["shapes"] for f in fw for b in bare)
        fw_rate = stats([f["lines_per_s"] for f in fw])
        bare_rate = stats([b["lines_per_s"] for b in bare])
        setting: dict[str, Any] = {
            "overrides": overrides,
            "framework_lines_per_s": fw_rate,
            "bare_lines_per_s": bare_rate,
            "ratio_framework_to_bare": stats(
                [f["lines_per_s"] / b["lines_per_s"] for f, b in zip(fw, bare, strict=True)]
            ),
            "ratio_of_medians": fw_rate["median"] / bare_rate["median"],
            "same_batches": same,
            "menu_train_recorded_lines_per_s": stats([f["record_train_lines_per_s"] for f in fw]),
            "params": fw[0]["params"],
        }
        if flops is not None:
            per_col = flops["flops_per_line_column"]
            lines = fw[0]["lines"]
            setting["step_flops"] = flops
            setting["gflop_per_line"] = (
                per_col * sum(b * w for b, w in fw[0]["shapes"]) / max(1, lines) / 1e9
            )
            setting["framework_gflops"] = stats(
                [achieved_gflops(f, per_col, peak_gflops)["gflops"] for f in fw]
            )
            setting["bare_gflops"] = stats(
                [achieved_gflops(b, per_col, peak_gflops)["gflops"] for b in bare]
            )
            if peak_gflops:
                setting["framework_fraction_of_peak"] = (
                    setting["framework_gflops"]["median"] / peak_gflops
                )
                setting["bare_fraction_of_peak"] = setting["bare_gflops"]["median"] / peak_gflops
        results["settings"][name] = setting
    default = results["settings"]["default"]["framework_lines_per_s"]["median"]
    results["speedups"] = {
        name: default / v["framework_lines_per_s"]["median"]
        for name, v in results["settings"].items()
        if name != "default"
    }
    if compile:
        cfg = compose(
            bench_overrides(
                preset,
                data_dir=data_dir,
                steps=total,
                threads=threads,
                n_train=n_train,
                device=device,
                extra=extra,
            )
        )
        try:
            with quiet():
                res = bare_train(cfg, warmup, device=device, compile=True, flops=False)
            eager = results["settings"]["default"]["bare_lines_per_s"]["median"]
            results["compile"] = {
                "bare_lines_per_s": res["lines_per_s"],
                "eager_bare_lines_per_s": eager,
                "speedup": res["lines_per_s"] / eager,
                "first_step_seconds": res.get("first_step_seconds"),
                "helps": res["lines_per_s"] > 1.02 * eager,
            }
        except Exception as e:  # compile needs a C++ toolchain; report, don't fail
            results["compile"] = {"error": f"{type(e).__name__}: {e}"[:500]}
    else:
        results["compile"] = {"run": False}
    results["checkpoint"] = checkpoint
    return results


# --------------------------------------------------------------------------- data pipeline


def norm_configs(preset: str, extra: Sequence[str] = ()) -> dict[str, DictConfig]:
    """Every normalizer option (conf/norm) as the preset (and ``extra`` overrides) would use
    it, e.g. with the preset's line height."""
    return {
        name: compose([f"experiment={preset}", *extra, f"norm={name}"]).norm
        for name in options("norm")
    }


def data_throughput(
    urls: str | Sequence[str],
    norms: dict[str, Any],
    *,
    lines: int = 256,
    batch_size: int = 16,
    repeats: int = 3,
    max_width: int = 3000,
) -> dict[str, Any]:
    """Lines/s of decode + normalize + batch (``make_loader``, workers=0, file order) for each
    normalizer config in ``norms``, over the first ``lines`` lines of ``urls``."""
    from menu.data.loader import make_loader

    out: dict[str, Any] = {}
    for name, ncfg in norms.items():
        norm = instantiate_option("norm", ncfg)
        rates = []
        for _ in range(max(1, repeats)):
            loader = make_loader(
                urls, norm, batch_size=batch_size, shuffle=0, workers=0, max_width=max_width
            )
            n = 0
            t0 = time.perf_counter()
            for batch in loader:
                n += len(batch["keys"])
                if n >= lines:
                    break
            rates.append(n / max(time.perf_counter() - t0, 1e-9))
        out[name] = {"lines": n, "lines_per_s": stats(rates)}
    return out


# --------------------------------------------------------------------------- inference


def infer_throughput(
    checkpoint: str | os.PathLike,
    urls: str | Sequence[str],
    *,
    batch_sizes: Sequence[int] = (1, 16, 64),
    repeats: int = 2,
    device: str = "cpu",
    variants: bool = True,
) -> dict[str, Any]:
    """``menu.infer.load_checkpoint`` + ``evaluate`` on ``urls`` at each batch size: the
    recognize-only lines/s that ``evaluate`` reports (model + decoding) and the end-to-end
    lines/s (shard reading, decode, normalize, batch, recognize, scoring). One untimed pass
    per batch size first (reported as ``first_pass``: new widths build new kernels). With
    ``variants`` also the recognize-only lines/s with ``channels_last`` flipped and with
    the convolutions on the whole batch (``conv_chunk=0``) instead of ``conv_chunk`` lines
    at a time."""
    from menu.infer import evaluate, load_checkpoint

    lit = load_checkpoint(checkpoint, device=device)
    out: dict[str, Any] = {
        "device": device,
        "channels_last": bool(lit.cfg.get("channels_last", False)),
        "conv_chunk": lit.model.conv_chunk,
        "height": lit.cfg.norm.get("height"),
        "batch_sizes": {},
    }
    with quiet(), nondeterministic():
        for bs in batch_sizes:
            t0 = time.perf_counter()
            first = evaluate(lit, urls, batch_size=bs, confusions=0)
            first_e2e = first["n"] / (time.perf_counter() - t0)
            rec, e2e = [], []
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                r = evaluate(lit, urls, batch_size=bs, confusions=0)
                e2e.append(r["n"] / (time.perf_counter() - t0))
                rec.append(r["lines_per_s"])
            med = statistics.median(rec)
            out["batch_sizes"][str(bs)] = {
                "lines": r["n"],
                "lines_per_s": stats(rec),
                "ms_per_line": 1000.0 / med,
                "end_to_end_lines_per_s": stats(e2e),
                "first_pass": {"lines_per_s": first["lines_per_s"], "end_to_end": first_e2e},
            }
        if variants:
            out["variants"] = {}
            model = lit.model
            chunk, layout = model.conv_chunk, out["channels_last"]
            for name, cl, ch in (
                (f"channels_last={str(not layout).lower()}", not layout, chunk),
                ("conv_chunk=0", layout, 0),
            ):
                model.use_channels_last(cl)
                model.conv_chunk = ch
                alt: dict[str, Any] = {}
                for bs in batch_sizes:
                    evaluate(lit, urls, batch_size=bs, confusions=0)
                    rates = [
                        evaluate(lit, urls, batch_size=bs, confusions=0)["lines_per_s"]
                        for _ in range(max(1, repeats))
                    ]
                    alt[str(bs)] = {"lines_per_s": stats(rates)}
                out["variants"][name] = alt
            model.use_channels_last(layout)
            model.conv_chunk = chunk
    return out


# --------------------------------------------------------------------------- synthetic data


def synth_throughput(
    n: int = 500, workers: int = 2, repeats: int = 3, seed: int = 0
) -> dict[str, Any]:
    """``menu.data.synth.generate`` lines/s (n lines, default degradations, PNG shards on a
    temporary disk folder; process start-up included)."""
    from menu.data.synth import generate

    rates = []
    for _ in range(max(1, repeats)):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            generate(tmp, n, seed=seed, workers=workers, progress=False)
            rates.append(n / (time.perf_counter() - t0))
    return {"n": n, "workers": workers, "lines_per_s": stats(rates)}


# --------------------------------------------------------------------------- memory


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in a fresh process: one preset's training via ``menu.training.run``."""
    base = maxrss_mb()
    cfg = compose(spec["overrides"])
    torch.set_num_threads(int(spec["threads"]))
    res = framework_train(cfg, spec["run_dir"], int(spec["warmup"]))
    return {
        "preset": spec["preset"],
        "peak_rss_mb": res["maxrss_mb"],
        "rss_after_imports_mb": base,
        "lines_per_s": res["lines_per_s"],
        "timed_steps": res["timed_steps"],
        "params": res["params"],
    }


def preset_memory(
    presets: Sequence[str],
    *,
    data_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    steps: int,
    warmup: int,
    threads: int,
    timeout: float = 900,
    extra: Sequence[str] = (),
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Peak RSS (``maxrss_mb`` at the end of training) of each preset's training, each in
    its own subprocess (``python -m menu.bench --worker``), and its lines/s there."""
    out: dict[str, Any] = {}
    for preset in presets:
        try:
            probe = compose(
                bench_overrides(preset, data_dir=data_dir, steps=1, threads=threads, extra=extra)
            )
            n_train = train_lines_needed(
                int(probe.data.batch_size), warmup + steps, int(probe.data.shuffle)
            )
            overrides = bench_overrides(
                preset,
                data_dir=data_dir,
                steps=warmup + steps,
                threads=threads,
                n_train=n_train,
                extra=extra,
            )
            prepare_data(compose(overrides))
        except Exception as e:  # e.g. an override that does not apply to this preset
            out[preset] = {"error": f"{type(e).__name__}: {e}"[:2000]}
            log(f"  memory {preset}: failed ({type(e).__name__})")
            continue
        spec = {
            "preset": preset,
            "overrides": overrides,
            "threads": threads,
            "warmup": warmup,
            "run_dir": tempfile.mkdtemp(prefix=f"mem-{preset}-", dir=work_dir),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "menu.bench", "--worker", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith(RESULT_MARK)), None)
        if proc.returncode != 0 or line is None:
            out[preset] = {"error": (proc.stderr or proc.stdout)[-2000:]}
            log(f"  memory {preset}: failed (exit {proc.returncode})")
        else:
            out[preset] = json.loads(line[len(RESULT_MARK) :])
            log(
                f"  memory {preset}: peak RSS {out[preset]['peak_rss_mb']:.0f} MiB, "
                f"{out[preset]['lines_per_s']:.1f} lines/s"
            )
    return out


# --------------------------------------------------------------------------- tesseract


def tesseract_info(exe: str | None = None) -> dict[str, Any]:
    """Whether tesseract is on PATH, its version and languages."""
    exe = exe or shutil.which("tesseract")
    if not exe:
        return {
            "available": False,
            "reason": "tesseract not found on PATH (Debian/Ubuntu: apt-get install tesseract-ocr)",
        }
    try:
        v = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
        langs = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return {"available": False, "reason": f"{exe} does not run: {e}"}
    version = (v.stdout or v.stderr).strip().splitlines()
    listed = (langs.stdout or langs.stderr).strip().splitlines()
    return {
        "available": True,
        "path": exe,
        "version": version[0] if version else "?",
        "languages": [x.strip() for x in listed if x.strip() and not x.startswith("List of")],
    }


def write_test_pngs(
    urls: str | Sequence[str], out_dir: str | os.PathLike, lines: int | None = None
) -> list[tuple[str, str | None, str]]:
    """The raw line images of ``urls`` (file order) as PNG files: [(key, path, reference)]
    for every labelled line; path None when its image is missing or unreadable (both
    systems are then scored with an empty hypothesis). Samples without a usable transcript
    are left out, as in every menu evaluation."""
    import webdataset as wds

    from menu.data.image import encode_png
    from menu.data.shards import SkipSample, decode_line_image, decode_text, expand_urls

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items: list[tuple[str, str | None, str]] = []
    for url in expand_urls(urls):
        for sample in wds.tarfile_to_samples()(iter([{"url": url}])):
            try:
                text = decode_text(sample)
            except SkipSample:
                continue
            path: Path | None = out_dir / f"{len(items):06d}.png"
            try:
                path.write_bytes(encode_png(decode_line_image(sample)))
            except SkipSample:
                path = None
            items.append((sample["__key__"], str(path) if path else None, text))
            if lines is not None and len(items) >= lines:
                return items
    return items


def _fill(paths: Sequence[str | None], texts: Sequence[str]) -> list[str]:
    """Hypotheses for all lines from ``texts`` of the present images, in order; an empty
    hypothesis for each line without one."""
    it = iter(texts)
    return [next(it) if p is not None else "" for p in paths]


def _run_tesseract_list(
    exe: str, paths: Sequence[str], list_file: Path, args: Sequence[str]
) -> list[str]:
    """One tesseract process over a list of images; one text per image (split on the form
    feed tesseract puts between pages), or per-image calls if the split does not match."""
    list_file.write_text("\n".join(paths) + "\n", encoding="utf-8")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    proc = subprocess.run(
        [exe, str(list_file), "stdout", *args], capture_output=True, env=env, check=False
    )
    texts = proc.stdout.decode("utf-8", "replace").split("\f")
    if proc.returncode == 0 and len(texts) == len(paths):
        return texts
    out = []
    for p in paths:  # pragma: no cover - fallback for odd tesseract builds
        r = subprocess.run([exe, p, "stdout", *args], capture_output=True, env=env, check=False)
        out.append(r.stdout.decode("utf-8", "replace"))
    return out


def clean_tesseract(text: str) -> str:
    """Tesseract's output for one line minus its framing (trailing newlines/form feeds)."""
    return text.rstrip("\n\r\f")


def collapse_ws(text: str) -> str:
    """Whitespace runs -> one space, no leading/trailing space (the secondary scoring)."""
    return " ".join(text.split())


def score(refs: Sequence[str], hyps: Sequence[str], collapse: bool = False) -> dict[str, Any]:
    """Corpus CER/WER with ``menu.metrics.ErrorRates`` (rapidfuzz edit distance, sum of errors
    over sum of reference characters). Both sides NFC-normalized; spaces kept as they are
    (menu's protocol) unless ``collapse``."""
    from menu.metrics import ErrorRates

    rates = ErrorRates()
    for ref, hyp in zip(refs, hyps, strict=True):
        ref, hyp = unicodedata.normalize("NFC", ref), unicodedata.normalize("NFC", hyp)
        if collapse:
            ref, hyp = collapse_ws(ref), collapse_ws(hyp)
        rates.add(ref, hyp)
    return {"cer": rates.cer, "wer": rates.wer, "char_errors": rates.char_errors,
            "ref_chars": rates.ref_chars}  # fmt: skip


def line_records(keys: Sequence[str], refs: Sequence[str], hyps: Sequence[str]) -> list[dict]:
    """Per-line edit counts (``menu.metrics.line_error``; NFC, spaces kept)."""
    from menu.metrics import line_error

    nfc = functools.partial(unicodedata.normalize, "NFC")
    return [asdict(line_error(nfc(r), nfc(h), k)) for k, r, h in zip(keys, refs, hyps, strict=True)]


def paired_difference(menu_lines: list[dict], other_lines: list[dict]) -> dict[str, Any]:
    """CER(other) - CER(menu) on the same lines with its 95% paired-bootstrap interval and
    two-sided p (``menu.table.paired_bootstrap``, 1000 resamples of the lines, seed 0)."""
    import pandas as pd

    from menu.table import paired_bootstrap

    a, b = (pd.DataFrame(x).set_index("key") for x in (menu_lines, other_lines))
    diff, low, high, p, n = paired_bootstrap(a, b)
    return {"cer_difference": diff, "ci95": [low, high], "p": p, "lines": n}


def font_table(by_font: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """{system: {font: rates}} -> {font: lines, reference chars and each system's CER}."""
    table: dict[str, dict] = {}
    for system, fonts in by_font.items():
        for font, r in fonts.items():
            row = table.setdefault(font, {"lines": r["n"], "ref_chars": r["ref_chars"]})
            row[f"{system}_cer"] = r["cer"]
    return dict(sorted(table.items()))


def menu_on_pngs(
    checkpoint: str | os.PathLike,
    paths: Sequence[str],
    batch_size: int = 64,
    beam: int | None = None,
) -> tuple[list[str], float]:
    """A menu checkpoint's transcripts of PNG files (``menu.infer.predict``: read, normalize,
    batch, recognize; CTC beam search of width ``beam``, default as trained) and the wall
    time, after one untimed warm-up pass."""
    from menu.infer import load_checkpoint, predict

    lit = load_checkpoint(checkpoint)
    if beam is not None:
        lit.cfg.decode.beam = int(beam)
    list(predict(lit, paths[: 2 * batch_size], batch_size=batch_size))
    t0 = time.perf_counter()
    hyps = [text or "" for _, text, _ in predict(lit, paths, batch_size=batch_size)]
    return hyps, time.perf_counter() - t0


def tesseract_compare(
    checkpoint: str | os.PathLike | None,
    test: str | Sequence[str],
    work_dir: str | os.PathLike,
    *,
    lines: int | None = None,
    processes: int = 2,
    lang: str = "eng",
    psm: int = 7,
    exe: str | None = None,
    menu_batch_size: int = 64,
    menu_beam: int | None = None,
) -> dict[str, Any]:
    """Tesseract (``--psm 7``, ``processes`` processes with one thread each) against a menu
    checkpoint on the same test lines written as PNG files: corpus CER/WER and lines/s.
    When tesseract is not installed the result says so (``available: False``)."""
    info = tesseract_info(exe)
    out: dict[str, Any] = {
        "tesseract": info,
        "scoring": (
            "corpus CER = sum of rapidfuzz Levenshtein distances / sum of reference lengths; "
            "references and hypotheses NFC-normalized; spaces kept as they are (menu-eval's "
            "protocol), only tesseract's line terminator (trailing newline/form feed) "
            "stripped; *_collapsed_ws: whitespace runs -> one space and stripped on both sides"
        ),
    }
    work_dir = Path(tempfile.mkdtemp(prefix="tess-", dir=work_dir))
    items = write_test_pngs(test, work_dir / "png", lines)
    keys, all_paths, refs = (list(x) for x in zip(*items, strict=True)) if items else ([], [], [])
    paths = [p for p in all_paths if p is not None]
    out["lines"] = len(items)
    out["unreadable_lines"] = len(items) - len(paths)  # scored as empty for both systems
    out["test"] = test if isinstance(test, str) else list(test)
    fonts = fonts_of(test)
    by_font: dict[str, dict[str, dict]] = {}
    menu_lines = None
    if checkpoint:
        with nondeterministic():
            hyps, seconds = menu_on_pngs(checkpoint, paths, menu_batch_size, menu_beam)
        hyps = _fill(all_paths, hyps)
        menu_lines = line_records(keys, refs, hyps)
        by_font["menu"] = group_table(menu_lines, fonts)
        if fonts:
            out["by_font"] = font_table(by_font)
        out["menu"] = {
            "checkpoint": str(checkpoint),
            "threads": torch.get_num_threads(),
            "batch_size": menu_batch_size,
            "beam": menu_beam,
            "lines_per_s": len(paths) / max(seconds, 1e-9),
            **score(refs, hyps),
            "cer_collapsed_ws": score(refs, hyps, collapse=True)["cer"],
        }
    if not info["available"]:
        return out
    if lang not in info.get("languages", [lang]):
        out["tesseract"]["error"] = f"language {lang!r} not installed"
        return out
    args = ["--psm", str(psm), "-l", lang]
    k = max(1, min(processes, len(paths)))
    chunks = [paths[i::k] for i in range(k)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(k) as pool:
        results = list(
            pool.map(
                lambda ic: _run_tesseract_list(
                    info["path"], ic[1], work_dir / f"list-{ic[0]}.txt", args
                ),
                enumerate(chunks),
            )
        )
    seconds = time.perf_counter() - t0
    hyps = [""] * len(paths)
    for i, texts in enumerate(results):
        for j, text in enumerate(texts):
            hyps[i + j * k] = clean_tesseract(text)
    hyps = _fill(all_paths, hyps)
    tess_lines = line_records(keys, refs, hyps)
    by_font["tesseract"] = group_table(tess_lines, fonts)
    if fonts:
        out["by_font"] = font_table(by_font)
    if menu_lines:
        out["tesseract_minus_menu"] = paired_difference(menu_lines, tess_lines)
    out["tesseract"] |= {
        "psm": psm,
        "lang": lang,
        "processes": k,
        "lines_per_s": len(paths) / max(seconds, 1e-9),
        **score(refs, hyps),
        "cer_collapsed_ws": score(refs, hyps, collapse=True)["cer"],
        "examples": [
            {"key": keys[i], "ref": refs[i], "hyp": hyps[i]} for i in range(min(3, len(hyps)))
        ],
    }
    return out


# --------------------------------------------------------------------------- the whole set


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """Which performance targets are met."""
    out: dict[str, Any] = {}
    for dev, train in result.get("train", {}).items():
        s = train["settings"]["default"]
        # each repeat pairs a framework and a bare run measured back to back: the median of
        # the paired ratios is robust to the machine's speed drifting between repeats
        ratio = s["ratio_framework_to_bare"]["median"]
        out[f"train_framework_vs_bare_{dev}"] = {
            "value": round(ratio, 3),
            "target": ">= 0.95",
            "met": ratio >= 0.95,
        }
    data = result.get("data")
    train_cpu = result.get("train", {}).get("cpu")
    if data and train_cpu:
        s = train_cpu["settings"]["default"]
        consumed = s["framework_lines_per_s"]["median"]
        for name, d in data["norms"].items():
            x = d["lines_per_s"]["median"] / consumed
            out[f"data_{name}_vs_training"] = {
                "value": round(x, 2),
                "target": ">= 5x",
                "met": x >= 5,
            }
    fair = result.get("fairness", {}).get("PASSIVE")
    if fair:  # same CPU budget, same training, alone or next to a busy process
        v = fair["ratio"]
        out["cpu_budget_steps_loaded_vs_alone"] = {
            "value": round(v, 3),
            "target": ">= 0.9",
            "met": v >= 0.9,
        }
    infer = result.get("infer", {}).get("cpu")
    if infer and result.get("preset") == "conv_bilstm":
        for bs, d in infer["batch_sizes"].items():
            v = d["lines_per_s"]["median"]
            out[f"infer_cpu_bs{bs}"] = {"value": round(v, 1), "target": ">= 100", "met": v >= 100}
    return out


def fmt(x: Any, nd: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, dict) and "median" in x:
        if x["min"] == x["max"]:
            return f"{x['median']:.{nd}f}"
        return f"{x['median']:.{nd}f} [{x['min']:.{nd}f}-{x['max']:.{nd}f}]"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def table(result: dict[str, Any]) -> str:
    """A short human-readable summary (medians, [min-max] over repeats)."""
    rows: list[str] = []
    m = result.get("machine", {})
    rows.append(
        f"machine: {m.get('cpu_model')}, {m.get('cores')} cores, torch {m.get('torch')}, "
        f"{m.get('torch_threads')} threads, data workers 0, load {m.get('load_average_1min')}"
    )
    if result.get("quick"):
        rows.append("(--quick: few steps and lines, one repeat: indicative only)")
    if m.get("other_menu_train_jobs") or m.get("other_menu_train_jobs_at_end"):
        rows.append("WARNING: other menu-train jobs were running: timings are not valid")
    for dev, mm in result.get("matmul", {}).items():
        rows.append(f"matmul peak {dev} (fp32 mm n={mm['n']}): {fmt(mm['gflops'])} GFLOP/s")
    for dev, t in result.get("train", {}).items():
        rows.append(
            f"training {t['preset']} on {dev} (batch {t['batch_size']}, {t['timed_steps']} timed "
            f"steps after {t['warmup_steps']}, x{t['repeats']}), lines/s:"
        )
        defaults = ", ".join(f"{k}={str(v).lower()}" for k, v in t["defaults"].items())
        for name, s in t["settings"].items():
            label = f"default ({defaults})" if name == "default" else name
            rows.append(
                f"  {label}: framework {fmt(s['framework_lines_per_s'])}, bare "
                f"{fmt(s['bare_lines_per_s'])}, paired ratio "
                f"{fmt(s['ratio_framework_to_bare'], 3)}"
                + (
                    f", {fmt(s['framework_gflops'])} GFLOP/s"
                    + (
                        f" = {100 * s['framework_fraction_of_peak']:.1f}% of matmul peak"
                        if s.get("framework_fraction_of_peak")
                        else " (matmul peak not measured)"
                    )
                    + f" ({s['gflop_per_line']:.3f} GFLOP/line)"
                    if "framework_gflops" in s
                    else ""
                )
            )
        for name, x in t.get("speedups", {}).items():
            rows.append(f"  default vs {name} (framework lines/s): {x:.2f}x")
        c = t.get("compile", {})
        if "speedup" in c:
            rows.append(
                f"  torch.compile bare loop: {c['bare_lines_per_s']:.1f} lines/s "
                f"({c['speedup']:.2f}x eager, first step {c['first_step_seconds']:.0f} s)"
            )
        elif "error" in c:
            rows.append(f"  torch.compile: failed ({c['error'][:80]})")
    if "data" in result:
        d = result["data"]
        rows.append(f"data pipeline (decode+normalize+batch, workers 0, {d['lines']} lines):")
        for name, v in d["norms"].items():
            rows.append(f"  norm={name}: {fmt(v['lines_per_s'])} lines/s")
    for dev, inf in result.get("infer", {}).items():
        rows.append(
            f"inference {dev} (evaluate; channels_last={str(inf['channels_last']).lower()}, "
            f"conv_chunk={inf.get('conv_chunk')}; recognize-only / end-to-end lines/s, ms/line):"
        )
        alts = inf.get("variants", {})
        for bs, v in inf["batch_sizes"].items():
            others = ", ".join(
                f"{name}: {fmt(alt[bs]['lines_per_s'])}" for name, alt in alts.items() if bs in alt
            )
            rows.append(
                f"  batch {bs}: {fmt(v['lines_per_s'])} / {fmt(v['end_to_end_lines_per_s'])}, "
                f"{v['ms_per_line']:.2f} ms/line" + (f" ({others})" if others else "")
            )
    if "synth" in result:
        s = result["synth"]
        rows.append(
            f"synthetic generation ({s['n']} lines, {s['workers']} workers): "
            f"{fmt(s['lines_per_s'])} lines/s"
        )
    if "memory" in result:
        rows.append("training peak RSS per preset (own process):")
        for p, v in result["memory"].items():
            if "error" in v:
                rows.append(f"  {p}: failed")
            else:
                rows.append(
                    f"  {p}: {v['peak_rss_mb']:.0f} MiB (after imports "
                    f"{v['rss_after_imports_mb']:.0f}), {v['lines_per_s']:.1f} lines/s, "
                    f"{v['params']} params"
                )
    if "tesseract" in result:
        t = result["tesseract"]
        if "menu" in t:
            mm = t["menu"]
            rows.append(
                f"menu checkpoint on {t['lines']} PNG lines"
                + (f" (beam {mm['beam']})" if mm.get("beam") else "")
                + f": CER {mm['cer']:.4f} (collapsed ws {mm['cer_collapsed_ws']:.4f}), "
                f"{mm['lines_per_s']:.1f} lines/s"
            )
        ts = t["tesseract"]
        if ts.get("available") and "cer" in ts:
            rows.append(
                f"tesseract {ts['version']} --psm {ts['psm']} ({ts['processes']} processes): "
                f"CER {ts['cer']:.4f} (collapsed ws {ts['cer_collapsed_ws']:.4f}), "
                f"{ts['lines_per_s']:.1f} lines/s"
            )
            if d := t.get("tesseract_minus_menu"):
                rows.append(
                    f"CER(tesseract) - CER(menu): {100 * d['cer_difference']:+.2f} points, 95% CI "
                    f"[{100 * d['ci95'][0]:+.2f}, {100 * d['ci95'][1]:+.2f}] (paired bootstrap "
                    f"over {d['lines']} lines), p = {d['p']:.3f}"
                )
        else:
            rows.append(f"tesseract: unavailable ({ts.get('reason') or ts.get('error')})")
        if t.get("by_font"):
            systems = [
                k for k in ("menu", "tesseract") if f"{k}_cer" in next(iter(t["by_font"].values()))
            ]
            rows.append(f"CER by font ({' / '.join(systems)}):")
            for font, row in t["by_font"].items():
                cers = " / ".join(f"{100 * row[f'{k}_cer']:.2f}%" for k in systems)
                rows.append(f"  {font} ({row['lines']} lines): {cers}")
    if "fairness" in result:
        f = result["fairness"]
        rows.append(
            f"CPU budget of {f['seconds']:g} s, {f['threads']} threads: steps alone / next to "
            "one busy process (OMP_WAIT_POLICY):"
        )
        for policy in ("ACTIVE", "PASSIVE"):
            if policy in f:
                p = f[policy]
                rows.append(
                    f"  {policy}: {p['steps_alone']:.0f} / {p['steps_loaded']:.0f} "
                    f"(ratio {p['ratio']:.2f})"
                )
    if result.get("targets"):
        rows.append("targets:")
        for k, v in result["targets"].items():
            rows.append(
                f"  {k}: {v['value']} (target {v['target']}): {'met' if v['met'] else 'NOT met'}"
            )
    return "\n".join(rows)


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
}
SECTIONS = ("matmul", "train", "data", "infer", "synth", "memory", "tesseract", "fairness")


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
    beam: int | None = None,
    compile: bool = False,
    presets: Sequence[str] = PRESETS,
    sizes: dict[str, Any] | None = None,
    overrides: Sequence[str] = (),
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
        if "synth" in sections:
            result["synth"] = synth_throughput(
                size["synth_lines"], workers=min(2, cores()), repeats=size["synth_repeats"]
            )
            log(f"synth: {fmt(result['synth']['lines_per_s'])} lines/s")
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
                menu_beam=beam,
            )
            result["tesseract"]["checkpoint_is_untrained_bench_model"] = checkpoint is None
            log("tesseract: done")
        if "fairness" in sections:
            from menu.fairness import cpu_budget_fairness

            result["fairness"] = cpu_budget_fairness(
                data_dir,
                seconds=size["fairness_seconds"],
                threads=threads,
                repeats=size["fairness_repeats"],
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


def _worker_main(argv: Sequence[str]) -> None:
    if len(argv) != 2 or argv[0] != "--worker":
        raise SystemExit("usage: python -m menu.bench --worker JSON (used by preset_memory)")
    result = _worker(json.loads(argv[1]))
    print(RESULT_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
