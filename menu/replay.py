"""Replay a finished run exactly from its record (the library behind `menu-reproduce`).

A run's ``result.json`` holds the configuration it actually ran (threads and data
resolved) and what it did: batches, steps, epochs, the limit that stopped it, the
validations. The replay runs that configuration with

* the recorded torch threads and data workers (they change the arithmetic / batch order);
* a time budget (``max_seconds``, ``max_cpu_seconds``) replaced by the recorded number of
  training batches, stopped the same way (after that batch, then one more validation);
* the pauses of a run that successive halving continued rung by rung (``paused_at``):
  the replay pauses and continues at the same steps, so it validates where the original
  did (a run resumed after a kill needs nothing: resuming is exact, :mod:`menu.resume`);
* everything else as recorded: early stopping, ``init_from``, the schedule, the seed.

Before it starts it names what differs from the original's environment (library versions,
CPU type, GPU kernels, the code's commit, the ``init_from`` checkpoint); afterwards it
compares the results and, where they differ, says by how much and from which validation on.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from menu.budget import TIME_LIMITS
from menu.data.shards import expand_urls
from menu.record import file_sha256, git_sha, machine, read_result, versions
from menu.registry import BUILT, UnsafeConfig, check_options
from menu.tables import LINES

log = logging.getLogger(__name__)

#: What must match for a replay to count as identical.
COMPARED = ("val_cer", "test_cer", "test_wer", "steps", "batches", "epochs", "params")
#: Machine facts that change floating-point results.
ARITHMETIC = ("cpu", "cpu_capability", "gpu", "cuda", "cudnn")


def replay_config(record: dict[str, Any], allow_pipe: bool = False) -> DictConfig:
    """The configuration that replays ``record`` (see the module docstring). A record is a
    file like any other: its options must be menu's (``menu.registry``), and ``pipe:``
    shard URLs (shell commands) are refused unless ``allow_pipe``."""
    if "config" not in record or "batches" not in record:
        raise ValueError(
            "this result.json was written by an older menu that did not record the "
            "configuration and the batches it ran; train the run again to replay it"
        )
    cfg = OmegaConf.create(record["config"])
    check_options(cfg, BUILT)
    for split in ("train", "val", "test"):
        urls = cfg.data.get(split)
        for url in [urls] if isinstance(urls, str) else list(urls or []):
            if str(url).startswith("pipe:") and not allow_pipe:
                raise UnsafeConfig(
                    f"data.{split} of the recorded run runs a shell command ({url}); "
                    "replay it only if you trust the run folder: --allow-pipe"
                )
    cfg.threads = int(record["threads"])
    cfg.data.workers = int(record["workers"])
    if record.get("stopped_by") in TIME_LIMITS:
        for key in TIME_LIMITS:
            cfg.budget[key] = None
        cfg.budget.max_batches = int(record["batches"])
    if record.get("schedule_progress"):  # a schedule over time: the same rates at each step
        cfg.budget.schedule_progress = list(record["schedule_progress"])
    _regenerate_missing_synth(cfg.data)
    return cfg


def _regenerate_missing_synth(data: DictConfig) -> None:
    """Generated splits whose shards are gone are generated again (same generator config,
    same folder) instead of failing."""
    cache = (data.get("synth") or {}).get("cache_dir")
    if not cache:
        return
    for split in ("train", "val", "test"):
        urls = data.get(split)
        if isinstance(urls, str) and urls.startswith(str(cache)):
            try:
                expand_urls(urls)
            except FileNotFoundError:
                data[split] = None
    if any(data.get(s) is None for s in ("train", "val", "test")):
        data.synth.dir = os.path.dirname(str(cache))


def environment_differences(record: dict[str, Any], cfg: DictConfig) -> list[str]:
    """What differs between the original run's environment and this one, each a sentence
    naming why the replay may not be identical."""
    out = []
    old_versions, new_versions = record.get("versions") or {}, versions()
    for name in sorted(set(old_versions) | set(new_versions)):
        if old_versions.get(name) != new_versions.get(name):
            out.append(f"{name} {old_versions.get(name)} -> {new_versions.get(name)}")
    old_machine, new_machine = record.get("machine") or {}, machine()
    for key in ARITHMETIC:
        if old_machine.get(key) != new_machine.get(key):
            out.append(f"machine {key}: {old_machine.get(key)} -> {new_machine.get(key)}")
    accelerator = str(cfg.trainer.get("accelerator", "cpu"))
    if accelerator not in ("cpu", "None"):
        out.append(
            f"trainer.accelerator={accelerator}: GPU kernels (cuDNN LSTM, CTC) are not "
            "deterministic, so a GPU replay agrees closely but not bit for bit"
        )
    if (record.get("git_sha") or "") != (git_sha() or ""):
        out.append(f"code commit {record.get('git_sha')} -> {git_sha()}")
    init_from = cfg.get("init_from")
    if init_from:
        if not Path(init_from).exists():
            raise FileNotFoundError(f"init_from={init_from} of the original run no longer exists")
        if record.get("init_from_sha256") not in (None, file_sha256(init_from)):
            out.append(f"init_from={init_from} changed since the original run (other SHA-256)")
    return out


def _line_hyps(run_dir: Path) -> dict[str, str]:
    import pandas as pd

    path = run_dir / LINES
    if not path.exists():
        return {}
    lines = pd.read_csv(path, keep_default_na=False, dtype=str)
    return dict(zip(lines["key"], lines["hyp"], strict=True))


def compare(original: dict[str, Any], replay: dict[str, Any], a: Path, b: Path) -> dict:
    """Where ``replay`` differs from ``original``: each compared field as [original,
    replay], the data fingerprints, the first validation that differs, and how many test
    lines were read differently."""
    diff: dict[str, Any] = {
        k: [original.get(k), replay.get(k)] for k in COMPARED if original.get(k) != replay.get(k)
    }
    if original.get("choices") != replay.get("choices"):
        diff["choices"] = [original.get("choices"), replay.get("choices")]
    for split, sha in (original.get("data_sha256") or {}).items():
        if sha != (replay.get("data_sha256") or {}).get(split):
            diff[f"data.{split}"] = "the shards' bytes differ (SHA-256)"
    old_val, new_val = original.get("val_history") or [], replay.get("val_history") or []
    for old, new in zip(old_val, new_val, strict=False):
        if old != new:
            diff["first_val_difference"] = {"step": old[0], "original": old, "replay": new}
            break
    hyps_a, hyps_b = _line_hyps(a), _line_hyps(b)
    if hyps_a and hyps_b:
        changed = sum(hyps_a.get(k) != h for k, h in hyps_b.items())
        if changed:
            diff["test_lines_read_differently"] = changed
    return diff


def reproduce(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    allow_pipe: bool = False,
    show: bool = False,
) -> dict[str, Any]:
    """Replay the finished run in ``run_dir`` into ``out_dir`` (default ``RUN/reproduce``)
    and compare: ``identical`` is true when every compared field is equal. With ``show``
    the configuration is logged before it runs."""
    from menu.training import run

    run_dir = Path(run_dir)
    original = read_result(run_dir)
    if not original:
        raise FileNotFoundError(f"no readable {run_dir / 'result.json'}: not a menu-train run")
    if original.get("status") != "ok":
        raise ValueError(f"{run_dir} did not finish (status {original.get('status')!r})")
    cfg = replay_config(original, allow_pipe=allow_pipe)
    if show:
        print(f"replaying {run_dir}:\n{OmegaConf.to_yaml(cfg)}", file=sys.stderr, flush=True)
    before = environment_differences(original, cfg)
    for line in before:
        log.warning("differs from the original run: %s", line)
    out = Path(out_dir) if out_dir else run_dir / "reproduce"
    paused_at = [int(s) for s in original.get("paused_at") or []]
    for k, rung in enumerate([*paused_at, None]):  # a rung-paused run pauses where it did
        cfg.budget.rung_steps = rung
        record = run(
            cfg,
            out,
            choices=original.get("choices"),
            overrides=original.get("overrides"),
            force=k == 0,
        )
    keys = ("val_cer", "test_cer", "test_wer", "steps", "stopped_by")
    differences = compare(original, record, run_dir, out)
    return {
        "original": {k: original.get(k) for k in keys},
        "reproduced": {k: record.get(k) for k in keys},
        "identical": not differences,
        "differences": differences,
        "environment_differences": before,
        "replayed_with": {
            "threads": cfg.threads,
            "workers": cfg.data.workers,
            "max_batches": cfg.budget.get("max_batches"),
        },
        "run_dir": str(out),
    }
