"""A run in its own process, so that its death is recorded instead of taking a sweep down.

In a sweep every run trains in a child process (``isolate: true``). When the child dies
(the out-of-memory killer, a segfault, ``kill -9``) or outlives ``job_timeout`` seconds, the
job records the run as ``failed`` with the signal or the timeout, and the sweep goes on: a
parallel joblib sweep would otherwise lose its worker pool and stop every job. The child
is the one the out-of-memory killer picks first (``oom_score_adj``), as it holds the memory.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from menu.record import RESULT, read_result, write_json


def _child(job: Path) -> int:
    """The child's side: run the job described in ``job`` (written by the parent)."""
    import contextlib
    import json

    from omegaconf import OmegaConf

    from menu import registry
    from menu.training import run

    with contextlib.suppress(OSError):  # the OOM killer should pick this process first
        Path("/proc/self/oom_score_adj").write_text("500")
    spec = json.loads(job.read_text(encoding="utf-8"))
    registry.EXTRA_DIRS[:] = [Path(d) for d in spec["config_dirs"]]  # the parent's search path
    try:
        run(OmegaConf.create(spec["cfg"]), spec["run_dir"], **spec["kwargs"])
    except SystemExit as e:  # interrupted: the exit code says by which signal
        return int(e.code or 0)
    except BaseException:
        return 1  # recorded in result.json by run()
    return 0


def describe(exitcode: int | None) -> str:
    """A child's end in words: the signal that killed it, or its exit code."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (the out-of-memory killer sends it)" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    return f"exited with code {exitcode}"


def run_isolated(
    cfg: DictConfig, run_dir: str | Path, *, timeout: float | None = None, **kwargs: Any
) -> dict[str, Any]:
    """:func:`menu.training.run` in a child process; the record it left, or a ``failed``
    record naming how the child died (signal, exit code without a record, timeout)."""
    from menu.registry import config_dirs
    from menu.training import finished

    run_dir = Path(run_dir).resolve()
    previous = finished(run_dir, cfg, bool(kwargs.get("force")))
    if previous is not None:
        return previous  # no process needed
    run_dir.mkdir(parents=True, exist_ok=True)
    job = run_dir / ".job.json"  # what the child runs (a fresh interpreter: no fork)
    spec = {
        "cfg": OmegaConf.to_container(cfg, resolve=True),
        "run_dir": str(run_dir),
        "kwargs": kwargs,
        "config_dirs": [str(d) for d in config_dirs()],
    }
    write_json(job, spec)
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "menu.isolate", str(job)])
    why = None
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        why = f"timed out after {timeout:g} s (job_timeout) and was killed"
    job.unlink(missing_ok=True)
    record = read_result(run_dir) or {}
    if why is None and record.get("status") in ("ok", "failed", "interrupted"):
        if record["status"] == "interrupted":
            raise SystemExit(child.returncode or 1)
        return record
    why = why or describe(child.returncode)
    record.update(
        status="failed",
        error=f"the run's process {why}",
        wall_seconds=round(time.perf_counter() - t0, 3),
    )
    record.setdefault("run_dir", str(run_dir))
    write_json(run_dir / RESULT, record)
    return record


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1])))
