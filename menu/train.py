"""Train, validate, test and record one configuration (the library behind `menu-train`)."""

from __future__ import annotations

import logging
import math
import os
import time
import traceback
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import (
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    TQDMProgressBar,
)
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from menu.budget import CpuBudget
from menu.data.codec import Codec, scan_texts
from menu.data.loader import make_loader
from menu.data.shards import fonts_of
from menu.data.synth import prepare
from menu.lit import LitRecognizer
from menu.metrics import group_table, label_records
from menu.record import RESULT, git_sha, infer_choices, read_result, versions, write_json

log = logging.getLogger(__name__)


def set_threads(threads: int | None) -> None:
    """Intra-op threads: the configured number, else all cores."""
    n = int(threads) if threads else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))


def process_rank() -> int:
    """Global rank of this process in a distributed run (0 when not distributed)."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def build_codec(data: DictConfig) -> tuple[Codec, int]:
    """The codec (from config, else from the training transcripts) and the training lines."""
    texts = list(scan_texts(data.train))
    if data.get("codec"):
        return Codec(str(data.codec)), len(texts)
    if not texts:
        raise ValueError(f"no transcripts found in the training shards {data.train}")
    return Codec.from_texts(texts), len(texts)


def read_init(path: str | Path) -> dict[str, Any]:
    """The ``init_from`` checkpoint, loaded once (``weights_only``): weights and codec."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    if "state_dict" not in ckpt or not ckpt.get("hyper_parameters", {}).get("codec"):
        raise ValueError(f"init_from={path} is not a menu checkpoint (no state_dict/codec)")
    return ckpt


def init_weights(lit: LitRecognizer, ckpt: dict[str, Any], path: str | Path) -> None:
    """Start from a menu checkpoint's model weights (fine-tuning, warm restarts); the
    optimizer, schedule and step count start fresh. The architecture must match."""
    try:
        lit.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise ValueError(
            f"init_from={path}: its model does not match this configuration's "
            f"(norm/conv/scale/reduce/seq and their sizes must be the same):\n{e}"
        ) from None


def init_codec(ckpt: dict[str, Any], path: str | Path, data: DictConfig) -> Codec:
    """The codec stored in the ``init_from`` checkpoint (its output layer is tied to it);
    an explicit ``data.codec`` must be the same."""
    codec = Codec.from_dict(ckpt["hyper_parameters"]["codec"])
    if data.get("codec") and Codec(str(data.codec)).chars != codec.chars:
        raise ValueError(
            f"data.codec differs from the codec of init_from={path}; leave data.codec unset "
            "to use the checkpoint's"
        )
    return codec


def loaders(
    cfg: DictConfig, data: DictConfig, norm: Any, epoch_length: int | None = None
) -> dict[str, Any]:
    """Train (shuffled), val and test loaders (file order). ``epoch_length`` fixes the
    training batches per epoch (needed in DDP, where every rank must step equally often)."""
    common = {
        "batch_size": int(data.batch_size),
        "workers": int(data.workers),
        "max_width": int(data.max_width),
        "min_width": int(data.get("min_width", 4)),
        "nfc": bool(data.get("nfc", True)),
        "seed": int(cfg.seed),
    }
    return {
        "train": make_loader(
            data.train,
            norm,
            shuffle=int(data.shuffle),
            bucket=bool(data.bucket),
            epoch_length=epoch_length or data.get("epoch_length"),
            **common,
        ),
        # every rank validates on the whole set: identical val_cer everywhere, no collectives
        "val": make_loader(data.val, norm, shuffle=0, split_by_rank=False, **common),
        "test": make_loader(data.test, norm, shuffle=0, split_by_rank=False, **common),
    }


class ProgressBar(TQDMProgressBar):
    """Lightning's progress bar without the logger version (our runs are named by folder)."""

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


