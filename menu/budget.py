"""A training budget in CPU seconds of this process (all its threads), robust to other load
on the machine, unlike wall-clock limits."""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl


class CpuBudget(pl.Callback):
    """Stop training once the process has used ``seconds`` of CPU time in training steps
    (data loading in the process included; validation excluded). Survives resume."""

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"budget.max_cpu_seconds must be positive, got {seconds}")
        self.seconds = float(seconds)
        self.used = 0.0
        self._start: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.process_time()

    def _pause(self) -> None:
        if self._start is not None:
            self.used += time.process_time() - self._start
            self._start = None

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pause()

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if self._start is None:  # first batch after a validation
            self._start = time.process_time()

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self._start is not None:
            now = time.process_time()
            self.used += now - self._start
            self._start = now
        if self.used >= self.seconds:
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pause()

    def state_dict(self) -> dict[str, float]:
        return {"used": self.used}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.used = float(state_dict.get("used", 0.0))
