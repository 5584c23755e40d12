"""Config helpers: the conf/ location, resolvers, composing outside a Hydra app."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
GROUPS = ("norm", "conv", "scale", "reduce", "seq")


def _dirname(override_dirname: str, limit: int = 120) -> str:
    """A file-system-safe run directory name from Hydra's override_dirname; long ones are
    cut and made unique with a hash of the whole (the run's .hydra/ has every override)."""
    if not override_dirname:
        return "defaults"
    name = re.sub(r"[^A-Za-z0-9_.,=+-]", "_", override_dirname)
    if len(name) <= limit:
        return name
    digest = hashlib.sha1(override_dirname.encode()).hexdigest()[:10]
    return f"{name[: limit - 11]}-{digest}"


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("menu.dirname"):
        OmegaConf.register_new_resolver("menu.dirname", _dirname)


def options(group: str) -> list[str]:
    """The option names (YAML files) of a config group, sorted."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def compose(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """Compose conf/ with command-line style overrides, outside a running Hydra app."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


register_resolvers()
