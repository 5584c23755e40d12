"""What the benchmarks share: statistics, the machine, quiet and nondeterministic blocks,
the benchmark configuration and its data, and the float32 matmul peak."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

#: Marker of the result line a worker subprocess prints on stdout.
RESULT_MARK = "MENU_BENCH_RESULT "
#: Lines in the shuffle buffer before the first training batch (conf/data/*.yaml).
PRESETS = ("lstm_plain", "conv_bilstm", "crnn")


# --------------------------------------------------------------------------- helpers


def stats(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """Median, min, max and every value (rounded) of repeated measurements."""
    vals = [float(v) for v in values]
    if not vals:
        return {"median": None, "min": None, "max": None, "runs": []}
    r = lambda v: float(f"{v:.{digits}g}")  # noqa: E731
    return {
        "median": r(statistics.median(vals)),
        "min": r(min(vals)),
        "max": r(max(vals)),
        "runs": [r(v) for v in vals],
    }


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def maxrss_mb() -> float:
    """Peak resident set size of this process so far, in MiB: ``VmHWM`` of
    ``/proc/self/status`` on Linux (the high-water mark of this address space), else
    ``ru_maxrss``. Not ``ru_maxrss`` on Linux: across ``vfork`` + ``exec`` (how
    ``subprocess`` starts a child) it keeps the parent's peak, so a small child would report
    its parent's size."""
    with contextlib.suppress(OSError, ValueError):
        status = Path("/proc/self/status").read_text()
        m = re.search(r"^VmHWM:\s*(\d+)\s*kB", status, re.M)
        if m:
            return int(m.group(1)) / 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def cpu_model() -> str:
    """CPU model name (lscpu, else /proc/cpuinfo, else platform)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        if m:
            return m.group(1).strip()
    with contextlib.suppress(OSError):
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        if m:
            return m.group(1).strip()
    return platform.processor() or platform.machine()


def other_training_jobs() -> list[str]:
    """Command lines of other menu-train processes (their load invalidates timings)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["pgrep", "-af", "menu-train"], capture_output=True, text=True, timeout=10
        ).stdout
        return [line for line in out.splitlines() if str(os.getpid()) not in line.split()[:1]]
    return []


def machine_info(threads: int) -> dict[str, Any]:
    """The machine, software versions and the load at the start."""
    from menu.record import git_sha

    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cores": cores(),
        "torch_threads": threads,
        "torch": torch.__version__,
        "pytorch_lightning": pl.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_sha": git_sha(),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "other_menu_train_jobs": len(other_training_jobs()),
    }
    return info


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Lightning's info messages and warnings while measuring."""
    names = (
        "pytorch_lightning",
        "lightning.pytorch",
        "lightning.fabric",
        "lightning",
        "torch._dynamo",
        "torch._inductor",
    )
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def nondeterministic() -> Iterator[None]:
    """Default (non-deterministic) algorithms, as ``menu-eval``/``menu-predict`` run; the
    Lightning Trainer of a training run leaves ``torch.use_deterministic_algorithms`` on."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


# --------------------------------------------------------------------------- config + data


def train_lines_needed(batch_size: int, steps: int, shuffle: int) -> int:
    """Training lines so that ``steps`` batches stay in one epoch and the shuffle buffer keeps
    decoding one new line per line consumed (steady state), rounded up to 100s."""
    need = shuffle + batch_size * (steps + 2)
    return max(1600, int(math.ceil(need / 100.0) * 100))


def bench_overrides(
    preset: str,
    *,
    data_dir: str | os.PathLike,
    steps: int,
    threads: int,
    n_train: int = 1600,
    n_val: int = 32,
    n_test: int = 128,
    device: str = "cpu",
    extra: Sequence[str] = (),
) -> list[str]:
    """Hydra overrides of a benchmark training run of ``preset`` on synthetic data."""
    out = [
        f"experiment={preset}",
        f"threads={threads}",
        "data.workers=0",
        f"data.synth.dir={Path(data_dir).resolve()}",
        f"data.synth.n_train={n_train}",
        f"data.synth.n_val={n_val}",
        f"data.synth.n_test={n_test}",
        "data.synth.progress=false",
        f"budget.max_steps={steps}",
        # no validation inside the timed steps; and EarlyStopping would fail at the end of a
        # training cut short by max_steps before any validation (val_cer not logged yet)
        "early_stopping.patience=null",
        "trainer.enable_progress_bar=false",
    ]
    if device.startswith("cuda"):
        out.insert(1, "trainer=gpu")
    return [*out, *extra]


def prepare_data(cfg: DictConfig) -> DictConfig:
    """Generate (once, cached) or find the config's synthetic shards."""
    from menu.data.prepare import prepare

    return prepare(cfg.data)


# --------------------------------------------------------------------------- matmul peak


def matmul_peak(
    n: int = 2048, repeats: int = 5, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> dict[str, Any]:
    """GFLOP/s of ``torch.mm`` of two n x n matrices (2 n^3 FLOPs each), after one warm-up."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen, dtype=dtype).to(device)
    b = torch.randn(n, n, generator=gen, dtype=dtype).to(device)
    c = torch.mm(a, b)
    inner = 1 if device == "cpu" else 20
    rates = []
    for _ in range(max(1, repeats)):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(inner):
            torch.mm(a, b, out=c)
        _sync(device)
        rates.append(inner * 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "gflops": stats(rates)}
