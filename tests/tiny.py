"""A digits task a tiny model learns in seconds on 2 cores (shared by training/sweep tests)."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
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
        "data.synth.words=0",
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


def bad_test_shard(path: Path) -> Path:
    """Labelled lines no recognizer can read well (tiny, huge, corrupt, no image) and
    samples without a usable transcript."""
    import webdataset as wds
    from PIL import Image

    def png(w: int, h: int) -> bytes:
        buf = io.BytesIO()
        Image.new("L", (w, h), 255).save(buf, format="PNG")
        return buf.getvalue()

    with wds.TarWriter(str(path)) as sink:
        sink.write({"__key__": "tiny", "png": png(2, 3), "txt": b"7"})
        sink.write({"__key__": "huge", "png": png(20000, 30), "txt": b"12"})
        sink.write({"__key__": "corrupt", "png": b"\x89PNG broken", "txt": b"345"})
        sink.write({"__key__": "noimage", "txt": b"6789"})
        sink.write({"__key__": "unlabelled", "png": png(60, 30)})
        sink.write({"__key__": "empty", "png": png(60, 30), "txt": b"  "})
    return path


def menu_train(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``menu-train ARGS`` in a subprocess (as a user would); fail with its output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "menu.cli.train", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc
