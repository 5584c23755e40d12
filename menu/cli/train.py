"""`menu-train`: the Hydra app that trains one configuration (or a sweep with -m)."""

from __future__ import annotations

import logging
import os

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from menu.config import CONF_DIR, register_resolvers
from menu.train import run

log = logging.getLogger("menu-train")
register_resolvers()


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    hc = HydraConfig.get()
    n_jobs = int(hc.launcher.get("n_jobs") or 1) if hc.mode == RunMode.MULTIRUN else 1
    if n_jobs < 0:  # joblib: -1 = all cores, -2 = all but one, ...
        n_jobs = max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    if cfg.get("threads") is None and n_jobs > 1:  # parallel jobs share the cores
        with open_dict(cfg):
            cfg.threads = max(1, (os.cpu_count() or 1) // n_jobs)
    choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
    try:
        record = run(
            cfg,
            hc.runtime.output_dir,
            choices={k: str(v) for k, v in choices.items() if v is not None},
            overrides=list(hc.overrides.task),
            force=bool(cfg.get("force", False)),
        )
    except Exception:
        if hc.mode == RunMode.MULTIRUN:  # recorded in result.json; the sweep goes on
            log.exception("run failed: %s", hc.runtime.output_dir)
            return None
        raise
    log.info(
        "%s: test_cer=%.4f test_wer=%.4f val_cer=%s -> %s/result.json",
        record["status"],
        record["test_cer"],
        record["test_wer"],
        record.get("val_cer"),
        hc.runtime.output_dir,
    )
    return record["test_cer"]


if __name__ == "__main__":
    main()
