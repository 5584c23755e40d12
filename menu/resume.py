"""Resuming exactly: where a run stands is saved so that nothing is redone, skipped or
lost when it goes on after a kill.

``last.ckpt`` is written by :class:`PeriodicCheckpoint` after every validation and every N
optimizer steps at the end of a training batch, except where a validation is due after that
batch: then the save after the validation holds the step (Lightning skips a validation that
was due when it resumes from a checkpoint written before it, so it would be lost). Not by
Lightning's ``ModelCheckpoint(save_last=True)``: it writes ``last.ckpt`` only when the best
checkpoint improved, so a run paused by its budget after a validation that did not improve
would continue from an older step (and it names its file ``last-v1.ckpt`` when another
callback wrote ``last.ckpt`` first). With
:func:`resume_point` the training loader skips the batches of the interrupted epoch that
were already trained on, and the LightningModule restores the random state at the first
batch after the resume: an interrupted and resumed run takes the same steps on the same
batches with the same random numbers as one that ran through. :class:`ResumableCSVLogger`
keeps the metrics logged before the interruption. SIGTERM (a scheduler's timeout or
preemption) and SIGINT stop a run gracefully (:class:`GracefulStop`): it is recorded as
``interrupted`` and the process exits with 128 + the signal's number, so a scheduler
requeues it and the next run resumes.
"""

from __future__ import annotations

import contextlib
import csv
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.loggers import CSVLogger


class PeriodicCheckpoint(Checkpoint):
    """Save ``last.ckpt`` after every validation and every ``every_steps`` optimizer steps
    (see the module docstring). A :class:`Checkpoint`, so Lightning calls it after the
    best-model ``ModelCheckpoint``: the state it saves holds the best score just updated."""

    def __init__(self, path: str | Path, every_steps: int) -> None:
        if every_steps < 1:
            raise ValueError(f"checkpoint.every_steps must be >= 1, got {every_steps}")
        self.path = Path(path)
        self.every_steps = int(every_steps)
        self._saved_at = -1

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        step = trainer.global_step
        if not step or step % self.every_steps or step == self._saved_at:
            return
        # Lightning's own test for "validate after this batch" (private, stable in 2.x)
        if trainer.fit_loop.epoch_loop._should_check_val_fx(trainer.fit_loop._data_fetcher):
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # full state: resumable
        self._saved_at = step

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        trainer.save_checkpoint(self.path, weights_only=False)
        self._saved_at = trainer.global_step


def resume_point(checkpoint: str | Path) -> tuple[int, int, int]:
    """(optimizer step, epoch, training batches already done in that epoch) of a Lightning
    checkpoint."""
    state = torch.load(Path(checkpoint), map_location="cpu", weights_only=True)
    fit = state["loops"]["fit_loop"]
    epoch = int(fit["epoch_progress"]["current"]["completed"])
    # "processed": a checkpoint written at the end of a batch has not counted it completed yet
    batches = int(fit["epoch_loop.batch_progress"]["current"]["processed"])
    return int(state["global_step"]), epoch, batches


def rng_state() -> dict[str, Any]:
    """Torch's random state (CPU and every visible GPU)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumableCSVLogger(CSVLogger):
    """Lightning's CSVLogger, except that a resumed run keeps the rows logged up to its
    checkpoint's step (Lightning's deletes the whole file when it starts)."""

    def __init__(self, *args: Any, resume_step: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: list[dict[str, str]] = []
        path = Path(self.log_dir) / "metrics.csv"
        if resume_step is not None and path.exists():
            with open(path, newline="", encoding="utf-8") as f:
                self._kept = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]

    @property
    def experiment(self) -> Any:
        writer = super().experiment
        if self._kept:
            writer.metrics[:0], self._kept = self._kept, []
        return writer


class Interrupted(BaseException):
    """A run stopped by SIGTERM or SIGINT (a BaseException: nothing may swallow it)."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        self.name = signal.Signals(self.signum).name
        super().__init__(f"interrupted by {self.name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise :class:`Interrupted` (outside training, where Lightning's
    handling and :class:`GracefulStop` take over)."""
    if not _main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def graceful_fit() -> Iterator[None]:
    """Around ``trainer.fit``: SIGTERM goes to Lightning alone (it stops after the current
    batch and its validation; a handler of ours would be called too, mid-batch)."""
    if not _main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class GracefulStop(pl.Callback):
    """SIGTERM (Lightning notices it) or SIGINT (made to look the same) ends training after
    the current batch and any validation due; ``last.ckpt`` is saved there, consistent, so
    the run resumes exactly. A second SIGINT stops at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.signum: int | None = None
        self._previous: Any = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not _main_thread():
            return

        def on_sigint(signum: int, frame: Any) -> None:
            if self.signum is not None:
                raise KeyboardInterrupt
            self.signum = signum
            trainer._signal_connector.received_sigterm = True  # Lightning's graceful path

        self._previous = signal.signal(signal.SIGINT, on_sigint)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        if isinstance(exception, SIGTERMException) and trainer.is_global_zero:
            trainer.save_checkpoint(self.path, weights_only=False)
            self.signum = self.signum or signal.SIGTERM
