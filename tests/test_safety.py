"""Files from strangers: crafted checkpoints and run records never make menu run anything."""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from menu.config import compose, options
from menu.infer import CheckpointError, load_checkpoint
from menu.registry import UnsafeConfig, check_options, instantiate_option, targets
from menu.replay import replay_config


class Payload:
    """A pickled object that would create ``marker`` when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def crafted(tiny, tmp_path: Path, edit) -> Path:
    """The tiny checkpoint with its stored config edited by ``edit(cfg)``."""
    ckpt = torch.load(tiny["record"]["best_checkpoint"], weights_only=True)
    ckpt = copy.deepcopy(ckpt)
    edit(ckpt["hyper_parameters"]["cfg"])
    path = tmp_path / "crafted.ckpt"
    torch.save(ckpt, path)
    return path


def attacks(marker: Path) -> dict:
    pipe = f"pipe:touch {marker}"
    read_meta = {"_target_": "menu.data.shards.read_meta", "urls": pipe}
    return {
        "foreign target": lambda c: c.__setitem__("conv", read_meta),
        "nested target": lambda c: c["conv"].__setitem__("channels", read_meta),
        "nested in a list": lambda c: c["seq"].__setitem__("hidden", [read_meta]),
        "system call": lambda c: c.__setitem__(
            "norm", {"_target_": "os.system", "command": f"touch {marker}"}
        ),
        "partial": lambda c: c["reduce"].__setitem__("_partial_", True),
        "unknown argument": lambda c: c["conv"].__setitem__("evil", 1),
    }


@pytest.mark.parametrize("attack", list(attacks(Path("x"))))
def test_a_crafted_checkpoint_runs_nothing(tiny, tmp_path, attack):
    marker = tmp_path / "ran"
    path = crafted(tiny, tmp_path, attacks(marker)[attack])
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_pickle_payload_is_refused(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "payload.ckpt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {}, "hyper_parameters": Payload(marker)}, f)
    with pytest.raises(CheckpointError, match="refused without running anything"):
        load_checkpoint(path)
    assert not marker.exists()


def test_cli_errors_are_one_line(tiny, tmp_path):
    marker = tmp_path / "ran"
    bad = crafted(tiny, tmp_path, attacks(marker)["foreign target"])
    for args in (["menu.cli.eval", str(tmp_path / "missing.ckpt"), "x.tar"],
                 ["menu.cli.predict", str(bad), "x.png"]):  # fmt: skip
        proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
        assert proc.returncode != 0
        assert proc.stderr.startswith("menu-") and "error:" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not marker.exists()


def test_a_crafted_record_is_refused_by_reproduce(tiny, tmp_path):
    marker = tmp_path / "ran"
    record = copy.deepcopy(tiny["record"])
    record["config"]["optim"]["optimizer"] = {"_target_": "os.system", "command": f"touch {marker}"}
    with pytest.raises(UnsafeConfig, match="optim"):
        replay_config(record)
    record = copy.deepcopy(tiny["record"])
    record["config"]["logger"] = {"evil": {"_target_": "os.system", "command": f"touch {marker}"}}
    with pytest.raises(UnsafeConfig, match="logger"):
        replay_config(record)
    record = copy.deepcopy(tiny["record"])
    record["config"]["data"]["test"] = f"pipe:touch {marker}"
    with pytest.raises(UnsafeConfig, match="--allow-pipe"):
        replay_config(record)
    assert replay_config(record, allow_pipe=True).data.test.startswith("pipe:")
    run = tmp_path / "run"
    run.mkdir()
    (run / "result.json").write_text(json.dumps(record))
    proc = subprocess.run(
        [sys.executable, "-m", "menu.cli.reproduce", str(run)], capture_output=True, text=True
    )
    assert proc.returncode != 0 and "--allow-pipe" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_every_installed_option_passes_the_check():
    for group in ("norm", "conv", "scale", "reduce", "seq"):
        for option in options(group):
            check_options(compose([f"{group}={option}"]))
    assert "torch.optim.Adam" in targets("optim")


def test_a_users_config_folder_adds_options(tmp_path, monkeypatch):
    """An option in a user's config folder (on Hydra's search path) is an option too."""
    import menu.registry as registry

    (tmp_path / "reduce").mkdir()
    (tmp_path / "reduce" / "mine.yaml").write_text("_target_: torch.nn.Identity\n")
    with pytest.raises(UnsafeConfig):
        instantiate_option("reduce", {"_target_": "torch.nn.Identity"})
    monkeypatch.setattr(registry, "config_dirs", lambda: [registry.CONF_DIR, tmp_path])
    assert isinstance(instantiate_option("reduce", {"_target_": "torch.nn.Identity"}),
                      torch.nn.Identity)  # fmt: skip
