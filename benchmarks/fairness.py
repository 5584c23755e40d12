"""Is a CPU-time budget fair? The steps a run gets from ``budget.max_cpu_seconds`` alone and
next to a busy process, under each OpenMP wait policy (``scripts/bench.py --only fairness``).

A CPU-time budget is meant to buy the same training whatever else the machine runs. It does
not when idle worker threads spin: with OpenMP's default (active) wait policy, a thread
waiting for the next parallel region burns CPU time that is charged to the run, and next to
a busy process those threads wait far more, so the run gets fewer steps for its budget.
menu sets ``OMP_WAIT_POLICY=PASSIVE`` (``menu/__init__.py``); this measures both policies.
Every measurement is a fresh process (the policy is read when torch loads OpenMP).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: The configuration measured: the quick sweep's vgg/sum model on short generated lines.
OVERRIDES = (
    "norm.height=32",
    "conv.channels=[16,32,64]",
    "seq.hidden=64",
    "data.batch_size=8",
    "data.synth.min_chars=3",
    "data.synth.max_chars=16",
    "early_stopping.patience=null",
    "budget.max_epochs=1000",
    "data.synth.n_train=400",
    "data.synth.n_val=16",
    "data.synth.n_test=16",
    "data.synth.progress=false",
    "trainer.enable_progress_bar=false",
)


def _measure(data_dir: str, seconds: float, threads: int) -> dict[str, Any]:
    """(child) Train for ``seconds`` CPU-seconds with ``threads`` threads: the steps."""
    import logging

    from menu.config import compose
    from menu.training import run

    logging.disable(logging.WARNING)
    overrides = [*OVERRIDES, f"data.synth.dir={data_dir}", f"threads={threads}",
                 f"budget.max_cpu_seconds={seconds}"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        record = run(compose(overrides), Path(tmp) / "run")
    return {
        "steps": record["steps"],
        "wall_seconds": round(time.perf_counter() - t0, 2),
        "policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def _child(policy: str, data_dir: str, seconds: float, threads: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "PYTHONWARNINGS": "ignore"}
    args = [sys.executable, "-m", "benchmarks.fairness", data_dir, str(seconds), str(threads)]
    root = Path(__file__).resolve().parent.parent  # benchmarks/ is in the checkout only
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True, cwd=root)
    out = out.stdout
    return json.loads(out.strip().splitlines()[-1])


def busy() -> subprocess.Popen:
    """A process that keeps one core busy (pure Python, no threads) until killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def cpu_budget_fairness(
    data_dir: str | os.PathLike,
    *,
    seconds: float = 10.0,
    threads: int = 2,
    repeats: int = 3,
    policies: tuple[str, ...] = ("ACTIVE", "PASSIVE"),
    log: Any = lambda s: None,
) -> dict[str, Any]:
    """Steps bought by ``seconds`` CPU-seconds alone and next to one busy process, per wait
    policy (median of ``repeats``, alone and loaded alternating); ``ratio`` = loaded /
    alone (1.0 = fair)."""
    data_dir = str(Path(data_dir).resolve())
    _child("PASSIVE", data_dir, 1.0, threads)  # generate the data once, outside the timing
    out: dict[str, Any] = {"seconds": seconds, "threads": threads, "repeats": repeats}
    for policy in policies:
        alone, loaded = [], []
        for _ in range(repeats):
            alone.append(_child(policy, data_dir, seconds, threads))
            load = busy()
            try:
                loaded.append(_child(policy, data_dir, seconds, threads))
            finally:
                load.kill()
                load.wait()
        steps_alone = statistics.median(r["steps"] for r in alone)
        steps_loaded = statistics.median(r["steps"] for r in loaded)
        out[policy] = {
            "steps_alone": steps_alone,
            "steps_loaded": steps_loaded,
            "ratio": steps_loaded / max(steps_alone, 1),
            "runs": {"alone": alone, "loaded": loaded},
        }
        log(f"fairness {policy}: {steps_alone:.0f} steps alone, {steps_loaded:.0f} loaded")
    return out


if __name__ == "__main__":
    print(json.dumps(_measure(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))))