def make_trainer(cfg: DictConfig, run_dir: Path, max_seconds: float | None) -> pl.Trainer:
    budget = cfg.budget
    callbacks: list[pl.Callback] = [
        ModelCheckpoint(
            dirpath=run_dir / "checkpoints",
            filename="best",
            monitor="val_cer",
            mode="min",
            save_top_k=1,
            save_last=True,
        ),
        ModelCheckpoint(
            dirpath=run_dir / "checkpoints",
            every_n_train_steps=int(cfg.checkpoint.every_steps),
            save_top_k=0,
            save_last=True,
        ),
        LearningRateMonitor(logging_interval="step"),
    ]
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(ProgressBar())
    if budget.get("max_cpu_seconds"):
        callbacks.append(CpuBudget(float(budget.max_cpu_seconds)))
    if cfg.early_stopping.get("patience") is not None:
        callbacks.append(
            EarlyStopping(
                monitor="val_cer",
                mode="min",
                patience=int(cfg.early_stopping.patience),
                check_on_train_epoch_end=False,  # only after validations (budgets may end first)
            )
        )
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    deterministic: bool | str = bool(cfg.deterministic)
    if deterministic and trainer_cfg.get("accelerator") not in ("cpu", None):
        deterministic = "warn"  # some CUDA kernels (CTC, LSTM) have no deterministic variant
    val_every = budget.get("val_every_steps")
    return pl.Trainer(
        default_root_dir=run_dir,
        max_epochs=int(budget.max_epochs) if budget.max_epochs is not None else -1,
        max_steps=int(budget.max_steps) if budget.max_steps is not None else -1,
        max_time={"seconds": max_seconds} if max_seconds else None,
        val_check_interval=int(val_every) if val_every else None,
        check_val_every_n_epoch=None if val_every else 1,
        num_sanity_val_steps=0,
        gradient_clip_val=cfg.optim.get("grad_clip"),
        deterministic=deterministic,
        callbacks=callbacks,
        logger=[
            CSVLogger(run_dir, name="", version="logs"),
            TensorBoardLogger(run_dir, name="tensorboard", version=""),
        ],
        **trainer_cfg,
    )


def fit(cfg: DictConfig, run_dir: Path, choices: dict[str, str]) -> dict[str, Any]:
    """Train and test one configuration in ``run_dir``; return the result fields."""
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    set_threads(cfg.get("threads"))
    data = prepare(cfg.data)
    codec, n_train = build_codec(data)
    init_from = cfg.get("init_from")
    init = read_init(init_from) if init_from else None
    if init is not None:
        codec = init_codec(init, init_from, data)
    norm = instantiate(cfg.norm)
    steps_per_epoch = math.ceil(n_train / int(data.batch_size))
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain["data"] = OmegaConf.to_container(data, resolve=True)
    plain["choices"] = choices
    max_seconds = cfg.budget.get("max_seconds")
    trainer = make_trainer(cfg, run_dir, max_seconds)
    world = trainer.world_size
    # DDP: fixed global batches per epoch, shared equally, so all ranks step together
    steps_per_epoch = math.ceil(steps_per_epoch / world)
    dl = loaders(cfg, data, norm, epoch_length=steps_per_epoch * world if world > 1 else None)
    lit = LitRecognizer(plain, codec.to_dict(), steps_per_epoch=steps_per_epoch)
    last = run_dir / "checkpoints" / "last.ckpt"
    resumed = last.exists()
    if resumed:
        log.info("resuming from %s", last)
    elif init is not None:
        init_weights(lit, init, init_from)
        log.info("model weights from %s", init_from)
    trainer.fit(
        lit, dl["train"], dl["val"], ckpt_path=str(last) if resumed else None, weights_only=False
    )
    callback = trainer.checkpoint_callback
    best = callback.best_model_path if callback is not None else ""
    val = callback.best_model_score if callback is not None else None
    if not trainer.is_global_zero:
        return {}  # rank 0 tests and records
    if best:
        state = torch.load(best, map_location="cpu", weights_only=True)
        lit.load_state_dict(state["state_dict"])
    # One device, the same test protocol whatever the training strategy was.
    tester = pl.Trainer(
        accelerator=cfg.trainer.get("accelerator", "auto"),
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=bool(cfg.trainer.get("enable_progress_bar", True)),
    )
    tester.test(lit, dl["test"], verbose=False)
    test = lit.results["test"]
    rates = lit.rates["test"]
    fonts = fonts_of(data.test)
    records = label_records(rates.line_records(), fonts, "font")
    write_lines(run_dir / "test_lines.csv", records)
    return {
        "val_cer": float(val) if val is not None else lit.results.get("val", {}).get("cer"),
        "test_cer": test["cer"],
        "test_wer": test["wer"],
        "test_lines": test["n"],
        "test_cer_by_font": {k: round(v["cer"], 5) for k, v in group_table(records, fonts).items()},
        "test_unknown_char_lines": test["unknown"]["lines_affected"],
        "test_unknown_chars": test["unknown"]["unknown_chars"],
        "params": lit.model.num_params,
        "downsampling": lit.model.downsampling,
        "num_classes": codec.num_classes,
        "train_lines": n_train,
        "train_seconds": round(lit.train_seconds, 3),
        "train_lines_per_s": world * lit.train_lines / max(lit.train_seconds, 1e-9),
        "world_size": world,
        "infer_lines_per_s": lit.infer_lines / max(lit.infer_seconds, 1e-9),
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "resumed": resumed,
        "budget": OmegaConf.to_container(cfg.budget, resolve=True),
        "best_checkpoint": best or str(last),
        "skipped": {
            "train": dict(lit.train_skipped_last_epoch or lit.skipped["train"]),
            "val": dict(lit.skipped["val"]),
            "test": dict(lit.skipped["test"]),
        },
        "data": {k: data.get(k) for k in ("train", "val", "test")},
    }


