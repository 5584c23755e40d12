"""A sweep's terminal output: the plan (how many runs, which keys), one line per run."""

from __future__ import annotations

import threading

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from menu.config import CONF_DIR
from menu.progress import PROGRESS, Follower, ProgressOnSweep, describe, plan, report


def sweep_config(*overrides: str):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def test_the_plan_counts_the_product_of_the_swept_lists():
    cfg = sweep_config("sweep=quick")  # params conv: vgg,resnet and reduce: sum,lstm
    assert plan(cfg) == (4, frozenset({"conv", "reduce"}))
    cfg.hydra.overrides.task = ["reduce=sum,max,concat", "seq=none", "+x.y=1,2"]
    assert plan(cfg) == (12, frozenset({"conv", "reduce", "x.y"}))
    cfg.hydra.overrides.task = ["conv=glob(*)"]  # needs the config loader: unknown size
    assert plan(cfg) == (None, frozenset({"conv", "reduce"}))


def test_a_run_line_names_the_swept_values_and_says_why_a_run_failed():
    ok = {"run": "dir", "overrides": ["seed=1", "conv=vgg"], "status": "ok", "test_cer": 0.25}
    ok |= {"steps": 30, "stopped_by": "max_steps", "wall_seconds": 12.4}
    line = describe(ok, frozenset({"conv"}))
    assert line == "ok      conv=vgg: test CER 0.2500, 30 steps (max_steps), 12 s"
    assert describe(ok).startswith("ok      dir:")  # nothing known to be swept
    rung = ok | {"test_cer": None, "val_cer": 0.5}  # a search's rung is validated only
    assert describe(rung, frozenset({"conv"})).startswith("ok      conv=vgg: val CER 0.5000, 30")
    assert "test CER -" in describe(ok | {"test_cer": None})
    failed = {"run": "d", "status": "failed", "error": "the run's process\\nkilled by SIGKILL"}
    assert "failed  d: the run's process" in describe(failed)


def test_the_follower_prints_each_reported_run_once_in_order(tmp_path, capsys):
    report(tmp_path, "old", [], {"status": "ok", "test_cer": 0.5})  # an earlier sweep's
    with Follower(tmp_path / PROGRESS, 3, frozenset({"seed"}), interval=0.01):
        threads = [
            threading.Thread(
                target=report,
                args=(tmp_path, f"r{i}", [f"seed={i}"], {"status": "ok", "test_cer": i / 10}),
            )
            for i in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        (tmp_path / PROGRESS).open("a").write('{"run": "half')  # a line still being written
    out = capsys.readouterr().out.splitlines()
    assert [ln[:5] for ln in out] == ["[1/3]", "[2/3]", "[3/3]"]
    assert sorted(ln.split()[2] for ln in out) == ["seed=0:", "seed=1:", "seed=2:"]


def test_the_callback_travels_to_launcher_workers_without_its_thread(tmp_path):
    import pickle

    callback = ProgressOnSweep()
    cfg = OmegaConf.create(
        {"hydra": {"sweep": {"dir": str(tmp_path)}, "overrides": {"task": ["seed=1,2"]}}}
    )
    callback.on_multirun_start(cfg)
    try:
        copy = pickle.loads(pickle.dumps(callback))
        assert copy.follower is None and copy.enabled
    finally:
        callback.on_multirun_end(cfg)
