"""Every sweep file (``conf/sweep/*.yaml``) composes and names a sweeper and a launcher that
exist (a new sweep file is checked without a new test)."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class

from menu.config import CONF_DIR

SWEEPS = sorted(p.stem for p in (CONF_DIR / "sweep").glob("*.yaml"))


def _compose(name: str):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[f"sweep={name}"], return_hydra_config=True)


@pytest.mark.parametrize("name", SWEEPS)
def test_a_sweep_file_composes_with_a_sweeper_and_launcher_that_exist(name):
    cfg = _compose(name)
    assert cfg.name == name  # its runs land in multirun/<name>
    for part in ("sweeper", "launcher"):
        assert callable(get_class(cfg.hydra[part]._target_)), part


def test_a_sweep_over_experiments_gives_each_its_own_folder():
    """``menu-train sweep=presets 'experiment=lstm_plain,conv_bilstm,crnn'``: the experiment
    is left out of override_dirname (a single run is named by it), so the sweep's folder
    name takes it from the choice, not one ``defaults`` folder that refuses the second."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from menu.config import register_resolvers

    register_resolvers()
    folders = set()
    for experiment in ("lstm_plain", "conv_bilstm", "crnn"):
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", overrides=["sweep=presets", f"experiment={experiment}"],
                          return_hydra_config=True)  # fmt: skip
        with open_dict(cfg):
            cfg.hydra.job.override_dirname = ""  # what Hydra computes per job: nothing else
        HydraConfig.instance().set_config(cfg)
        folders.add(cfg.hydra.sweep.subdir)
    assert folders == {"experiment=lstm_plain", "experiment=conv_bilstm", "experiment=crnn"}
