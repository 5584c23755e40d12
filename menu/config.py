"""Config helpers: the conf/ location, resolvers, composing outside a Hydra app."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

#: The config groups, shipped inside the package (``conf/`` at the top of the repository is a
#: link to it), so an installed menu finds them from any working directory.
CONF_DIR = Path(__file__).resolve().parent / "conf"
GROUPS = ("norm", "conv", "scale", "reduce", "seq")

#: Keys added after runs were recorded, with the value at which a run computes what it did
#: before the key existed: left out of a run's identity and of its data folder's name at
#: that value, so older folders (a search that is resumed, a replay) still hold their runs.
NEUTRAL = {
    "data.synth.mix_caps": None,
    "data.synth.caps_lines": 0.0,
    "data.synth.slashes": 0.0,
    "data.synth.degrade.fade": 0.0,
    "decode.lm": None,
    "decode.lm_weight": 0.5,
    "decode.lm_bonus": 2.0,
    "optim.schedule_clock": "steps",
    "budget.schedule_progress": None,
}


def _dirname(override_dirname: str, experiment: str | None = None, limit: int = 120) -> str:
    """A file-system-safe run directory name from Hydra's override_dirname, unique for
    distinct overrides: a name that had to change (characters replaced, or cut to ``limit``)
    ends with a hash of the original, so ``data.train='x y/a.tar'`` and
    ``data.train='x_y/a.tar'`` never share a folder (the run's .hydra/ has every override).

    ``experiment`` (a sweep's folders): the chosen experiment leads the name, so the jobs of
    ``experiment=lstm_plain,crnn`` get a folder each; a single run is already named by it
    (``outputs/<experiment name>/...``), so the run folder leaves it out."""
    if experiment:
        override_dirname = ",".join(filter(None, (f"experiment={experiment}", override_dirname)))
    if not override_dirname:
        return "defaults"
    name = re.sub(r"[^A-Za-z0-9_.,=+-]", "_", override_dirname)
    if name == override_dirname and len(name) <= limit:
        return name
    digest = hashlib.sha1(override_dirname.encode()).hexdigest()[:10]
    return f"{name[: limit - 11]}-{digest}"


class ConfigError(ValueError):
    """A configuration that cannot run as typed; the message names the key to use."""


#: Lightning Trainer arguments that menu sets from other config keys, and where to set them.
OWNED_TRAINER_KEYS = {
    "max_steps": "budget.max_steps",
    "max_epochs": "budget.max_epochs",
    "max_time": "budget.max_seconds (or budget.max_cpu_seconds)",
    "val_check_interval": "budget.val_every_steps",
    "check_val_every_n_epoch": "budget.val_every_steps (null: every epoch)",
    "gradient_clip_val": "optim.grad_clip",
    "deterministic": "deterministic",
    "default_root_dir": "hydra.run.dir",
    "num_sanity_val_steps": None,
    "callbacks": None,
    "logger": None,
}


def check_trainer_key(key: str, value: object = "set") -> None:
    """Refuse ``trainer.<key>`` if menu sets it from another key (unless ``value`` is the
    null placeholder) or if Lightning's Trainer does not take it."""
    import inspect

    import pytorch_lightning as pl

    if key in OWNED_TRAINER_KEYS:
        if value is None:
            return
        instead = OWNED_TRAINER_KEYS[key]
        raise ConfigError(
            f"use {instead} instead of trainer.{key}"
            if instead
            else f"trainer.{key} is set by menu itself and cannot be overridden"
        )
    if key not in inspect.signature(pl.Trainer.__init__).parameters or key == "self":
        raise ConfigError(f"trainer.{key} is not an argument of Lightning's Trainer")


#: Run record fields ``objective`` may name: what ``menu-train`` returns to Hydra.
OBJECTIVES = ("val_cer", "test_cer", "test_wer", "train_seconds")


def objective_value(cfg: DictConfig, record: dict) -> float | None:
    """The value ``menu-train`` returns to Hydra for a run record: its ``cfg.objective``
    field (the best validation CER unless configured), None when the run has none."""
    value = record.get(cfg.get("objective", "val_cer"))
    return None if value is None else float(value)


def check(cfg: DictConfig) -> None:
    """Stop a configuration that cannot run as typed with a one-line :class:`ConfigError`
    naming the key to use (``trainer.*`` keys that menu sets from other groups, arguments
    that Lightning's Trainer does not take, budgets that are not numbers)."""
    for key, value in (cfg.get("trainer") or {}).items():
        check_trainer_key(str(key), value)
    budget = cfg.get("budget") or {}
    for key in ("max_epochs", "max_steps", "max_batches", "rung_steps", "val_every_steps"):
        value = budget.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"budget.{key} must be a whole number or null, got {value!r}")
    for key in ("max_seconds", "max_cpu_seconds"):
        value = budget.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"budget.{key} must be a number of seconds or null, got {value!r}")
        if value is not None and value <= 0:
            raise ConfigError(f"budget.{key} must be positive (null: no limit), got {value}")
    target = budget.get("target_val_cer")
    if target is not None and (isinstance(target, bool) or not isinstance(target, int | float)
                               or not 0 <= target < 1):  # fmt: skip
        raise ConfigError(f"budget.target_val_cer must be a CER in [0, 1) or null, got {target!r}")
    objective = cfg.get("objective", "val_cer")
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    timed = bool(budget.get("max_cpu_seconds") or budget.get("max_seconds"))
    if budget.get("calibrate") and not timed:
        raise ConfigError(
            "budget.calibrate=true turns a time budget into steps: set budget.max_cpu_seconds"
        )
    optim = cfg.get("optim") or {}
    if optim.get("schedule_clock", "steps") not in ("steps", "time"):
        raise ConfigError(
            f"optim.schedule_clock must be steps or time, got {optim.schedule_clock!r}"
        )
    clocked = optim.get("schedule_clock") == "time" and optim.get("schedule") == "cosine"
    on_the_clock = timed and not budget.get("calibrate")  # calibrate turns the time into steps
    replayed = budget.get("schedule_progress")  # a replay has the recorded progress
    if clocked and not (on_the_clock or replayed):
        raise ConfigError(
            "optim.schedule_clock=time spans a time budget: set budget.max_seconds or "
            "budget.max_cpu_seconds (and budget.calibrate=false)"
        )


