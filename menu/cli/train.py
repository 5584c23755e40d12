"""`menu-train`: the Hydra app that trains one configuration (or a sweep with -m)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from menu.config import CONF_DIR, ConfigError, check, register_resolvers
from menu.isolate import run_isolated
from menu.threads import job_threads
from menu.training import run

log = logging.getLogger("menu-train")
register_resolvers()


def refuse_run_folder(hc: Any) -> None:
    """``--config-dir RUN/.hydra`` does not replay a run: Hydra reads menu's own
    ``config.yaml`` first and would silently train the default configuration."""
    for source in hc.runtime.config_sources:
        path = Path(str(source.path).split("://", 1)[-1])
        if source.provider == "command-line" and (path / "overrides.yaml").exists():
            raise ConfigError(
                f"--config-dir {path} is a run's saved config, which menu-train does not "
                f"replay; use: menu-reproduce {path.parent}"
            )


def isolated(cfg: DictConfig) -> bool:
    """Whether a sweep run trains in a child process (not for DDP, which starts its own)."""
    return bool(cfg.get("isolate", True)) and "ddp" not in str(cfg.trainer.get("strategy"))


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    extra: dict[str, Any] = {}
    try:
        refuse_run_folder(hc)
        with open_dict(cfg):  # parallel jobs share the cores
            cfg.threads = job_threads(
                cfg.get("threads"), hc.launcher.get("n_jobs") if multirun else 1
            )
        if cfg.budget.get("calibrate"):
            from menu.calibrate import apply, calibrated

            folder = hc.sweep.dir if multirun else hc.runtime.output_dir
            extra["calibration"] = calibrated(cfg, folder)
            apply(cfg, extra["calibration"])
        choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
        kwargs = {
            "choices": {k: str(v) for k, v in choices.items() if v is not None},
            "overrides": list(hc.overrides.task),
            "force": bool(cfg.get("force", False)),
            "extra": extra,
        }
        if multirun and isolated(cfg):
            check(cfg)  # a refused config needs no process
            record = run_isolated(
                cfg, hc.runtime.output_dir, timeout=cfg.get("job_timeout"), **kwargs
            )
            if record["status"] != "ok":
                log.error("run %s: %s", record["status"], record.get("error"))
                return None
        else:
            record = run(cfg, hc.runtime.output_dir, **kwargs)
    except ConfigError as e:
        if multirun:
            log.error("run refused: %s", e)
            return None
        sys.exit(f"menu-train: error: {e}")
    except Exception:
        if multirun:  # recorded in result.json; the sweep goes on
            log.exception("run failed: %s", hc.runtime.output_dir)
            return None
        raise
    log.info(
        "%s %s: test CER %.4f, val CER %.4f, %s steps (%s), %.0f s",
        record["status"],
        Path(hc.runtime.output_dir).name if multirun else hc.runtime.output_dir,
        record["test_cer"],
        record.get("val_cer") or float("nan"),
        record.get("steps"),
        record.get("stopped_by"),
        record.get("wall_seconds") or 0.0,
    )
    return record["test_cer"]


if __name__ == "__main__":
    main()
