"""A sweep's progress in one terminal: one line per finished run and one overall bar.

Jobs run in parallel processes (joblib) or on other machines (submitit), so they do not
write to the terminal themselves: each appends one JSON line to ``SWEEP_DIR/progress.jsonl``
when it ends (:func:`report`) and keeps its full log in its own folder. The sweep's parent
process follows that file (:class:`ProgressOnSweep`, a Hydra callback) and prints::

    [2/4] ok      conv=vgg,reduce=sum: test CER 0.2252, 2400 steps (max_steps), 95 s

above a single progress bar (on a terminal; in a log file only the lines).
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

PROGRESS = "progress.jsonl"


def report(sweep_dir: str | Path, run: str, overrides: list[str], record: dict[str, Any]) -> None:
    """Append one finished run (``record``: a result.json, or just ``status``/``error``)
    to the sweep's progress file: one short ``write`` with ``O_APPEND``, so that lines of
    parallel jobs never interleave."""
    keys = ("status", "test_cer", "val_cer", "steps", "stopped_by", "wall_seconds", "error")
    entry = {"run": run, "overrides": overrides, **{k: record.get(k) for k in keys}}
    line = json.dumps(entry) + "\n"
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(Path(sweep_dir) / PROGRESS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def key_of(override: str) -> str:
    """``conv`` of ``conv=vgg``, ``+seq.bidirectional=true``, ..."""
    return override.split("=", 1)[0].lstrip("+~")


def describe(entry: dict[str, Any], swept: frozenset[str] = frozenset()) -> str:
    """One run's line, without the counter: the run is named by the swept keys' values
    (its folder name when none is known)."""
    status = entry.get("status") or "?"
    named = [o for o in entry.get("overrides") or [] if key_of(o) in swept]
    run = ",".join(named) or entry.get("run", "?")
    if status != "ok":
        error = " ".join(str(entry.get("error") or "").split())
        return f"{status:<7} {run}: {error[:160]}"
    test, val = entry.get("test_cer"), entry.get("val_cer")
    if test is None and val is not None:  # a search's rung: validated, not tested
        cer = f"val CER {val:.4f}"
    else:
        cer = f"test CER {'-' if test is None else f'{test:.4f}'}"
    return (
        f"{status:<7} {run}: {cer}, "
        f"{entry.get('steps')} steps "
        f"({entry.get('stopped_by')}), {entry.get('wall_seconds') or 0:.0f} s"
    )


def plan(config: DictConfig) -> tuple[int | None, frozenset[str]]:
    """How many jobs the sweep will launch and which keys it sweeps: the product of the
    basic sweeper's lists (its ``params`` and the command line, the latter winning per
    key), or an ``n_trials`` sweeper's trials; None when it cannot be told in advance."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweeper = config.hydra.get("sweeper") or {}
    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    try:
        parsed = OverridesParser.create().parse_overrides([*params, *config.hydra.overrides.task])
    except Exception:
        return None, frozenset()
    sizes: dict[str, int | None] = {}
    for o in parsed:
        try:
            sizes[o.get_key_element()] = (
                len(list(o.sweep_string_iterator())) if o.is_discrete_sweep() else 1
            )
        except Exception:  # e.g. glob(), which needs the config loader
            sizes[o.get_key_element()] = None
    swept = frozenset(key_of(o.get_key_element()) for o in parsed if o.is_sweep_override())
    swept -= {key_of(k) for k, n in sizes.items() if n == 1}  # a list of one value
    if sweeper.get("n_trials"):
        return int(sweeper.n_trials), swept
    if str(sweeper.get("_target_", "")).endswith("BasicSweeper") and None not in sizes.values():
        return math.prod(sizes.values()), swept
    return None, swept


class Follower:
    """Follow a progress file from its current end in a thread; print each new run."""

    def __init__(
        self,
        path: Path,
        total: int | None,
        swept: frozenset[str] = frozenset(),
        interval: float = 0.5,
    ) -> None:
        from tqdm.auto import tqdm

        self.path, self.total, self.swept, self.interval = path, total, swept, interval
        self.offset = path.stat().st_size if path.exists() else 0
        self.done = 0
        self.bar = tqdm(
            total=total,
            unit="run",
            desc="sweep",
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
            dynamic_ncols=True,
            leave=True,
            delay=2,  # after the launcher's own lines
        )
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._follow, name="menu-progress", daemon=True)

    def __enter__(self) -> Follower:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join()
        self.poll()  # the last runs' lines
        self.bar.close()

    def _follow(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        self.offset += len(complete)
        for raw in complete.splitlines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            self.done += 1
            count = f"{self.done}/{self.total}" if self.total else str(self.done)
            self.bar.write(f"[{count}] {describe(entry, self.swept)}", file=sys.stdout)
            self.bar.update(1)


class ProgressOnSweep(Callback):
    """Hydra callback: print a multirun's finished runs and an overall bar (see module)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.follower: Follower | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Launchers pickle the callbacks to their workers: without the parent's thread."""
        return {**self.__dict__, "follower": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if self.enabled:
            path = Path(config.hydra.sweep.dir) / PROGRESS
            self.follower = Follower(path, *plan(config)).__enter__()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.follower is not None:
            self.follower.close()
            self.follower = None
