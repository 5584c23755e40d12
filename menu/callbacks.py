"""Hydra callbacks: the comparison table is written when a multirun ends."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


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
            from menu.table import aggregate

            aggregate([sweep_dir])
        except Exception:
            log.exception("menu-table on %s failed; rerun: menu-table %s", sweep_dir, sweep_dir)
