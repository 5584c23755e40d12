"""menu from Python: compose a configuration, train it, load a checkpoint and read lines.

import menu

cfg = menu.compose("conv=resnet", "budget.max_steps=300")
record = menu.train(cfg, "outputs/notebook")          # the run record (result.json)
model = menu.load(record["best_checkpoint"])
model.recognize(["line.png", pixels])                  # paths, arrays or PIL images
model.evaluate("data/mine/test-*.tar")["cer"]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig


def compose(*overrides: str) -> DictConfig:
    """The configuration ``menu-train OVERRIDES...`` would run (menu's config groups and
    those in ``MENU_CONFIG_PATH``)."""
    from menu.config import compose as _compose

    return _compose(list(overrides))


def train(cfg: DictConfig, run_dir: str | os.PathLike | None = None, **kwargs: Any) -> dict:
    """Train, validate and test ``cfg`` into ``run_dir`` (default ``outputs/<name>/api``),
    exactly as ``menu-train`` does; returns the run record. ``kwargs`` go to
    :func:`menu.training.run` (``force``, ``extra``)."""
    from menu.training import run

    return run(cfg, run_dir or Path("outputs") / str(cfg.name) / "api", **kwargs)


class Model:
    """A trained recognizer loaded from a checkpoint."""

    def __init__(self, lit: Any) -> None:
        self.lit = lit

    @property
    def config(self) -> DictConfig:
        return self.lit.cfg

    @property
    def charset(self) -> str:
        return "".join(self.lit.codec.chars)

    def recognize(
        self, images: Sequence[str | os.PathLike | np.ndarray | Any], batch_size: int = 64
    ) -> list[str]:
        """The text of each line image (a path, a 2-D or colour array of any polarity, or a
        PIL image), in order; ValueError naming the images that could not be read."""
        from menu.infer import predict

        out = list(predict(self.lit, list(images), batch_size=batch_size))
        errors = [f"{key}: {error}" for key, _, error in out if error is not None]
        if errors:
            raise ValueError("unreadable images: " + "; ".join(errors))
        return [text for _, text, _ in out]

    def evaluate(self, shards: str | Sequence[str], **kwargs: Any) -> dict[str, Any]:
        """``menu-eval`` on shards: CER, WER, every labelled line scored (see
        :func:`menu.infer.evaluate` for ``kwargs``)."""
        from menu.infer import evaluate

        return evaluate(self.lit, shards, **kwargs)


def load(
    checkpoint: str | os.PathLike,
    device: str = "cpu",
    config_dirs: Sequence[str | os.PathLike] = (),
    precision: str | None = None,
) -> Model:
    """A checkpoint, loaded safely (see :func:`menu.infer.load_checkpoint`); ``config_dirs``:
    config folders of your own options that the checkpoint uses; ``precision``
    (``float32``/``bfloat16``): prepared for inference (batch norm folded, that dtype)."""
    from menu.infer import load_checkpoint
    from menu.registry import add_config_dirs

    add_config_dirs(config_dirs)
    return Model(load_checkpoint(checkpoint, device=device, precision=precision))
