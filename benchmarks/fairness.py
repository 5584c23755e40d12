"""Is a CPU-time budget fair? The steps a run gets from ``budget.max_cpu_seconds`` alone and
next to a busy process, with one thread and with all cores, under each OpenMP wait policy
(``scripts/bench.py --only fairness``).

A CPU-time budget is meant to buy the same training whatever else the machine runs. With
several threads it does not: under OpenMP's default (active) wait policy an idle thread
spins and its CPU time is charged to the run, and next to a busy process threads wait far
more; under the passive policy they sleep instead, but then a run alone loses time waking
them. With one thread there is neither spinning nor parallel overhead, which is why a
CPU-time budget trains on one thread unless ``threads`` says otherwise
(``menu.threads.run_threads``). Every measurement is a fresh process (the policy is read when
torch loads OpenMP).
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
    threads: tuple[int, ...] = (1, 2),
    repeats: int = 3,
    policies: tuple[str, ...] = ("ACTIVE", "PASSIVE"),
    log: Any = lambda s: None,
) -> dict[str, Any]:
    """Steps bought by ``seconds`` CPU-seconds alone and next to one busy process, per
    thread count and wait policy (median of ``repeats``, alone and loaded alternating):
    ``out["threads"][n][policy]``, whose ``ratio`` = loaded / alone (1.0 = fair)."""
    data_dir = str(Path(data_dir).resolve())
    _child("ACTIVE", data_dir, 1.0, 1)  # generate the data once, outside the timing
    out: dict[str, Any] = {"seconds": seconds, "repeats": repeats, "threads": {}}
    for n in threads:
        for policy in policies:
            alone, loaded = [], []
            for _ in range(repeats):
                alone.append(_child(policy, data_dir, seconds, n))
                load = busy()
                try:
                    loaded.append(_child(policy, data_dir, seconds, n))
                finally:
                    load.kill()
                    load.wait()
            steps_alone = statistics.median(r["steps"] for r in alone)
            steps_loaded = statistics.median(r["steps"] for r in loaded)
            out["threads"].setdefault(str(n), {})[policy] = {
                "steps_alone": steps_alone,
                "steps_loaded": steps_loaded,
                "ratio": steps_loaded / max(steps_alone, 1),
                "wall_alone": statistics.median(r["wall_seconds"] for r in alone),
                "runs": {"alone": alone, "loaded": loaded},
            }
            log(f"fairness {n} thread(s) {policy}: {steps_alone:.0f} / {steps_loaded:.0f} steps")
    return out


if __name__ == "__main__":
    print(json.dumps(_measure(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))))
