"""A digits task a tiny model learns in seconds on 2 cores (shared by training/sweep tests)."""

from __future__ import annotations

import random
from pathlib import Path


def write_digits_corpus(path: Path, lines: int = 500, seed: int = 0) -> Path:
    rng = random.Random(seed)
    text = (
        "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 6))) for _ in range(lines)
    )
    path.write_text("\n".join(text) + "\n")
    return path


def tiny_overrides(data_dir: Path, corpus: Path) -> list[str]:
    """Hydra overrides: 256 clean digit lines, a small model, 10 epochs."""
    return [
        f"data.synth.dir={data_dir}",
        f"data.synth.corpus={corpus}",
        "data.synth.n_train=256",
        "data.synth.n_val=32",
        "data.synth.n_test=32",
        "data.synth.mix=0",
        "data.synth.min_chars=3",
        "data.synth.max_chars=6",
        "data.synth.holdout_text=0",
        "data.synth.fonts=[DejaVuSans]",
        "data.synth.progress=false",
        "data.synth.degrade.blur=0",
        "data.synth.degrade.noise=0",
        "data.batch_size=8",
        "norm.height=24",
        "conv.channels=[8,16,32]",
        "seq.hidden=32",
        "seq.layers=1",
        "optim.schedule=constant",
        "optim.warmup_steps=10",
        "early_stopping.patience=null",
        "trainer.enable_progress_bar=false",
        "budget.max_epochs=10",
    ]
