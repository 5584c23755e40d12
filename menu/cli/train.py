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

from menu.config import CONF_DIR, ConfigError, check, objective_value, register_resolvers
from menu.isolate import run_isolated
from menu.progress import report
from menu.record import read_result
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


def progress_shown(hc: Any) -> bool:
    """Whether the sweep's parent prints each finished run (menu.progress)."""
    callback = (hc.get("callbacks") or {}).get("progress") or {}
    return bool(callback) and callback.get("enabled", True) is not False


def quiet_console() -> None:
    """Warnings and errors only on the terminal; the job's log file keeps everything."""
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            handler.setLevel(logging.WARNING)


def sweep_report(hc: Any, record: dict[str, Any]) -> None:
    """This job's line in the sweep's progress file (see menu.progress)."""
    report(hc.sweep.dir, Path(hc.runtime.output_dir).name, list(hc.overrides.task), record)


def isolated(cfg: DictConfig) -> bool:
    """Whether a sweep run trains in a child process (not for DDP, which starts its own)."""
    return bool(cfg.get("isolate", True)) and "ddp" not in str(cfg.trainer.get("strategy"))


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    """Train one run (or one job of a sweep); returns ``cfg.objective`` of its record."""
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    extra: dict[str, Any] = {}
    if multirun and progress_shown(hc):
        quiet_console()  # the sweep's parent prints this run's line; its log is a file
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
        else:
            record = run(cfg, hc.runtime.output_dir, **kwargs)
    except ConfigError as e:
        if multirun:
            log.error("run refused: %s", e)
            sweep_report(hc, {"status": "refused", "error": str(e)})
            return None
        sys.exit(f"menu-train: error: {e}")
    except Exception as e:
        if multirun:  # recorded in result.json; the sweep goes on
            log.exception("run failed: %s", hc.runtime.output_dir)
            failed = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
            sweep_report(hc, read_result(hc.runtime.output_dir) or failed)
            return None
        raise
    if multirun:
        sweep_report(hc, record)
    if record["status"] != "ok":  # in a sweep, the progress line shows it
        log.log(
            logging.INFO if multirun else logging.ERROR,
            "run %s: %s",
            record["status"],
            record.get("error"),
        )
        return None
    log.info(
        "%s %s: test CER %.4f, val CER %.4f, %s steps (%s), %.0f s",
        record["status"],
        Path(hc.runtime.output_dir).name if multirun else hc.runtime.output_dir,
        float("nan") if record.get("test_cer") is None else record["test_cer"],
        record.get("val_cer") or float("nan"),
        record.get("steps"),
        record.get("stopped_by"),
        record.get("wall_seconds") or 0.0,
    )
    return objective_value(cfg, record)


if __name__ == "__main__":
    main()
