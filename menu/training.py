"""Train, validate, test and record one configuration (the library behind `menu-train`)."""

from __future__ import annotations

import logging
import os
import signal
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import (
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    TQDMProgressBar,
)
from pytorch_lightning.utilities.exceptions import SIGTERMException

from menu.assemble import init_weights, setup
from menu.budget import Budget, stop_reason
from menu.config import OWNED_TRAINER_KEYS, check
from menu.record import (
    RESULT,
    FolderBusy,
    RunLock,
    file_sha256,
    git_sha,
    identity,
    identity_sha256,
    machine,
    read_result,
    shards_sha256,
    versions,
    write_csv,
    write_json,
)
from menu.registry import infer_choices, instantiate_option
from menu.resume import (
    GracefulStop,
    Interrupted,
    PeriodicCheckpoint,
    ResumableCSVLogger,
    graceful_fit,
    resume_point,
    stop_on_signals,
)
from menu.threads import cpu_seconds, process_rank, run_threads, set_threads

log = logging.getLogger(__name__)


class _NoTips(logging.Filter):
    """Drop Lightning's advertisements ("💡 Tip: ...") from the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "💡" not in record.getMessage()


logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_NoTips())


class ProgressBar(TQDMProgressBar):
    """Lightning's progress bar without the logger version (our runs are named by folder)."""

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


def budget_callback(budget: DictConfig) -> Budget:
    """The :class:`~menu.budget.Budget` callback of the ``budget`` config."""
    return Budget(
        max_steps=budget.get("max_steps"),
        max_seconds=budget.get("max_seconds"),
        max_cpu_seconds=budget.get("max_cpu_seconds"),
        max_batches=budget.get("max_batches"),
        target_val_cer=budget.get("target_val_cer"),
        rung_steps=budget.get("rung_steps"),
        schedule_progress=budget.get("schedule_progress"),
    )


def make_loggers(cfg: DictConfig, run_dir: Path, resume_step: int | None = None) -> list:
    """The run's loggers (the ``logger`` group, several at once), writing into ``run_dir``;
    the CSV logger keeps the rows logged up to ``resume_step`` of a resumed run."""
    out = []
    for node in (cfg.get("logger") or {}).values():
        kwargs: dict[str, Any] = {"save_dir": str(run_dir)}
        if node.get("_target_") == f"{ResumableCSVLogger.__module__}.ResumableCSVLogger":
            kwargs["resume_step"] = resume_step
        out.append(instantiate_option("logger", node, **kwargs))
    return out


def make_trainer(
    cfg: DictConfig,
    run_dir: Path,
    budget: Budget,
    resume_step: int | None = None,
    callbacks: Sequence[pl.Callback] = (),
) -> pl.Trainer:
    """The Lightning Trainer of a run: budget, checkpoints, early stopping, loggers (a run
    resumed at ``resume_step`` keeps the metrics logged up to it), and ``callbacks``."""
    callbacks = [
        *callbacks,
        budget,
        ModelCheckpoint(
            dirpath=run_dir / "checkpoints",
            filename="best",
            monitor="val_cer",
            mode="min",
            save_top_k=1,
            save_last=False,  # PeriodicCheckpoint writes last.ckpt after every validation
        ),
        PeriodicCheckpoint(run_dir / "checkpoints" / "last.ckpt", int(cfg.checkpoint.every_steps)),
        GracefulStop(run_dir / "checkpoints" / "last.ckpt"),
    ]
    loggers = make_loggers(cfg, run_dir, resume_step)
    if loggers:  # the learning rate goes to the loggers (Lightning refuses it without one)
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(ProgressBar())
    if cfg.early_stopping.get("patience") is not None:
        callbacks.append(
            EarlyStopping(
                monitor="val_cer",
                mode="min",
                patience=int(cfg.early_stopping.patience),
                check_on_train_epoch_end=False,  # only after validations (budgets may end first)
            )
        )
    trainer_cfg = {
        k: v
        for k, v in OmegaConf.to_container(cfg.trainer, resolve=True).items()
        if k not in OWNED_TRAINER_KEYS  # placeholders (null); check() refused any other value
    }
    if (
        str(trainer_cfg.get("precision", "")).startswith("bf16")
        and trainer_cfg.get("accelerator") in ("cpu", None)
        and not torch.ops.mkldnn._is_mkldnn_bf16_supported()
    ):
        log.warning(
            "trainer.precision=bf16-mixed on a CPU without bfloat16 instructions (AVX512-BF16 "
            "or AMX) is emulated and slower than float32: set trainer.precision=32-true"
        )
    deterministic: bool | str = bool(cfg.deterministic)
    if deterministic and trainer_cfg.get("accelerator") not in ("cpu", None):
        deterministic = "warn"  # some CUDA kernels (CTC, LSTM) have no deterministic variant
    val_every = cfg.budget.get("val_every_steps")
    max_epochs = cfg.budget.get("max_epochs")
    return pl.Trainer(
        default_root_dir=run_dir,
        max_epochs=int(max_epochs) if max_epochs is not None else -1,
        max_steps=-1,  # the Budget callback stops at max_steps, then validates once more
        val_check_interval=int(val_every) if val_every else None,
        check_val_every_n_epoch=None if val_every else 1,
        num_sanity_val_steps=0,
        gradient_clip_val=cfg.optim.get("grad_clip"),
        deterministic=deterministic,
        callbacks=callbacks,
        logger=loggers or False,
        **trainer_cfg,
    )


def fit(
    cfg: DictConfig,
    run_dir: Path,
    choices: dict[str, str],
    callbacks: Sequence[pl.Callback] = (),
) -> dict[str, Any]:
    """Train and test one configuration in ``run_dir``; return the result fields.
    ``callbacks`` join the Trainer's own (e.g. the benchmark's step timer)."""
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    set_threads(run_threads(cfg))
    last = run_dir / "checkpoints" / "last.ckpt"
    resumed = last.exists()
    step, epoch, done = resume_point(last) if resumed else (None, 0, 0)
    budget = budget_callback(cfg.budget)
    trainer = make_trainer(cfg, run_dir, budget, resume_step=step, callbacks=callbacks)
    world = trainer.world_size
    built = setup(cfg, choices, world)
    data, codec, n_train, dl, lit = built.data, built.codec, built.n_train, built.loaders, built.lit
    lit.schedule_clock = budget.progress  # optim.schedule_clock=time reads it
    init_from, init, steps_per_epoch = cfg.get("init_from"), built.init, built.steps_per_epoch
    if resumed:
        dl["train"].resume(epoch, done)  # the interrupted epoch goes on where it stopped
        log.info("resuming from %s (step %d; epoch %d after %d batches)", last, step, epoch, done)
    elif init is not None:
        init_weights(lit, init, init_from, grow=cfg.get("init_codec") == "union")
        log.info("model weights from %s", init_from)
    try:
        with graceful_fit():
            trainer.fit(lit, dl["train"], dl["val"], ckpt_path=str(last) if resumed else None,
                        weights_only=True)  # fmt: skip
    except SIGTERMException:  # Lightning stopped after a batch; GracefulStop saved last.ckpt
        stop = next(c for c in trainer.callbacks if isinstance(c, GracefulStop))
        raise Interrupted(stop.signum or signal.SIGTERM) from None
    except SystemExit as e:  # Lightning's answer to a second Ctrl-C
        if isinstance(e.__context__, KeyboardInterrupt):
            raise Interrupted(signal.SIGINT) from None
        raise
    callback = trainer.checkpoint_callback
    best = callback.best_model_path if callback is not None else ""
    val = callback.best_model_score if callback is not None else None
    if not trainer.is_global_zero:
        return {}  # rank 0 tests and records
    stopped_by = stop_reason(trainer, budget)
    test: dict[str, Any] = {}
    if stopped_by != "rung_steps":  # a run paused at a rung (menu.search) goes on later
        test = _test(cfg, lit, best, dl["test"], run_dir)
    return {
        # the best validation (exact; the checkpoint callback keeps it as float32)
        "val_cer": min((c for _, c in lit.history["val"]), default=float(val) if val else None),
        **test,
        "params": lit.model.num_params,
        "downsampling": lit.model.downsampling,
        "num_classes": codec.num_classes,
        "train_lines": n_train,
        "train_seconds": round(lit.train_seconds, 3),
        "train_lines_per_s": world * lit.train_lines / max(lit.train_seconds, 1e-9),
        "world_size": world,
        "infer_lines_per_s": lit.infer_lines / max(lit.infer_seconds, 1e-9) if test else None,
        # what the run did: enough to replay it exactly (menu-reproduce)
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "batches": budget.batches,
        "stopped_by": stopped_by,
        "budget_used": {"seconds": round(budget.seconds, 3), "cpu_seconds": budget.cpu_seconds},
        "val_history": lit.history["val"],
        "val_clock": budget.val_clock,  # [step, training seconds, CPU-seconds] per validation
        "paused_at": budget.paused_at,  # rung pauses (menu.search): menu-reproduce repeats them
        # optim.schedule_clock=time: the budget used at each step (menu-reproduce replays it)
        "schedule_progress": budget.schedule_progress or None,
        "resumed_at": lit.history["resumed_at"],
        "skipped_steps": dict(lit.skipped_steps),  # non-finite loss or gradient: not applied
        "resumed": resumed,
        "threads": torch.get_num_threads(),
        "workers": int(data.workers),
        "batch_size": int(data.batch_size),
        "steps_per_epoch": steps_per_epoch,
        "precision": str(trainer.precision),
        "accelerator": type(trainer.accelerator).__name__,
        "budget": OmegaConf.to_container(cfg.budget, resolve=True),
        "best_checkpoint": best or str(last),
        "skipped": {
            "train": dict(lit.train_skipped_last_epoch or lit.skipped["train"]),
            "val": dict(lit.skipped["val"]),
            "test": dict(lit.skipped["test"]),
        },
        "data": {k: data.get(k) for k in ("train", "val", "test")},
        "data_sha256": {k: shards_sha256(data.get(k)) for k in ("train", "val", "test")},
        "init_from_sha256": file_sha256(init_from) if init_from else None,
        "config": {k: v for k, v in lit.hparams["cfg"].items() if k != "choices"}
        | {"threads": torch.get_num_threads()},
    }


