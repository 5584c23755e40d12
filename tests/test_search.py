"""Successive halving (menu/search.py): rungs, promotion, continuation from checkpoints."""

from __future__ import annotations

import json

import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from tiny import menu_train, tiny_overrides, write_digits_corpus

from menu.search import HalvingSweeper, promote, rungs, value_at


def test_rungs_grow_by_eta_up_to_the_final_budget():
    assert rungs(100, 2700, 3) == [100, 300, 900, 2700]
    assert rungs(100, 1000, 3) == [100, 300, 900, 1000]
    assert rungs(50, 50, 2) == [50]
    with pytest.raises(ValueError, match="eta"):
        rungs(10, 100, 1)
    with pytest.raises(ValueError, match="min_steps"):
        rungs(200, 100, 3)


def test_promotion_keeps_the_best_third_and_drops_failures():
    values = {0: 0.5, 1: 0.1, 2: None, 3: 0.3, 4: 0.2, 5: float("nan"), 6: 0.9}
    assert promote(values, 3) == [1, 4]  # 7 // 3 = 2 of the 5 with a value
    assert promote({0: 0.4, 1: 0.4}, 3) == [0]  # at least one; ties: the earlier
    assert promote({0: None}, 2) == []


def test_a_rungs_value_is_the_best_validation_up_to_it():
    record = {"status": "ok", "val_history": [[4, 0.9], [8, 0.5], [12, 0.6], [24, 0.1]]}
    assert value_at(record, 12) == 0.5 and value_at(record, 24) == 0.1
    assert value_at(record, 2) is None
    assert value_at({**record, "status": "failed"}, 24) is None


class FakeLauncher:
    """Returns a fixed validation CER per configuration and remembers every job."""

    def __init__(self, cers: dict[str, float | None]) -> None:
        self.cers, self.jobs = cers, []

    def launch(self, batch, initial_job_idx):
        out = []
        for overrides in batch:
            self.jobs.append(list(overrides))
            cer = self.cers[overrides[0]]
            ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
            ret.return_value = cer
            out.append(ret)
        return out


def test_the_sweeper_promotes_the_right_runs_with_fixed_cers(tmp_path):
    cers = {f"seed={i}": cer for i, cer in enumerate([0.9, 0.2, 0.5, None, 0.1, 0.7, 0.3, 0.8])}
    sweeper = HalvingSweeper(min_steps=10, max_steps=90, eta=2)
    sweeper.launcher = FakeLauncher(cers)
    sweeper.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    sweeper.validate_batch_is_legal = lambda batch: None
    sweeper.configurations = lambda arguments: [[k] for k in cers]
    sweeper.sweep([])
    by_rung = {}
    for job in sweeper.launcher.jobs:
        by_rung.setdefault(job[-1], []).append(job[0])
    assert by_rung == {
        "budget.rung_steps=10": list(cers),
        "budget.rung_steps=20": ["seed=4", "seed=1", "seed=6", "seed=2"],  # 8 // 2 = 4
        "budget.rung_steps=40": ["seed=4", "seed=1"],
        "budget.rung_steps=80": ["seed=4"],
        "budget.rung_steps=90": ["seed=4"],
    }
    assert all(job[1] == "budget.max_steps=90" for job in sweeper.launcher.jobs)
    state = json.loads((tmp_path / "search.json").read_text())
    assert state["rungs"] == [10, 20, 40, 80, 90] and state["promoted"][0] == [4, 1, 6, 2]
    assert state["values"][0]["3"] is None


def test_the_command_line_may_not_set_the_sweepers_budget_keys():
    sweeper = HalvingSweeper(min_steps=10, max_steps=90)
    with pytest.raises(ValueError, match="set by the halving sweeper"):
        sweeper.configurations(["conv=vgg,resnet", "budget.max_steps=100"])
    assert sweeper.configurations(["conv=vgg,resnet", "seed=1"]) == [
        ["conv=vgg", "seed=1"], ["conv=resnet", "seed=1"]
    ]  # fmt: skip


def test_halving_from_the_command_line_continues_runs_and_resumes(tmp_path):
    corpus = write_digits_corpus(tmp_path / "digits.txt")
    args = [
        "-m", *tiny_overrides(tmp_path / "data", corpus), "name=search", "isolate=false",
        "data.synth.n_train=64", "data.synth.n_val=16", "data.synth.n_test=16",
        "hydra/sweeper=halving", "hydra.sweeper.min_steps=3", "hydra.sweeper.max_steps=27",
        "hydra.sweeper.seeds=2",
        "conv=vgg,resnet", "reduce=sum,max", "seq.hidden=16,32",
        f"hydra.sweep.dir={tmp_path}/search",
    ]  # fmt: skip
    menu_train(*args, cwd=tmp_path)
    records = {p.parent.name: json.loads(p.read_text())
               for p in (tmp_path / "search").glob("*/result.json")}  # fmt: skip
    assert len(records) == 9 and {r["status"] for r in records.values()} == {"ok"}
    steps = sorted(r["steps"] for r in records.values())
    assert steps == [3] * 6 + [9, 27, 27]  # 8 -> 2 -> 1 (eta 3), and the finalist's seed 1
    final = next(r for r in records.values() if r["steps"] == 27 and r["seed"] == 0)
    seed1 = next(r for r in records.values() if r["seed"] == 1)
    assert seed1["resumed_at"] == [] and seed1["choices"] == final["choices"]
    assert final["resumed_at"] == [3, 9] and final["stopped_by"] == "max_steps"
    val_steps = [s for s, _ in final["val_history"]]  # one curve across the rungs
    assert {3, 9, 27} <= set(val_steps) and val_steps == sorted(set(val_steps))
    state = json.loads((tmp_path / "search" / "search.json").read_text())
    assert state["rungs"] == [3, 9, 27] and len(state["promoted"][0]) == 2
    table = tmp_path / "search" / "table"  # written by the sweep's end callback
    assert (table / "learning_curves.png").is_file() and (table / "search.csv").is_file()
    report = (table / "report.txt").read_text()
    assert "== search" in report and "of a full factorial sweep at 27 steps" in report
    # the same command again trains nothing: every rung's run is found finished
    started = {k: r["started"] for k, r in records.items()}
    menu_train(*args, cwd=tmp_path)
    again = {p.parent.name: json.loads(p.read_text())["started"]
             for p in (tmp_path / "search").glob("*/result.json")}  # fmt: skip
    assert again == started
    assert json.loads((tmp_path / "search" / "search.json").read_text()) == state
