"""The training budget as one Lightning callback: which limit ends a run, and when.

Every limit stops training *after the training batch* at which it is reached, by setting
``trainer.should_stop``; Lightning then validates once more, so the last weights are always
validated (and can become ``best.ckpt``). The limits:

* ``max_steps``: optimizer steps;
* ``max_seconds``: wall-clock seconds of the training batches (validation excluded);
* ``max_cpu_seconds``: CPU seconds of this process (all its threads) in the training
  batches, data loading in the process included, validation excluded: fair when the
  machine is busy, but never repeatable;
* ``max_batches``: training batches; ``menu-reproduce`` replays a time-limited run with the
  number of batches it recorded, so the replay stops where the original stopped.

``max_epochs`` stays with the Trainer (an epoch ends by itself). ``stopped_by`` names the
limit that fired; the counters survive a resume (they are saved in the checkpoint).
"""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl

#: What can end a run (``result.json`` ``stopped_by``).
STOP_REASONS = (
    "max_steps",
    "max_batches",
    "max_seconds",
    "max_cpu_seconds",
    "max_epochs",
    "early_stopping",
    "interrupted",
)

#: Budget keys that are clocks: a run they stop is replayed by its batch count.
TIME_LIMITS = ("max_seconds", "max_cpu_seconds")


def _positive(name: str, value: float | None) -> float | None:
    if value is None or (name in ("max_steps", "max_batches") and int(value) < 0):
        return None  # -1 is Lightning's "no limit"
    if value <= 0:
        raise ValueError(f"budget.{name} must be positive (or null for no limit), got {value}")
    return float(value)


class Budget(pl.Callback):
    """Stops training after the batch at which the first limit is reached (see module)."""

    def __init__(
        self,
        max_steps: int | None = None,
        max_seconds: float | None = None,
        max_cpu_seconds: float | None = None,
        max_batches: int | None = None,
    ) -> None:
        self.limits = {
            k: v
            for k, v in {
                "max_steps": _positive("max_steps", max_steps),
                "max_batches": _positive("max_batches", max_batches),
                "max_seconds": _positive("max_seconds", max_seconds),
                "max_cpu_seconds": _positive("max_cpu_seconds", max_cpu_seconds),
            }.items()
            if v is not None
        }
        self.batches = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.stopped_by: str | None = None
        self._start: tuple[float, float] | None = None

    # --- clocks: run during training batches, paused for validation --------------------

    def _tick(self, restart: bool) -> None:
        now = (time.perf_counter(), time.process_time())
        if self._start is not None:
            self.seconds += now[0] - self._start[0]
            self.cpu_seconds += now[1] - self._start[1]
        self._start = now if restart else None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._tick(restart=True)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if self._start is None:  # first batch after a validation
            self._tick(restart=True)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._tick(restart=False)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._tick(restart=False)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._tick(restart=True)
        self.batches += 1
        used = {
            "max_steps": trainer.global_step,
            "max_batches": self.batches,
            "max_seconds": self.seconds,
            "max_cpu_seconds": self.cpu_seconds,
        }
        for name, limit in self.limits.items():
            if used[name] >= limit:
                self.stopped_by = self.stopped_by or name
                trainer.should_stop = True

    # --- resume -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.batches = int(state_dict.get("batches", 0))
        self.seconds = float(state_dict.get("seconds", 0.0))
        self.cpu_seconds = float(state_dict.get("cpu_seconds", 0.0))


def stop_reason(trainer: pl.Trainer, budget: Budget) -> str:
    """Which limit ended ``trainer.fit`` (one of :data:`STOP_REASONS`)."""
    if budget.stopped_by:
        return budget.stopped_by
    if trainer.interrupted:
        return "interrupted"
    if trainer.should_stop:  # nothing else in menu's trainer sets it
        return "early_stopping"
    return "max_epochs"
