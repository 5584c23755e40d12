"""Training throughput: ``menu.training.run`` (the menu-train path) against a bare PyTorch
loop on the same batches, with FLOPs per step and the defaults flipped one at a time."""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.flop_counter import flop_registry, register_flop_formula

import menu.assemble as assemble
import menu.training as menu_train
from benchmarks.common import (
    _sync,
    bench_overrides,
    maxrss_mb,
    prepare_data,
    quiet,
    stats,
    train_lines_needed,
)
from menu.config import compose
from menu.lit import ctc_loss
from menu.registry import instantiate_option
from menu.threads import set_threads

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


def framework_train(
    cfg: DictConfig, run_dir: str | os.PathLike, warmup: int, device: str = "cpu"
) -> dict[str, Any]:
    """Train with ``menu.training.run`` (exactly what ``menu-train`` runs) for
    ``cfg.budget.max_steps`` steps; the steady-state rate after ``warmup`` steps."""
    timer = StepTimer(device)
    with quiet():
        record = menu_train.run(cfg, run_dir, force=True, callbacks=[timer])
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
    profiler: Any = None,
) -> dict[str, Any]:
    """The same training in a plain PyTorch loop: the model, batches (the same train loader
    and seed as ``menu.training.fit``), CTC loss, gradient clipping, Adam and LR schedule, for
    ``cfg.budget.max_steps`` steps. With ``flops`` also the FLOPs of one step (the first
    timed batch) and the padded line-columns of every timed batch. ``profiler``: a
    ``torch.profiler.profile`` whose ``step()`` is called after every step."""
    from menu.lit import LitRecognizer

    pl.seed_everything(int(cfg.seed), verbose=False)
    set_threads(cfg.get("threads"))
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
        loss = ctc_loss(ctc, scores, frames, targets)
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
        if profiler is not None:
            profiler.step()
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


def _rnn_layer_flops(input_shape: Any, w_ih: Any, w_hh: Any, *args: Any, **kwargs: Any) -> int:
    """One oneDNN RNN layer (one direction): the gate matmuls, 2 x steps x gates x (in + hidden)."""
    return 2 * math.prod(input_shape[:-1]) * w_ih[0] * (w_ih[1] + w_hh[1])


def _rnn_layer_backward_flops(*args: Any, **kwargs: Any) -> int:
    """Its backward: the gradients of the inputs and of the weights, twice the forward."""
    return 2 * _rnn_layer_flops(*args[:3])


# FlopCounterMode counts matmuls and convolutions; the CPU LSTM of a padded batch is one
# oneDNN kernel per layer and direction, which it would leave out.
for _op, _formula in (
    (torch.ops.aten.mkldnn_rnn_layer, _rnn_layer_flops),
    (torch.ops.aten.mkldnn_rnn_layer_backward, _rnn_layer_backward_flops),
):
    if _op.default not in flop_registry:
        register_flop_formula(_op)(_formula)


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
        loss = ctc_loss(ctc, model(images, widths), frames, targets)
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

    def overrides_of(*more: str) -> list[str]:
        return bench_overrides(preset, data_dir=data_dir, steps=total, threads=threads,
                               n_train=n_train, device=device, extra=[*extra, *more])  # fmt: skip

    for variant in ["", *variants]:
        name = variant or "default"
        overrides = overrides_of(*([variant] if variant else []))
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
        cfg = compose(overrides_of())
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
