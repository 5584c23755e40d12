"""The option registry is the YAML files of the config groups: an option of a group is a
``conf/<group>/NAME.yaml`` whose ``_target_`` names its class. Nothing else is a registry.

:func:`instantiate_option` is the only way menu builds a group's option. It builds only a
``_target_`` that one of the group's YAML files names (in menu's ``conf/`` or in a config
folder on Hydra's search path), with plain-data arguments that the class accepts, so a
configuration read from a file (a checkpoint, a run record) can choose among the menu's
options and their sizes, but can never make menu call anything else.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from menu.config import CONF_DIR, GROUPS, ConfigError, user_config_dirs

#: Groups whose options menu instantiates, and where in an option's YAML its class is named.
BUILT = ("norm", *GROUPS[1:], "optim", "logger")
NODE = {"optim": "optimizer"}  # conf/optim/*.yaml: optimizer._target_
MANY = ("logger",)  # conf/logger/*.yaml: NAME: {_target_: ...}, several per file
_PLAIN = (str, int, float, bool, type(None))
#: Config folders handed down by a parent process (menu.isolate), besides Hydra's.
EXTRA_DIRS: list[Path] = []


class UnsafeConfig(ConfigError):
    """A configuration that asks menu to build something that is not one of its options."""


def config_dirs() -> list[Path]:
    """Folders that hold config groups: menu's ``conf/``, those in ``MENU_CONFIG_PATH``,
    those a command was given (``--config-dir``) and, inside a Hydra app, every file-system
    folder on its search path (``--config-dir``, ``hydra.searchpath``)."""
    dirs = [CONF_DIR, *user_config_dirs(), *EXTRA_DIRS]
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            for source in HydraConfig.get().runtime.config_sources:
                if str(source.schema) == "file":
                    dirs.append(Path(str(source.path)))
    except (ImportError, ValueError):  # pragma: no cover - Hydra not running
        pass
    return list(dict.fromkeys(d.resolve() for d in dirs if d.is_dir()))


@functools.lru_cache(maxsize=16)
def _scan(dirs: tuple[Path, ...]) -> dict[tuple[str, str], str]:
    table: dict[tuple[str, str], str] = {}
    for d in dirs:
        for group in BUILT:
            for path in sorted((d / group).glob("*.yaml")):
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                if group in NODE:
                    data = data.get(NODE[group]) or {}
                nodes = data.values() if group in MANY else [data]
                for node in nodes:
                    target = node.get("_target_") if isinstance(node, dict) else None
                    if target:
                        table.setdefault((group, str(target)), path.stem)
    return table


def option_names() -> dict[tuple[str, str], str]:
    """(group, ``_target_``) -> option name (the YAML file's stem) of every known option."""
    return _scan(tuple(config_dirs()))


def targets(group: str) -> list[str]:
    """The ``_target_`` of every option of ``group``."""
    return sorted({t for g, t in option_names() if g == group})


def infer_choices(cfg: DictConfig | Mapping) -> dict[str, str]:
    """Option names of the model groups from their ``_target_`` (when Hydra's are absent)."""
    table = option_names()
    return {
        g: table.get((g, str(cfg[g].get("_target_"))), str(cfg[g].get("_target_")))
        for g in GROUPS
        if cfg.get(g) is not None
    }


def add_config_dirs(dirs: Sequence[str | Path]) -> None:
    """Trust the options of these config folders too (``menu-eval --config-dir``)."""
    EXTRA_DIRS.extend(Path(d).expanduser().resolve() for d in dirs)


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, DictConfig | ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if str(k).startswith("_"):
                raise UnsafeConfig(f"{where}.{k}: nested instantiation is not allowed here")
            _check_plain(v, f"{where}.{k}")
        return
    raise UnsafeConfig(f"{where}: {type(value).__name__} is not plain data")


def check_option(group: str, node: Any) -> None:
    """Raise :class:`UnsafeConfig` unless ``node`` is one of ``group``'s options with
    plain-data arguments its class accepts."""
    if not isinstance(node, Mapping | DictConfig):
        raise UnsafeConfig(f"{group} must be a mapping with a _target_, got {type(node).__name__}")
    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    target = plain.get("_target_")
    known = targets(group)
    if target not in known:
        raise UnsafeConfig(
            f"{group}._target_={target!r} is not an option of {group} (the _target_ of a "
            f"{group}/*.yaml file: {', '.join(known)}); for an option of your own, give its "
            "config folder (MENU_CONFIG_PATH, or --config-dir)"
        )
    args = {k: v for k, v in plain.items() if k != "_target_"}
    for key, value in args.items():
        if str(key).startswith("_"):
            raise UnsafeConfig(f"{group}.{key}: only _target_ and arguments are allowed")
        _check_plain(value, f"{group}.{key}")
    from hydra.utils import get_class

    params = inspect.signature(get_class(target)).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(args) - set(params))
        if unknown:
            raise UnsafeConfig(f"{group}.{unknown[0]}: not an argument of {target}")


def instantiate_option(group: str, node: Any, **kwargs: Any) -> Any:
    """Build ``group``'s option ``node`` (see :func:`check_option`) with ``kwargs``."""
    from hydra.utils import instantiate

    check_option(group, node)
    return instantiate(node, **kwargs)


def check_options(cfg: DictConfig | Mapping, groups: tuple[str, ...] = BUILT[:-1]) -> None:
    """:func:`check_option` for ``groups`` of ``cfg`` (a checkpoint's or a record's; the
    optimizer, ``optim.optimizer``, as group ``optim``)."""
    for group in groups:
        node = cfg.get(group)
        if group in MANY:  # several options of the group at once (or none)
            for value in (node or {}).values():
                check_option(group, value)
            continue
        if group in NODE and node is not None:
            node = node.get(NODE[group])
        if node is None:
            raise UnsafeConfig(f"config group {group!r} is missing")
        check_option(group, node)
