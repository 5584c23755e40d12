"""Sweeps from the command line: multirun, parallel jobs, failures, restart, DDP, the table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from tiny import menu_train, tiny_overrides, write_digits_corpus

from menu.record import read_result
from menu.tables import load_runs


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    corpus = write_digits_corpus(root / "digits.txt")
    overrides = [*tiny_overrides(root / "data", corpus), "budget.max_epochs=2"]
    return root, overrides


def test_parallel_2x2_sweep_and_its_tables(tiny, tmp_path):
    root, overrides = tiny
    args = [
        "-m", *overrides, "name=grid", "conv=vgg,resnet", "reduce=sum,max",
        "budget.max_steps=8",  # what is tested is the sweep, not what the runs learn
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path}/grid",
    ]  # fmt: skip
    proc = menu_train(*args, cwd=root)
    runs = sorted((tmp_path / "grid").glob("*/result.json"))
    assert len(runs) == 4
    records = [json.loads(p.read_text()) for p in runs]
    assert {r["status"] for r in records} == {"ok"}
    assert {(r["choices"]["conv"], r["choices"]["reduce"]) for r in records} == {
        ("vgg", "sum"), ("vgg", "max"), ("resnet", "sum"), ("resnet", "max")
    }  # fmt: skip
    for p in runs:  # every run directory describes itself
        assert (p.parent / ".hydra" / "config.yaml").exists()
    # the Hydra callback aggregated the sweep at the end
    table = tmp_path / "grid" / "table"
    for name in ("runs.csv", "runs.md", "runs.tex", "pivot.md", "heatmap.png", "pareto.png"):
        assert (table / name).exists(), name
    assert "test CER over" in proc.stdout + proc.stderr
    # one line per finished run, named by the swept values, counted (no bar in a log)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("[")]
    assert sorted(ln[:5] for ln in lines if "/4]" in ln) == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    for conv, reduce in [("vgg", "sum"), ("vgg", "max"), ("resnet", "sum"), ("resnet", "max")]:
        assert any(f"ok      conv={conv},reduce={reduce}: test CER" in ln for ln in lines)
    assert "sweep:" not in proc.stderr and "%|" not in proc.stderr
    assert len(load_runs([tmp_path / "grid"])) == 4


@pytest.mark.slow  # 40 s; the default suite restarts a finished search (basic launcher)
def test_restarting_a_finished_parallel_sweep_skips_every_run(tiny, tmp_path):
    root, overrides = tiny
    args = [
        "-m", *overrides, "conv=vgg", "reduce=sum,max", "budget.max_steps=8",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path}/grid",
    ]  # fmt: skip
    menu_train(*args, cwd=root)
    runs = sorted((tmp_path / "grid").glob("*/result.json"))
    assert len(runs) == 2
    before = {p: p.stat().st_mtime_ns for p in runs}
    menu_train(*args, cwd=root)
    assert {p: p.stat().st_mtime_ns for p in runs} == before


@pytest.mark.slow  # about 25 s; the default suite keeps a faster test of the same path
def test_a_failing_combination_does_not_stop_the_sweep(tiny, tmp_path):
    root, overrides = tiny
    # ConvHead takes no `bidirectional`: the seq=none job fails when the model is built.
    menu_train(
        "-m", *overrides, "seq=lstm,none", "++seq.bidirectional=true",
        f"hydra.sweep.dir={tmp_path}/fail",
        cwd=root,
    )  # fmt: skip
    records = {
        p.parent.name: read_result(p.parent) for p in (tmp_path / "fail").glob("*/result.json")
    }
    assert len(records) == 2
    failed = [r for r in records.values() if r["status"] == "failed"]
    assert len(failed) == 1 and "bidirectional" in failed[0]["error"]
    assert [r["status"] for r in records.values() if r is not failed[0]] == ["ok"]
    from menu.tables import aggregate

    result = aggregate([tmp_path / "fail"], quiet=True)
    assert "bidirectional" in result["report"]


@pytest.mark.slow  # 15 s: two processes and their process group
def test_ddp_on_cpu_with_two_processes(tiny, tmp_path):
    root, overrides = tiny
    menu_train(
        *overrides, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
        f"hydra.run.dir={tmp_path}/ddp",
        cwd=root,
    )  # fmt: skip
    record = read_result(tmp_path / "ddp")
    assert record["status"] == "ok", record.get("error")
    assert record["world_size"] == 2
    assert record["steps"] == 2 * 16  # 256 lines / (8 per batch x 2 ranks) per epoch
    assert record["val_cer"] is not None
    assert record["test_lines"] == 32  # the test set is evaluated whole, on one device


@pytest.mark.slow  # 30 s
def test_submitit_launcher_runs_the_sweep(tiny, tmp_path):
    """The cluster path (submitit), run with its local executor instead of SLURM."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    root, overrides = tiny
    menu_train(
        "-m", *overrides, "budget.max_epochs=1", "reduce=sum,max",
        "hydra/launcher=submitit_local", f"hydra.sweep.dir={tmp_path}/sub",
        cwd=root,
    )  # fmt: skip
    records = [read_result(p.parent) for p in (tmp_path / "sub").glob("*/result.json")]
    assert sorted(r["choices"]["reduce"] for r in records) == ["max", "sum"]
    assert {r["status"] for r in records} == {"ok"}


@pytest.mark.slow  # SIGKILL of a joblib job: 32 s; SIGTERM resume stays in CI
def test_a_killed_job_does_not_stop_a_parallel_sweep(tiny, tmp_path):
    """One job of a 2-job joblib sweep is SIGKILLed (as the out-of-memory killer does):
    it is recorded as failed with the signal, the other finishes, the table is written."""
    root, overrides = tiny
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable,
        "-m",
        "menu.cli.train",
        "-m",
        *overrides,
        "budget.max_epochs=2,60",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep}",
    ]
    log = open(tmp_path / "log.txt", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    deadline, record = time.time() + 300, None
    while time.time() < deadline and proc.poll() is None:
        long_run = next(sweep.glob("budget.max_epochs=60,*"), None)
        record = read_result(long_run) if long_run else None
        if record and record.get("status") == "running" and (long_run / "logs").exists():
            break
        time.sleep(0.2)
    assert record is not None, (tmp_path / "log.txt").read_text()[-3000:]
    os.kill(record["pid"], signal.SIGKILL)
    proc.wait(timeout=600)
    log.close()
    assert proc.returncode == 0, (tmp_path / "log.txt").read_text()[-3000:]
    killed, done = read_result(long_run), read_result(next(sweep.glob("budget.max_epochs=2,*")))
    assert killed["status"] == "failed" and "SIGKILL" in killed["error"], killed
    assert done["status"] == "ok"
    assert (sweep / "table" / "runs.csv").exists()
    assert "SIGKILL" in (sweep / "table" / "problems.csv").read_text()


@pytest.mark.slow  # about 25 s; the default suite keeps a faster test of the same path
def test_a_hung_job_is_stopped_by_its_timeout(tiny, tmp_path):
    root, overrides = tiny
    menu_train("-m", *overrides, "budget.max_epochs=500", "job_timeout=6",
               f"hydra.sweep.dir={tmp_path}/sweep", cwd=root)  # fmt: skip
    (record,) = [read_result(p.parent) for p in (tmp_path / "sweep").glob("*/result.json")]
    assert record["status"] == "failed" and "timed out after 6 s" in record["error"]