def write_lines(path: Path, records: list[dict]) -> None:
    """Per-line test errors (for bootstrap confidence intervals)."""
    import pandas as pd

    pd.DataFrame(records).to_csv(path, index=False)


def run(
    cfg: DictConfig,
    run_dir: str | Path,
    *,
    choices: dict[str, str] | None = None,
    overrides: list[str] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Run one configuration: skip it if ``run_dir`` already holds a finished result, resume
    it from ``checkpoints/last.ckpt`` if it was interrupted, and always leave a
    ``result.json`` (``status: failed`` with the error if it dies)."""
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if process_rank() > 0:  # a DDP worker process: rank 0 owns the record
        return fit(cfg, run_dir, choices or infer_choices(cfg))
    previous = read_result(run_dir)
    if previous and previous.get("status") == "ok" and not force:
        log.info("already finished: %s (test_cer %.4f)", run_dir, previous["test_cer"])
        return previous
    record: dict[str, Any] = {
        "status": "running",
        "run_dir": str(run_dir),
        "choices": choices or infer_choices(cfg),
        "overrides": list(overrides or []),
        "seed": int(cfg.seed),
        "git_sha": git_sha(),
        "versions": versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write_json(run_dir / RESULT, record)
    t0, c0 = time.perf_counter(), cpu_seconds()
    try:
        record.update(fit(cfg, run_dir, record["choices"]))
        record["status"] = "ok"
    except BaseException as e:
        record["status"] = "failed"
        record["error"] = f"{type(e).__name__}: {e}"
        record["traceback"] = traceback.format_exc(limit=20)
        raise
    finally:
        record["wall_seconds"] = round(time.perf_counter() - t0, 3)
        record["cpu_seconds"] = round(cpu_seconds() - c0, 3)
        write_json(run_dir / RESULT, record)
    return record


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (synthetic data
    generation, loader workers) so far."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def reproduce(run_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Rerun a finished run from its own ``.hydra/config.yaml`` into ``out_dir`` (default
    ``RUN/reproduce``) and compare its CERs with the original record."""
    run_dir = Path(run_dir)
    config = run_dir / ".hydra" / "config.yaml"
    if not config.exists():
        raise FileNotFoundError(f"{config} not found: {run_dir} is not a menu-train run folder")
    original = read_result(run_dir) or {}
    cfg = OmegaConf.load(config)
    out = Path(out_dir) if out_dir else run_dir / "reproduce"
    record = run(
        cfg,
        out,
        choices=original.get("choices"),
        overrides=original.get("overrides"),
        force=True,
    )
    keys = ("val_cer", "test_cer", "test_wer")
    return {
        "original": {k: original.get(k) for k in keys},
        "reproduced": {k: record.get(k) for k in keys},
        "identical": all(original.get(k) == record.get(k) for k in keys),
        "run_dir": str(out),
    }
