"""Hydra callbacks: a sweep's settings are checked and its time budget calibrated before
any job starts; the comparison table is written when it ends."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class CheckOnStart(Callback):
    """Refuse a sweep whose settings cannot run (:func:`menu.config.check`), sweep lists
    included, before any job starts: one message instead of one failed run per job."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from menu.config import ConfigError, check, check_overrides, check_sweep_folders

        try:
            params = config.hydra.get("sweeper", {}).get("params") or {}
            overrides = [*config.hydra.overrides.task, *(f"{k}={v}" for k, v in params.items())]
            check_overrides(overrides)
            check_sweep_folders(config, overrides)
            check(config)
        except ConfigError as e:  # Hydra turns a callback's exceptions into warnings
            raise SystemExit(f"menu-train: error: {e}") from None


class CalibrateOnStart(Callback):
    """With ``budget.calibrate=true``: measure the time budget as steps on the sweep's base
    configuration once, into ``SWEEP_DIR/budget.json``, before the jobs start (each job
    then reads it; see :mod:`menu.calibrate`)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.get("budget", {}).get("calibrate"):
            return
        from menu.calibrate import calibrated, sweep_base

        calibrated(sweep_base(config), config.hydra.sweep.dir)


class AggregateOnEnd(Callback):
    """After a multirun, collect every result.json of the sweep into menu-table's outputs.

    A failure here is logged, never raised: the runs themselves are already saved.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            from menu.tables import aggregate

            aggregate([sweep_dir])
        except Exception:
            log.exception("menu-table on %s failed; rerun: menu-table %s", sweep_dir, sweep_dir)
