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
  number of batches it recorded, so the replay stops where the original stopped;
* ``rung_steps``: like ``max_steps``, but a pause: the same run started again with a larger
  ``rung_steps`` (or none) continues from its ``last.ckpt`` (successive halving promotes
  runs this way, ``menu.search``); the schedule still spans ``max_steps``. The steps it
  paused at are recorded (``paused_at``): the validation at each pause is one a run trained
  through would not have, so ``menu-reproduce`` pauses its replay at the same steps;
* ``target_val_cer``: a validation CER at or below this ends the run at that validation
  (time to accuracy: ``scripts/bench.py --only tta``).

A time budget can also drive the learning-rate schedule (``optim.schedule_clock=time``):
:meth:`Budget.progress` is the fraction of the budget used, the furthest of the clocks and
``max_steps``, so the cosine ends where the clock does on a fast or a slow (or busy)
machine. The progress of every step is kept (``schedule_progress`` in the record), and a
replay reads it back instead of the clock (``budget.schedule_progress``): the same rates at
the same steps.

At every validation the clocks are read into ``val_clock`` (step, training seconds,
training CPU-seconds), so a run's record tells how long it took to reach each validation CER.

``max_epochs`` stays with the Trainer (an epoch ends by itself). ``stopped_by`` names the
limit that fired; the counters survive a resume (they are saved in the checkpoint).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytorch_lightning as pl

#: What can end a run (``result.json`` ``stopped_by``).
STOP_REASONS = (
    "max_steps",
    "rung_steps",
    "max_batches",
    "max_seconds",
    "max_cpu_seconds",
    "max_epochs",
    "target_val_cer",
    "early_stopping",
    "interrupted",
)

#: Budget keys that are clocks: a run they stop is replayed by its batch count.
TIME_LIMITS = ("max_seconds", "max_cpu_seconds")


def _positive(name: str, value: float | None) -> float | None:
    if value is None or (name in ("max_steps", "max_batches", "rung_steps") and int(value) < 0):
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
        target_val_cer: float | None = None,
        rung_steps: int | None = None,
        schedule_progress: Sequence[float] | None = None,
    ) -> None:
        self.limits = {
            k: v
            for k, v in {
                "max_steps": _positive("max_steps", max_steps),
                "rung_steps": _positive("rung_steps", rung_steps),
                "max_batches": _positive("max_batches", max_batches),
                "max_seconds": _positive("max_seconds", max_seconds),
                "max_cpu_seconds": _positive("max_cpu_seconds", max_cpu_seconds),
            }.items()
            if v is not None
        }
        if target_val_cer is not None and not 0 <= target_val_cer < 1:
            raise ValueError(f"budget.target_val_cer must be in [0, 1), got {target_val_cer}")
        self.target_val_cer = target_val_cer
        self.batches = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.val_clock: list[list[float]] = []  # [step, seconds, cpu_seconds] per validation
        self.paused_at: list[int] = []  # steps where rung_steps paused the run
        self.stopped_by: str | None = None
        self._start: tuple[float, float] | None = None
        # optim.schedule_clock=time: progress per optimizer step, given (replay) or recorded
        self.replay = [float(p) for p in schedule_progress] if schedule_progress else None
        self.schedule_progress: list[float] = []

    def progress(self, step: int) -> float:
        """The fraction of the budget used when the rate of optimizer step ``step`` is set:
        the furthest of the time limits and ``max_steps``, read once per step and kept (a
        resumed run keeps the values it recorded; a replay reads the original's)."""
        if step < len(self.schedule_progress):
            return self.schedule_progress[step]
        if self.replay is not None:
            value = self.replay[min(step, len(self.replay) - 1)]
        else:
            if not any(k in self.limits for k in TIME_LIMITS):
                raise ValueError(
                    "optim.schedule_clock=time needs a time budget: budget.max_seconds or "
                    "budget.max_cpu_seconds"
                )
            wall, cpu = self.seconds, self.cpu_seconds
            if self._start is not None:  # read during a batch (after its optimizer step)
                wall += time.perf_counter() - self._start[0]
                cpu += time.process_time() - self._start[1]
            used = {"max_seconds": wall, "max_cpu_seconds": cpu, "max_steps": step}
            value = min(1.0, max(used[k] / self.limits[k] for k in used if k in self.limits))
        self.schedule_progress.extend([value] * (step + 1 - len(self.schedule_progress)))
        return value

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
        if not trainer.sanity_checking:
            self.val_clock.append(
                [trainer.global_step, round(self.seconds, 3), round(self.cpu_seconds, 3)]
            )

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        cer = trainer.callback_metrics.get("val_cer")
        if trainer.sanity_checking or self.target_val_cer is None or cer is None:
            return
        if float(cer) <= self.target_val_cer:
            self.stopped_by = self.stopped_by or "target_val_cer"
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._tick(restart=False)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._tick(restart=True)
        self.batches += 1
        used = {
            "max_steps": trainer.global_step,
            "rung_steps": trainer.global_step,
            "max_batches": self.batches,
            "max_seconds": self.seconds,
            "max_cpu_seconds": self.cpu_seconds,
        }
        for name, limit in self.limits.items():
            if used[name] >= limit:
                self.stopped_by = self.stopped_by or name
                trainer.should_stop = True
        if self.stopped_by == "rung_steps" and trainer.global_step not in self.paused_at:
            self.paused_at.append(trainer.global_step)  # saved with the checkpoint after it

    # --- resume -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "val_clock": self.val_clock,
            "paused_at": self.paused_at,
            "schedule_progress": self.schedule_progress,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.batches = int(state_dict.get("batches", 0))
        self.seconds = float(state_dict.get("seconds", 0.0))
        self.cpu_seconds = float(state_dict.get("cpu_seconds", 0.0))
        self.val_clock = [list(v) for v in state_dict.get("val_clock", [])]
        self.paused_at = [int(s) for s in state_dict.get("paused_at", [])]
        self.schedule_progress = [float(p) for p in state_dict.get("schedule_progress", [])]


def stop_reason(trainer: pl.Trainer, budget: Budget) -> str:
    """Which limit ended ``trainer.fit`` (one of :data:`STOP_REASONS`)."""
    if budget.stopped_by:
        return budget.stopped_by
    if trainer.interrupted:
        return "interrupted"
    if trainer.should_stop:  # nothing else in menu's trainer sets it
        return "early_stopping"
    return "max_epochs"


def time_to(record: Mapping[str, Any], target: float) -> dict[str, Any] | None:
    """The first validation of a run record at or below ``target``: its step, CER and the
    training seconds and CPU-seconds spent until then; None if no validation reached it."""
    clock = {int(v[0]): v for v in record.get("val_clock") or []}
    for step, cer in record.get("val_history") or []:
        if cer <= target and int(step) in clock:
            _, seconds, cpu_seconds = clock[int(step)]
            return {"step": int(step), "val_cer": cer, "seconds": seconds,
                    "cpu_seconds": cpu_seconds}  # fmt: skip
    return None