def check_overrides(overrides: Sequence[str]) -> None:
    """:func:`check_trainer_key` for every ``trainer.*`` key of command-line overrides,
    sweep lists included (``trainer.max_steps=10,20``), before any job starts."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if key.startswith("trainer.") and not override.is_delete():
            check_trainer_key(key.split(".", 1)[1])


def check_sweep_folders(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Refuse a sweep list over a key left out of its run folders' names
    (``hydra.job.config.override_dirname.exclude_keys``) while ``hydra.sweep.subdir`` names
    the folders by those overrides (``menu.dirname``): its jobs would share one folder, and
    each after the first would be refused or taken for the first. ``experiment`` has its own
    place in a sweep's folder names (:func:`_dirname`). ``cfg`` has its ``hydra`` node."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    subdir = OmegaConf.to_container(cfg.hydra.sweep, resolve=False).get("subdir")
    if "menu.dirname" not in str(subdir):
        return  # the user's own folder names (e.g. job${hydra.job.num})
    shared = set(cfg.hydra.job.config.override_dirname.exclude_keys) - {"experiment"}
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if override.is_sweep_override() and key in shared:
            raise ConfigError(
                f"a sweep over {key} puts every job in one run folder ({key} is not part of "
                "its name): run one sweep per value, or give each job a folder "
                "(hydra.sweep.subdir='job${hydra.job.num}')"
            )


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("menu.dirname"):
        OmegaConf.register_new_resolver("menu.dirname", _dirname)


def user_config_dirs() -> list[Path]:
    """The config folders named in ``MENU_CONFIG_PATH`` (``os.pathsep``-separated): a user's
    own options, added to every command's search path (``hydra_plugins/menu_searchpath``)."""
    import os

    raw = os.environ.get("MENU_CONFIG_PATH", "")
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def options(group: str) -> list[str]:
    """The option names (YAML files) of a config group, sorted: menu's and those of the
    folders in ``MENU_CONFIG_PATH``."""
    folders = [CONF_DIR, *user_config_dirs()]
    return sorted({p.stem for d in folders for p in (d / group).glob("*.yaml")})


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
