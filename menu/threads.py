"""How a run uses the machine: torch threads (all cores, shared among parallel jobs, or
one under a CPU-time budget), its rank in a distributed run, the CPU time it used."""

from __future__ import annotations

import logging
import os

import torch
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def set_threads(threads: int | None) -> None:
    """Intra-op threads: the configured number, else all cores."""
    n = int(threads) if threads else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))


def run_threads(cfg: DictConfig) -> int | None:
    """The torch threads of a run: ``threads`` if set; one under a CPU-time budget (with
    several, the CPU time a step costs depends on the load: idle threads spin, and the
    parallel overhead is charged; ``scripts/bench.py --only fairness`` measures it);
    else None (all cores)."""
    threads = cfg.get("threads")
    cpu_budget = (cfg.get("budget") or {}).get("max_cpu_seconds")
    if threads is None and cpu_budget:
        return 1
    if cpu_budget and int(threads) > 1:
        log.warning(
            "budget.max_cpu_seconds with threads=%s: the steps it buys depend on the load; "
            "threads=1 makes it fair (scripts/bench.py --only fairness)",
            threads,
        )
    return threads


def job_threads(threads: int | None, n_jobs: int | None) -> int | None:
    """Torch threads of one job: ``threads`` if set, else the cores shared among ``n_jobs``
    parallel jobs (joblib's ``-1`` = as many jobs as cores, ``-2`` one fewer, ...); None
    (all cores) for a job that runs alone."""
    if threads is not None:
        return int(threads)
    n = int(n_jobs or 1)
    if n < 0:
        n = max(1, (os.cpu_count() or 1) + 1 + n)
    return max(1, (os.cpu_count() or 1) // n) if n > 1 else None


def process_rank() -> int:
    """Global rank of this process in a distributed run (0 when not distributed)."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (synthetic data
    generation, loader workers) so far."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
