"""Peak memory of training each preset, each in a fresh subprocess
(``python -m benchmarks.memory --worker JSON``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import (
    RESULT_MARK,
    bench_overrides,
    maxrss_mb,
    prepare_data,
    train_lines_needed,
)
from benchmarks.train import framework_train
from menu.config import compose

ROOT = Path(__file__).resolve().parent.parent  # the checkout: benchmarks/ is not installed

# --------------------------------------------------------------------------- memory


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in a fresh process: one preset's training via ``menu.training.run``."""
    base = maxrss_mb()
    cfg = compose(spec["overrides"])
    torch.set_num_threads(int(spec["threads"]))
    res = framework_train(cfg, spec["run_dir"], int(spec["warmup"]))
    return {
        "preset": spec["preset"],
        "peak_rss_mb": res["maxrss_mb"],
        "rss_after_imports_mb": base,
        "lines_per_s": res["lines_per_s"],
        "timed_steps": res["timed_steps"],
        "params": res["params"],
    }


def preset_memory(
    presets: Sequence[str],
    *,
    data_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    steps: int,
    warmup: int,
    threads: int,
    timeout: float = 900,
    extra: Sequence[str] = (),
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Peak RSS (``maxrss_mb`` at the end of training) of each preset's training, each in
    its own subprocess (``python -m benchmarks.memory --worker``), and its lines/s there."""
    out: dict[str, Any] = {}
    for preset in presets:
        try:
            probe = compose(
                bench_overrides(preset, data_dir=data_dir, steps=1, threads=threads, extra=extra)
            )
            n_train = train_lines_needed(
                int(probe.data.batch_size), warmup + steps, int(probe.data.shuffle)
            )
            overrides = bench_overrides(
                preset,
                data_dir=data_dir,
                steps=warmup + steps,
                threads=threads,
                n_train=n_train,
                extra=extra,
            )
            prepare_data(compose(overrides))
        except Exception as e:  # e.g. an override that does not apply to this preset
            out[preset] = {"error": f"{type(e).__name__}: {e}"[:2000]}
            log(f"  memory {preset}: failed ({type(e).__name__})")
            continue
        spec = {
            "preset": preset,
            "overrides": overrides,
            "threads": threads,
            "warmup": warmup,
            "run_dir": tempfile.mkdtemp(prefix=f"mem-{preset}-", dir=work_dir),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", "--worker", json.dumps(spec)],
            cwd=ROOT,  # benchmarks/ lives in the checkout, not in the installed package
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith(RESULT_MARK)), None)
        if proc.returncode != 0 or line is None:
            out[preset] = {"error": (proc.stderr or proc.stdout)[-2000:]}
            log(f"  memory {preset}: failed (exit {proc.returncode})")
        else:
            out[preset] = json.loads(line[len(RESULT_MARK) :])
            log(
                f"  memory {preset}: peak RSS {out[preset]['peak_rss_mb']:.0f} MiB, "
                f"{out[preset]['lines_per_s']:.1f} lines/s"
            )
    return out


def _worker_main(argv: Sequence[str]) -> None:
    if len(argv) != 2 or argv[0] != "--worker":
        raise SystemExit("usage: python -m benchmarks.memory --worker JSON (used by preset_memory)")
    result = _worker(json.loads(argv[1]))
    print(RESULT_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