def _test(
    cfg: DictConfig, lit: pl.LightningModule, best: str, loader: Any, run_dir: Path
) -> dict[str, Any]:
    """The test protocol (one device, the best checkpoint's weights): the test fields of
    the record, and the per-line errors in ``test_lines.csv`` (bootstrap intervals)."""
    if best:
        state = torch.load(best, map_location="cpu", weights_only=True)
        lit.load_state_dict(state["state_dict"])
    tester = pl.Trainer(
        accelerator=cfg.trainer.get("accelerator", "auto"),
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=bool(cfg.trainer.get("enable_progress_bar", True)),
    )
    tester.test(lit, loader, verbose=False)
    test = lit.results["test"]
    evaluation = lit.evaluations["test"]
    write_csv(run_dir / "test_lines.csv", evaluation.records())
    return {
        "test_cer": test["cer"],
        "test_wer": test["wer"],
        "test_lines": test["n"],
        "test_failed": test["failed"],
        "test_cer_by_font": {k: round(v["cer"], 5) for k, v in evaluation.by_font().items()},
        "test_unknown_char_lines": test["unknown"]["lines_affected"],
        "test_unknown_chars": test["unknown"]["unknown_chars"],
    }


def run(
    cfg: DictConfig,
    run_dir: str | Path,
    *,
    choices: dict[str, str] | None = None,
    overrides: list[str] | None = None,
    force: bool = False,
    extra: dict[str, Any] | None = None,
    callbacks: Sequence[pl.Callback] = (),
) -> dict[str, Any]:
    """Run one configuration: skip it if ``run_dir`` already holds a finished result, resume
    it from ``checkpoints/last.ckpt`` if it was interrupted, and always leave a
    ``result.json`` (``status: failed`` with the error if it dies); ``extra`` fields go into
    the record as they are (e.g. the budget calibration). A configuration that
    cannot run as typed raises :class:`~menu.config.ConfigError` before anything is written."""
    check(cfg)
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if process_rank() > 0:  # a DDP worker process: rank 0 owns the record
        return fit(cfg, run_dir, choices or infer_choices(cfg), callbacks)
    with RunLock(run_dir):
        return _run_locked(cfg, run_dir, choices, overrides, force, extra, callbacks)


def _run_locked(
    cfg: DictConfig,
    run_dir: Path,
    choices: dict[str, str] | None,
    overrides: list[str] | None,
    force: bool,
    extra: dict[str, Any] | None,
    callbacks: Sequence[pl.Callback],
) -> dict[str, Any]:
    sha = identity_sha256(cfg)
    previous = finished(run_dir, cfg, force)
    if previous is not None:
        log.info("already finished: %s (test_cer %s)", run_dir, previous.get("test_cer"))
        return previous
    record: dict[str, Any] = {
        "status": "running",
        "run_dir": str(run_dir),
        "choices": choices or infer_choices(cfg),
        "overrides": list(overrides or []),
        "seed": int(cfg.seed),
        "config_sha256": sha,
        "git_sha": git_sha(),
        "versions": versions(),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "pid": os.getpid(),
        **(extra or {}),
    }
    write_json(run_dir / RESULT, record)
    t0, c0 = time.perf_counter(), cpu_seconds()
    try:
        with stop_on_signals():
            record.update(fit(cfg, run_dir, record["choices"], callbacks))
        record["status"] = "ok"
    except Interrupted as e:  # SIGTERM/SIGINT: resumable; the exit code tells the scheduler
        record["status"] = "interrupted"
        record["error"] = str(e)
        raise SystemExit(e.exit_code) from None
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


def finished(run_dir: Path, cfg: DictConfig, force: bool = False) -> dict[str, Any] | None:
    """The record of ``run_dir`` if it holds this configuration's finished run (None: train
    it); :class:`FolderBusy` if it holds another configuration's run, unless ``force``."""
    previous = read_result(run_dir)
    if not previous or force:
        return None
    if previous.get("config_sha256") not in (None, identity_sha256(cfg)):
        raise FolderBusy(
            f"{run_dir} holds a run of another configuration (differs in "
            f"{_differences(previous.get('config') or {}, cfg)}); give this run another "
            "folder (hydra.run.dir=...), or force=true to replace it"
        )
    if previous.get("status") != "ok":
        return None
    rung = cfg.budget.get("rung_steps")
    if previous.get("stopped_by") == "rung_steps" and (rung is None or rung > previous["steps"]):
        return None  # paused at a rung: train on from last.ckpt to the new one
    return previous


def _differences(recorded: dict[str, Any], cfg: DictConfig) -> str:
    """The keys (outside ``data``, which a run records prepared) whose values differ."""
    a, b = identity(recorded), identity(cfg)
    keys = sorted(k for k in set(a) | set(b) if not k.startswith("data.") and a.get(k) != b.get(k))
    return ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "") if keys else "its data"
