"""Every run can be replayed exactly: what a run records, menu-reproduce for runs made
alone, in a parallel sweep with a CPU-time budget, with early stopping and with init_from,
exact resume after a kill, calibrated budgets, and clear errors for conflicting keys."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tiny import menu_train

from menu.calibrate import CALIBRATION, apply, calibrated
from menu.config import OWNED_TRAINER_KEYS, ConfigError, check, compose, objective_value
from menu.record import read_result
from menu.replay import compare, environment_differences, replay_config, reproduce
from menu.resume import resume_point
from menu.training import run

#: Fields a replay must reproduce (menu.replay.COMPARED) plus what identifies the run.
SAME = ("val_cer", "test_cer", "test_wer", "steps", "batches", "epochs", "params", "choices")


def assert_replayed(run_dir: Path, out: Path) -> dict:
    report = reproduce(run_dir, out)
    assert report["identical"], json.dumps(report, indent=1)
    original, replay = read_result(run_dir), read_result(out)
    for key in SAME:
        assert original[key] == replay[key], key
    assert original["val_history"] == replay["val_history"]
    return report


def test_a_run_records_what_it_did(tiny):
    record = tiny["record"]
    assert record["stopped_by"] == "max_epochs" and record["epochs"] == 10
    assert record["steps"] == record["batches"] == 10 * 32
    assert [step for step, _ in record["val_history"]] == [32 * e for e in range(1, 11)]
    assert record["val_cer"] == min(cer for _, cer in record["val_history"])
    assert record["threads"] == torch.get_num_threads() and record["workers"] == 0
    assert record["batch_size"] == 8 and record["resumed_at"] == []
    assert record["config"]["threads"] == record["threads"]
    assert record["machine"]["cpu_capability"] and set(record["data_sha256"]) == {
        "train", "val", "test"
    }  # fmt: skip


@pytest.mark.slow  # about 25 s; the default suite replays three other runs (early-stopped,
# started from a checkpoint, paused across rungs)
def test_replay_of_a_run_made_alone(tiny, tmp_path):
    report = assert_replayed(tiny["run"], tmp_path / "replay")
    assert report["environment_differences"] == []


def test_replay_of_an_early_stopped_run(tiny, tmp_path):
    overrides = [*tiny["overrides"], "early_stopping.patience=1", "budget.val_every_steps=8"]
    record = run(compose(overrides), tmp_path / "run")
    assert record["stopped_by"] == "early_stopping" and record["epochs"] < 10
    assert assert_replayed(tmp_path / "run", tmp_path / "replay")["environment_differences"] == []


def test_replay_of_an_init_from_run_and_a_changed_checkpoint(tiny, tmp_path):
    best = tmp_path / "init.ckpt"
    best.write_bytes(Path(tiny["record"]["best_checkpoint"]).read_bytes())
    overrides = [*tiny["overrides"], f"init_from={best}", "budget.max_steps=12"]
    record = run(compose(overrides), tmp_path / "run")
    assert record["stopped_by"] == "max_steps" and record["steps"] == 12
    assert record["init_from_sha256"]
    assert_replayed(tmp_path / "run", tmp_path / "replay")
    state = torch.load(best, weights_only=True)
    state["state_dict"] = {k: v + 0.01 for k, v in state["state_dict"].items()}
    torch.save(state, best)
    cfg = replay_config(read_result(tmp_path / "run"))
    differences = environment_differences(read_result(tmp_path / "run"), cfg)
    assert any("init_from" in d and "changed" in d for d in differences)


@pytest.mark.slow  # about 25 s; the default suite keeps a faster test of the same path
def test_replay_of_runs_from_a_parallel_sweep_with_a_cpu_budget(tiny, tmp_path):
    """The README path: a joblib sweep (2 jobs, 1 thread each) with a CPU-time budget, then
    menu-reproduce of each run (on all cores, unless the record pins the threads)."""
    args = [
        "-m", *tiny["overrides"], "budget.max_epochs=100", "budget.max_cpu_seconds=2",
        "budget.val_every_steps=16", "reduce=sum,max", "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path}/sweep",
    ]  # fmt: skip
    menu_train(*args, cwd=tiny["root"])
    runs = sorted(p.parent for p in (tmp_path / "sweep").glob("*/result.json"))
    assert len(runs) == 2
    for run_dir in runs:
        record = read_result(run_dir)
        assert record["stopped_by"] == "max_cpu_seconds" and record["threads"] == 1
        report = assert_replayed(run_dir, tmp_path / "replay" / run_dir.name)
        assert report["replayed_with"] == {
            "threads": 1, "workers": 0, "max_batches": record["batches"]
        }  # fmt: skip


def test_differences_are_named_not_a_bare_false(tiny, tmp_path):
    record = copy.deepcopy(tiny["record"])
    record["versions"]["torch"] = "1.0.0"
    record["machine"]["cpu_capability"] = "NEON"
    cfg = replay_config(record)
    cfg.trainer.accelerator = "gpu"
    differences = environment_differences(record, cfg)
    assert any(d.startswith("torch 1.0.0 ->") for d in differences)
    assert any("cpu_capability: NEON" in d for d in differences)
    assert any("not deterministic" in d for d in differences)
    other = copy.deepcopy(tiny["record"])
    other["test_cer"] += 0.01
    other["val_history"] = [[s, c + (0.5 if s >= 64 else 0)] for s, c in other["val_history"]]
    diff = compare(tiny["record"], other, tiny["run"], tiny["run"])
    assert diff["test_cer"] == [tiny["record"]["test_cer"], other["test_cer"]]
    assert diff["first_val_difference"]["step"] == 64


def test_the_record_names_the_malloc_and_a_replay_does_not_compare_it(tiny):
    """A preloaded tcmalloc makes CPU training faster, not different: the record names it,
    and a replay on the system malloc does not list it among the differences."""
    import ctypes.util

    def malloc(env: dict[str, str]) -> str:
        code = "from menu.record import allocator; print(allocator())"
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    assert malloc(env) == "system"
    assert tiny["record"]["machine"]["malloc"] in ("system", "tcmalloc", "jemalloc", "mimalloc")
    record = copy.deepcopy(tiny["record"])
    other = "tcmalloc" if record["machine"]["malloc"] == "system" else "system"
    record["machine"]["malloc"] = other
    assert not any("malloc" in d for d in environment_differences(record, replay_config(record)))
    name = ctypes.util.find_library("tcmalloc_minimal")
    if name is None:
        pytest.skip("no tcmalloc here to preload (apt-get install libtcmalloc-minimal4)")
    env["LD_PRELOAD"] = name  # a bare soname: the loader searches its library path
    assert malloc(env) == "tcmalloc"


@pytest.mark.slow  # a SIGKILLed run resumed: 27 s; SIGTERM resume stays in CI
def test_resume_after_a_kill_is_exact(tiny, tmp_path):
    """A run killed (SIGKILL) and resumed ends exactly where one that ran through ends."""
    overrides = [*tiny["overrides"], "budget.max_epochs=3", "checkpoint.every_steps=5",
                 "budget.val_every_steps=10", "conv=fmp", "conv.channels=[8,16,32,32]"]  # fmt: skip
    through = run(compose(overrides), tmp_path / "through")
    cmd = [sys.executable, "-m", "menu.cli.train", *overrides, f"hydra.run.dir={tmp_path}/run"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if last.exists() and torch.load(last, weights_only=True)["global_step"] >= 37:
            break
        time.sleep(0.1)
    if proc.poll() is not None:
        pytest.fail("finished before it could be killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert read_result(tmp_path / "run")["status"] == "running"
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    resumed = read_result(tmp_path / "run")
    assert resumed["status"] == "ok" and resumed["resumed_at"] and resumed["resumed"]
    for key in ("val_cer", "test_cer", "steps", "batches", "epochs", "val_history"):
        assert resumed[key] == through[key], key
    rows = (tmp_path / "run" / "logs" / "metrics.csv").read_text().splitlines()
    assert len(rows) == len(
        (tmp_path / "through" / "logs" / "metrics.csv").read_text().splitlines()
    )


def test_a_run_continued_across_rungs_is_the_run_that_went_through(tiny, tmp_path):
    """Successive halving pauses a run at a rung and continues it later: the weights are
    those of the run trained straight to the end, the pauses are recorded, and
    menu-reproduce replays it exactly (with the same pauses)."""
    overrides = [*tiny["overrides"], "budget.max_epochs=null", "budget.max_steps=40",
                 "budget.val_every_steps=10", "checkpoint.every_steps=100"]  # fmt: skip
    through = run(compose(overrides), tmp_path / "through")
    for rung in (10, 25, 40):  # mid-epoch pauses (32 batches per epoch), the last after one
        paused = run(compose([*overrides, f"budget.rung_steps={rung}"]), tmp_path / "run")
        assert paused["steps"] == rung
        assert resume_point(tmp_path / "run" / "checkpoints" / "last.ckpt")[0] == rung
    assert paused["resumed_at"] == paused["paused_at"] == [10, 25]
    assert paused["stopped_by"] == "max_steps" and through["paused_at"] == []
    for key in ("steps", "batches", "epochs"):
        assert paused[key] == through[key], key
    a, b = (torch.load(d / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
            for d in (tmp_path / "through", tmp_path / "run"))  # fmt: skip
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the pause validated at 25, where the run trained through did not
    assert [s for s, _ in paused["val_history"]] == [10, 20, 25, 30, 40]
    assert_replayed(tmp_path / "run", tmp_path / "replay")


def test_calibrated_budget_is_measured_once(tiny, tmp_path):
    cfg = compose([*tiny["overrides"], "budget.max_cpu_seconds=3", "budget.calibrate=true"])
    first = calibrated(cfg, tmp_path)
    assert first["max_steps"] > 0 and first["from"] == {"max_cpu_seconds": 3.0}
    assert first["measured_steps"] == 30 and first["seconds_per_step"] > 0
    assert calibrated(cfg, tmp_path) == first  # read back, not measured again
    assert json.loads((tmp_path / CALIBRATION).read_text()) == first
    apply(cfg, first)
    assert cfg.budget.max_steps == first["max_steps"] and cfg.budget.max_cpu_seconds is None
    with pytest.raises(ConfigError, match="max_cpu_seconds"):
        check(compose([*tiny["overrides"], "budget.calibrate=true"]))


@pytest.mark.slow  # about 25 s; the default suite keeps a faster test of the same path
def test_a_calibrated_sweep_gives_every_run_the_same_steps(tiny, tmp_path):
    menu_train(
        "-m", *tiny["overrides"], "budget.max_epochs=100", "budget.max_cpu_seconds=1",
        "budget.calibrate=true", "reduce=sum,max", f"hydra.sweep.dir={tmp_path}/sweep",
        cwd=tiny["root"],
    )  # fmt: skip
    steps = json.loads((tmp_path / "sweep" / CALIBRATION).read_text())["max_steps"]
    records = [read_result(p.parent) for p in (tmp_path / "sweep").glob("*/result.json")]
    assert len(records) == 2
    for record in records:
        assert record["steps"] == steps and record["stopped_by"] == "max_steps"
        assert record["calibration"]["max_steps"] == steps
        assert record["budget"]["max_cpu_seconds"] is None


@pytest.mark.parametrize("key", sorted(OWNED_TRAINER_KEYS))
def test_trainer_keys_owned_by_menu_name_the_key_to_use(key):
    with pytest.raises(ConfigError, match=f"trainer.{key}") as e:
        check(compose([f"trainer.{key}=1"]))
    if OWNED_TRAINER_KEYS[key]:
        assert f"use {OWNED_TRAINER_KEYS[key]} instead" in str(e.value)


def test_config_yaml_holds_a_placeholder_for_every_owned_key():
    trainer = compose([]).trainer
    assert {k for k, v in trainer.items() if v is None} == set(OWNED_TRAINER_KEYS)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+trainer.not_a_trainer_arg=1", "not an argument of Lightning's Trainer"),
        ("budget.max_steps=1.5", "budget.max_steps must be a whole number"),
        ("budget.max_cpu_seconds=-3", "budget.max_cpu_seconds must be positive"),
        ("budget.target_val_cer=2", "budget.target_val_cer must be a CER"),
        ("objective=accuracy", "objective must be one of val_cer"),
        ("optim.schedule_clock=hours", "optim.schedule_clock must be steps or time"),
        ("optim.schedule_clock=time", "optim.schedule_clock=time spans a time budget"),
    ],
)
def test_bad_values_stop_with_a_message(override, message):
    with pytest.raises(ConfigError, match=message):
        check(compose([override]))


def test_menu_train_returns_the_validation_cer_to_sweepers_unless_told():
    record = {"val_cer": 0.25, "test_cer": 0.5, "test_wer": None}
    assert objective_value(compose([]), record) == 0.25  # never the test set by default
    assert objective_value(compose(["objective=test_cer"]), record) == 0.5
    assert objective_value(compose(["objective=test_wer"]), record) is None


def test_cli_refuses_conflicting_keys_in_one_line(tiny, tmp_path):
    proc = menu_train("trainer.max_steps=30", f"hydra.run.dir={tmp_path}/one", cwd=tmp_path,
                      check=False)  # fmt: skip
    assert proc.returncode != 0
    assert "menu-train: error: use budget.max_steps instead of trainer.max_steps" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "one" / "result.json").exists()
    # a sweep is refused before any job starts
    proc = menu_train("-m", "trainer.max_steps=10,20", f"hydra.sweep.dir={tmp_path}/sweep",
                      cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode != 0 and "budget.max_steps" in proc.stderr
    assert not list((tmp_path / "sweep").glob("*/result.json"))
    # a sweep over a key its run folders are not named by (threads): refused
    proc = menu_train("-m", "threads=1,2", f"hydra.sweep.dir={tmp_path}/threads", cwd=tmp_path,
                      check=False)  # fmt: skip
    assert proc.returncode != 0 and "a sweep over threads puts every job in one" in proc.stderr
    assert not list((tmp_path / "threads").glob("*/result.json"))


def test_a_sweep_over_an_unnamed_key_is_refused_unless_its_jobs_have_folders():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from menu.config import CONF_DIR, check_sweep_folders

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        default = hydra_compose("config", return_hydra_config=True)
        numbered = hydra_compose("config", overrides=["hydra.sweep.subdir=job${hydra.job.num}"],
                                 return_hydra_config=True)  # fmt: skip
    for sweep in (["trainer=cpu,gpu"], ["threads=1,2"], ["name=a,b", "conv=vgg"]):
        with pytest.raises(ConfigError, match="one run folder"):
            check_sweep_folders(default, sweep)
        check_sweep_folders(numbered, sweep)  # the jobs' own folders: fine
    # lists over named keys, single values, an experiment list, a logger list: fine
    check_sweep_folders(default, ["conv=vgg,resnet", "threads=1", "experiment=crnn,lstm_plain",
                                  "logger=[csv,tensorboard]", "seed=range(3)"])  # fmt: skip


def test_config_dir_of_a_run_points_to_menu_reproduce(tiny, tmp_path):
    hydra_dir = tmp_path / "run" / ".hydra"
    hydra_dir.mkdir(parents=True)
    for name in ("config.yaml", "overrides.yaml", "hydra.yaml"):
        (hydra_dir / name).write_text("{}\n")
    proc = menu_train("--config-dir", str(hydra_dir), "--config-name", "config",
                      f"hydra.run.dir={tmp_path}/other", cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode != 0 and f"menu-reproduce {tmp_path / 'run'}" in proc.stderr


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)]
)
def test_a_signal_stops_a_run_gracefully(tiny, tmp_path, signum):
    """SIGTERM (a scheduler's timeout or preemption) or SIGINT: the run ends after the
    current batch, saves last.ckpt, is recorded as interrupted and exits with 128 + signal,
    so the scheduler requeues it; the rerun resumes from that step and finishes."""
    overrides = [*tiny["overrides"], "budget.max_steps=150", "checkpoint.every_steps=5"]
    cmd = [sys.executable, "-m", "menu.cli.train", *overrides, f"hydra.run.dir={tmp_path}/run"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signum)
    assert proc.wait(timeout=120) == 128 + signum
    record = read_result(tmp_path / "run")
    assert record["status"] == "interrupted", record
    assert signal.Signals(signum).name in record["error"]
    stopped_at = torch.load(last, weights_only=True)["global_step"]
    assert stopped_at > 0
    resumed = run(compose(overrides), tmp_path / "run")
    assert resumed["status"] == "ok" and resumed["resumed_at"] == [stopped_at]
    assert resumed["steps"] == 150


def test_a_schedule_over_the_clock_ends_with_it_and_replays_exactly(tiny, tmp_path):
    """optim.schedule_clock=time: the cosine spans the time budget (it is at its end when
    the clock stops the run), every step's progress is recorded, and the replay (stopped by
    batches, the clock no longer read) sets the same rates at the same steps."""
    overrides = [*tiny["overrides"], "optim.schedule=cosine", "optim.schedule_clock=time",
                 "budget.max_epochs=100", "budget.max_seconds=3",
                 "budget.val_every_steps=16"]  # fmt: skip
    record = run(compose(overrides), tmp_path / "run")
    progress = record["schedule_progress"]
    assert record["stopped_by"] == "max_seconds"
    assert len(progress) == record["steps"] + 1 and progress[-1] > 0.95
    assert progress[0] == 0.0 and progress == sorted(progress)
    assert 0.2 < progress[record["steps"] // 2] < 0.8  # the clock, not the step count
    assert_replayed(tmp_path / "run", tmp_path / "replay")
    assert read_result(tmp_path / "replay")["schedule_progress"] == progress


def test_a_schedule_over_the_clock_needs_a_time_budget():
    from menu.budget import Budget

    with pytest.raises(ValueError, match="needs a time budget"):
        Budget(max_steps=10).progress(0)
    budget = Budget(max_seconds=10.0, max_steps=100)
    budget.seconds = 2.0
    assert budget.progress(0) == 0.2
    budget.seconds = 1.0  # a step read once keeps its value (a resumed run, the init call)
    assert budget.progress(0) == 0.2 and budget.progress(50) == 0.5  # max_steps is further
    assert budget.schedule_progress == [0.2] + [0.5] * 50
    replay = Budget(max_batches=3, schedule_progress=[0.0, 0.4, 1.0])
    assert [replay.progress(s) for s in range(4)] == [0.0, 0.4, 1.0, 1.0]
