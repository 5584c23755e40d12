"""Repeatable time budgets: a time budget turned into a number of steps, measured once.

A CPU-time budget is fair on a busy machine but never repeatable: the same command stops
at another step every time. With ``budget.calibrate=true`` the time budget
(``max_cpu_seconds``, else ``max_seconds``) is measured once as steps: the configuration
trains :data:`WARMUP` + :data:`MEASURED` steps with the threads its runs will have, and the
budget becomes ``max_steps = seconds / seconds per measured step``. The result is written to
``budget.json`` (in the sweep folder for a sweep, measured on the sweep's base
configuration in one process before its jobs start; in the run folder for a single run),
and every run and every rerun that finds the file uses its steps: the whole sweep is then
repeatable, and its runs get equal steps.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, open_dict

from menu.budget import Budget
from menu.record import machine, read_json

log = logging.getLogger(__name__)

CALIBRATION = "budget.json"
WARMUP = 5  # steps before the clock starts (shuffle buffer, allocator, caches)
MEASURED = 30  # steps timed


class StepClock(pl.Callback):
    """Wall and CPU clock readings at the end of every training batch."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())


def time_limit(budget: DictConfig) -> tuple[str, float]:
    """The budget's time limit to calibrate: (key, seconds)."""
    for key in ("max_cpu_seconds", "max_seconds"):
        if budget.get(key):
            return key, float(budget[key])
    raise ValueError(
        "budget.calibrate=true needs a time budget to turn into steps: set "
        "budget.max_cpu_seconds (or budget.max_seconds)"
    )


def measure(cfg: DictConfig) -> dict[str, Any]:
    """Train ``cfg`` for WARMUP + MEASURED steps (no validation, nothing saved) and convert
    its time budget into steps."""
    from menu.assemble import setup
    from menu.registry import infer_choices
    from menu.threads import run_threads, set_threads

    key, seconds = time_limit(cfg.budget)
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    set_threads(run_threads(cfg))
    built = setup(cfg, infer_choices(cfg))
    clock = StepClock()
    with tempfile.TemporaryDirectory(prefix="menu-calibrate-") as tmp:
        trainer = pl.Trainer(
            accelerator=cfg.trainer.get("accelerator", "cpu"),
            devices=1,
            precision=cfg.trainer.get("precision", "32-true"),
            max_epochs=-1,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp,
            callbacks=[Budget(max_steps=WARMUP + MEASURED), clock],
        )
        with warnings.catch_warnings():  # no validation here, on purpose
            warnings.filterwarnings("ignore", ".*no `val_dataloader`.*")
            trainer.fit(built.lit, built.loaders["train"])
    readings = clock.cpu if key == "max_cpu_seconds" else clock.wall
    if len(readings) <= WARMUP:
        raise ValueError(f"calibration needs more than {WARMUP} training batches")
    per_step = (readings[-1] - readings[WARMUP - 1]) / (len(readings) - WARMUP)
    import torch

    return {
        "max_steps": max(1, int(seconds / max(per_step, 1e-9))),
        "from": {key: seconds},
        "seconds_per_step": per_step,
        "measured_steps": len(readings) - WARMUP,
        "threads": torch.get_num_threads(),
        "choices": infer_choices(cfg),
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def write_once(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Write ``data`` to ``path`` unless it exists (atomically: the first writer wins, as
    with parallel jobs); return what the file holds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return read_json(path)


def sweep_base(config: DictConfig) -> DictConfig:
    """A sweep's base configuration as its jobs run it: the task config without ``hydra``,
    with the threads each job gets beside the launcher's other jobs."""
    from omegaconf import OmegaConf

    from menu.threads import job_threads

    cfg = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
    with open_dict(cfg):
        cfg.threads = job_threads(cfg.get("threads"), config.hydra.launcher.get("n_jobs"))
    return cfg


def calibrated(cfg: DictConfig, folder: str | os.PathLike) -> dict[str, Any]:
    """The calibration in ``folder/budget.json``, measured now if there is none yet."""
    path = Path(folder) / CALIBRATION
    if path.exists():
        return read_json(path)
    log.info("calibrating the time budget into steps (%d steps measured)", MEASURED)
    result = write_once(path, measure(cfg))
    log.info(
        "%s: %s -> budget.max_steps=%d (%s)",
        path,
        result["from"],
        result["max_steps"],
        f"{result['seconds_per_step']:.4f} s per step",
    )
    return result


def apply(cfg: DictConfig, calibration: dict[str, Any]) -> None:
    """Replace ``cfg``'s time budget by the calibrated steps (in place)."""
    with open_dict(cfg):
        cfg.budget.max_steps = int(calibration["max_steps"])
        cfg.budget.max_seconds = None
        cfg.budget.max_cpu_seconds = None
        cfg.budget.calibrate = False  # done: the config now holds the steps
