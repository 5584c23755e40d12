"""The run record: result.json written atomically, environment facts, choices."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig

from menu.config import CONF_DIR, GROUPS

RESULT = "result.json"
PACKAGES = ("torch", "pytorch-lightning", "hydra-core", "omegaconf", "webdataset", "numpy")


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


def read_result(run_dir: Path) -> dict | None:
    """The run's result.json, or None if there is none (yet) or it is unreadable."""
    try:
        return json.loads((Path(run_dir) / RESULT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def git_sha() -> str | None:
    """The source tree's commit, with '-dirty' for uncommitted changes; None outside git."""
    root = CONF_DIR.parent
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


def _targets() -> dict[tuple[str, str], str]:
    """(group, _target_) -> option name, from the YAML files."""
    table: dict[tuple[str, str], str] = {}
    for group in GROUPS:
        for path in sorted((CONF_DIR / group).glob("*.yaml")):
            target = (yaml.safe_load(path.read_text()) or {}).get("_target_")
            table.setdefault((group, target), path.stem)
    return table


def infer_choices(cfg: DictConfig) -> dict[str, str]:
    """Option names of the model groups from their ``_target_`` (when Hydra's are absent)."""
    table = _targets()
    return {
        g: table.get((g, cfg[g].get("_target_")), str(cfg[g].get("_target_")))
        for g in GROUPS
        if cfg.get(g) is not None
    }
