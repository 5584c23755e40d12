"""The run record: result.json written atomically, environment facts, choices."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from menu.config import CONF_DIR, NEUTRAL, ConfigError

RESULT = "result.json"
PACKAGES = (
    "menu-ocr", "torch", "pytorch-lightning", "hydra-core", "omegaconf", "webdataset", "numpy"
)  # fmt: skip


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(path: str | os.PathLike, rows: list[dict]) -> None:
    """Write rows as CSV atomically (a file is complete or absent, never cut short)."""
    import pandas as pd

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            pd.DataFrame(rows).to_csv(f, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file's content."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_result(run_dir: Path) -> dict | None:
    """The run's result.json, or None if there is none (yet) or it is unreadable."""
    try:
        return json.loads((Path(run_dir) / RESULT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def git_sha() -> str | None:
    """The source tree's commit, with '-dirty' for uncommitted changes; None for an installed
    copy (git is only asked inside menu's own checkout, never in site-packages)."""
    root = CONF_DIR.parent.parent
    if not ((root / ".git").exists() and (root / "pyproject.toml").is_file()):
        return None
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("-dirty" if dirty else "")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def allocator() -> str:
    """The malloc this process runs on: ``tcmalloc``, ``jemalloc`` or ``mimalloc`` when one
    is loaded (``LD_PRELOAD``), else ``system``. It changes the speed of CPU training (page
    faults of the big activation tensors), not its numbers."""
    with contextlib.suppress(OSError):
        maps = Path("/proc/self/maps").read_text()
        for name in ("tcmalloc", "jemalloc", "mimalloc"):
            if f"lib{name}" in maps:
                return name
    return "system"


def machine() -> dict[str, Any]:
    """The hardware facts that change floating-point results: CPU model and the instruction
    set torch dispatches to, core count, and the GPU when one is visible; and the malloc,
    which changes only the speed."""
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    out: dict[str, Any] = {
        "cpu": cpu,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "malloc": allocator(),
    }
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
        out["cuda"] = torch.version.cuda
        out["cudnn"] = torch.backends.cudnn.version()
    return out


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shards_sha256(urls: Any) -> str | None:
    """One SHA-256 over the bytes of a split's local shards, in order (None when any shard
    is remote: a ``pipe:`` command or URL)."""
    from menu.data.shards import expand_urls, is_remote

    paths = expand_urls(urls)
    if any(is_remote(p) for p in paths):
        return None
    digest = hashlib.sha256()
    for p in paths:
        digest.update(file_sha256(p).encode())
    return digest.hexdigest()


#: Keys that do not change what a run computes (how fast, where it logs, its folder's name).
NOT_IDENTITY = (
    "threads", "data.workers", "force", "isolate", "job_timeout", "name", "checkpoint", "logger",
    "trainer.enable_progress_bar", "trainer.log_every_n_steps",
    "budget.rung_steps",  # a pause, not a different run: the next rung continues the folder
)  # fmt: skip


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out |= _flat(v, f"{prefix}{k}.")
        return out
    return {prefix[:-1]: node}


def under(key: str, keys: Iterable[str]) -> bool:
    """Whether ``key`` is one of ``keys`` or inside one (``checkpoint.every_steps`` is inside
    ``checkpoint``)."""
    return any(key == k or key.startswith(k + ".") for k in keys)


def identity(cfg: Any) -> dict[str, Any]:
    """The configuration as flat ``key: value`` pairs, without :data:`NOT_IDENTITY` and
    without :data:`NEUTRAL` keys at their neutral value."""
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(cfg, resolve=True) if not isinstance(cfg, dict) else cfg
    return {
        k: v
        for k, v in _flat(plain).items()
        if not under(k, NOT_IDENTITY) and not (k in NEUTRAL and v == NEUTRAL[k])
    }


def identity_sha256(cfg: Any) -> str:
    """A fingerprint of what a configuration computes (a run folder belongs to one)."""
    text = json.dumps(identity(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class FolderBusy(ConfigError):
    """A run folder that another process is training, or that holds another config's run."""


class RunLock:
    """An exclusive lock on a run folder (``.lock``, released when the process ends, even
    by a signal): two processes never train one folder."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / ".lock"
        self._file: Any = None

    def __enter__(self) -> RunLock:
        import fcntl

        self._file = open(self.path, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.seek(0)
            pid = self._file.read().strip() or "?"
            self._file.close()
            raise FolderBusy(
                f"{self.path.parent} is being trained by another process (pid {pid}); "
                "wait for it, or give this run another folder (hydra.run.dir=...)"
            ) from None
        self._file.truncate(0)
        self._file.write(str(os.getpid()))
        self._file.flush()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._file.close()  # closing releases the lock
