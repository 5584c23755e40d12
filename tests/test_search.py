"""Successive halving and Hyperband (menu/search.py, menu/space.py): rungs, brackets,
promotion, draws of continuous knobs, continuation from checkpoints."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from tiny import menu_train, tiny_overrides, write_digits_corpus

from menu.search import HalvingSweeper, brackets, promote, rungs, value_at
from menu.space import Interval, Space


def test_rungs_grow_by_eta_up_to_the_final_budget():
    assert rungs(100, 2700, 3) == [100, 300, 900, 2700]
    assert rungs(100, 1000, 3) == [100, 300, 900, 1000]
    assert rungs(50, 50, 2) == [50]
    with pytest.raises(ValueError, match="eta"):
        rungs(10, 100, 1)
    with pytest.raises(ValueError, match="min_budget"):
        rungs(200, 100, 3)


def test_hyperband_brackets_start_at_every_rung_with_fewer_configurations():
    assert brackets(5, 3, 81, hyperband=False) == [(0, 81)]
    # Li et al. (2018), R = 81, eta = 3: 81, 34, 15, 8 and 5 configurations
    assert brackets(5, 3, 81, hyperband=True) == [(0, 81), (1, 34), (2, 15), (3, 8), (4, 5)]
    assert brackets(2, 2, 1, hyperband=True) == [(0, 1), (1, 1)]


def test_a_space_is_a_grid_of_lists_or_seeded_draws_with_intervals():
    grid = Space.parse(["conv=vgg,resnet", "seq.hidden=range(16,48,16)", "seed=1", "seed=2"])
    assert [" ".join(c) for c in grid.grid()] == [
        "conv=vgg seq.hidden=16 seed=2", "conv=vgg seq.hidden=32 seed=2",
        "conv=resnet seq.hidden=16 seed=2", "conv=resnet seq.hidden=32 seed=2",
    ]  # fmt: skip
    assert grid.draw(9, random.Random(0)) == grid.grid()  # all of a small grid, in order
    some = grid.draw(2, random.Random(0))
    assert len(some) == 2 and all(c in grid.grid() for c in some)
    space = Space.parse(["optim.optimizer.lr=tag(log,interval(1e-4,1e-2))",
                         "seq.hidden=int(interval(16,64))", "conv=vgg,resnet"])  # fmt: skip
    assert space.values[:2] == [Interval(1e-4, 1e-2, log=True), Interval(16, 64, integer=True)]
    with pytest.raises(ValueError, match="samples"):
        space.grid()
    draws = space.draw(200, random.Random(1))
    assert draws == space.draw(200, random.Random(1)) and len({" ".join(d) for d in draws}) == 200
    lrs = [float(d[0].split("=")[1]) for d in draws]
    hidden = [int(d[1].split("=")[1]) for d in draws]
    assert all(1e-4 <= x <= 1e-2 for x in lrs) and all(16 <= h <= 64 for h in hidden)
    assert 0.2 < sum(x < 1e-3 for x in lrs) / len(lrs) < 0.8  # log-uniform: half below 1e-3
    assert {d[2] for d in draws} == {"conv=vgg", "conv=resnet"}
    with pytest.raises(ValueError, match="positive"):
        Space.parse(["optim.optimizer.lr=tag(log,interval(0,1))"])


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
    paused = {**record, "steps": 24, "stopped_by": "rung_steps"}
    assert value_at(paused, 24) == 0.1 and value_at(paused, 72) is None  # an earlier rung's
    assert value_at({**paused, "stopped_by": "early_stopping"}, 72) == 0.1  # finished early


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
    sweeper = fake_sweeper(tmp_path, cers, min_budget=10, max_budget=90, eta=2)
    sweeper.sweep(["seed=0,1,2,3,4,5,6,7"])
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
    bracket = state["brackets"][0]
    assert state["rungs"] == [10, 20, 40, 80, 90] and bracket["promoted"][0] == [4, 1, 6, 2]
    assert bracket["values"][0]["3"] is None and len(state["brackets"]) == 1


def fake_sweeper(tmp_path, cers, **kwargs) -> HalvingSweeper:
    sweeper = HalvingSweeper(**kwargs)
    sweeper.launcher = FakeLauncher(cers)
    sweeper.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    sweeper.validate_batch_is_legal = lambda batch: None
    return sweeper


def test_the_extra_seeds_go_to_the_best_finalists(tmp_path):
    values = [0.9, 0.2, 0.5, 0.4, 0.1, 0.7, 0.3, 0.8]
    cers = {f"conv={c}": cer for c, cer in zip("abcdefgh", values, strict=True)}
    for finalists, expected in [(None, ["conv=e", "conv=b"]), (1, ["conv=e"])]:
        sweeper = fake_sweeper(tmp_path, cers, min_budget=10, max_budget=30, eta=2, seeds=3,
                               finalists=finalists)  # fmt: skip
        sweeper.sweep([f"conv={','.join('abcdefgh')}"])
        seeded = [job for job in sweeper.launcher.jobs if "seed=1" in job or "seed=2" in job]
        assert [job[0] for job in seeded] == [c for c in expected for _ in (1, 2)]
        assert all(job[-1] == "budget.max_steps=30" for job in seeded)
    with pytest.raises(ValueError, match="finalists"):
        HalvingSweeper(min_budget=10, max_budget=30, finalists=0)


def test_twins_are_trained_once_under_the_canonical_configuration(tmp_path):
    from menu.search import twins

    keys = [("a", False), ("a", True), ("b", True), ("a", False), ("c", False), ("c", False)]
    assert twins(keys) == {"0": 1, "3": 1, "5": 4}  # the canonical one, else the first
    cers = {f"conv={c}": cer for c, cer in zip("abcdef", [0.5, 0.5, 0.2, 0.5, 0.9, 0.9],
                                                strict=True)}  # fmt: skip
    sweeper = fake_sweeper(tmp_path, cers, min_budget=10, max_budget=20, eta=2)
    sweeper.model_keys = lambda configs, final: [keys["abcdef".index(c[0][-1])] for c in configs]
    sweeper.sweep([f"conv={','.join('abcdef')}"])
    first = [job[0] for job in sweeper.launcher.jobs if job[-1] == "budget.rung_steps=10"]
    assert first == ["conv=b", "conv=c", "conv=e"]  # three models, each trained once
    state = json.loads((tmp_path / "search.json").read_text())
    assert state["twins"] == {"0": 1, "3": 1, "5": 4} and state["brackets"][0]["promoted"] == [[2]]


class RecordLauncher:
    """Trains each configuration (its first override) to the rung as a record in its own
    folder, validation CER ``cers[...] * 10 / steps``; the configurations in ``refuse`` fail
    from rung ``refuse_at`` on without touching their folder (as a refused run does)."""

    def __init__(self, root, cers, refuse=(), refuse_at=10**9) -> None:
        self.root, self.cers, self.refuse, self.refuse_at = root, cers, set(refuse), refuse_at
        self.jobs = []

    def launch(self, batch, initial_job_idx):
        out = []
        for overrides in batch:
            self.jobs.append(list(overrides))
            run_dir = self.root / overrides[0]
            rung = int(overrides[-1].split("=")[1])
            ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED,
                            hydra_cfg=OmegaConf.create(
                                {"hydra": {"runtime": {"output_dir": str(run_dir)}}}))  # fmt: skip
            if overrides[0] in self.refuse and rung >= self.refuse_at:
                ret.status, ret.return_value = JobStatus.FAILED, RuntimeError("refused")
            else:
                run_dir.mkdir(parents=True, exist_ok=True)
                cer = self.cers[overrides[0]] * 10 / rung
                record = {"status": "ok", "steps": rung, "stopped_by": "rung_steps",
                          "val_history": [[rung, cer]]}  # fmt: skip
                (run_dir / "result.json").write_text(json.dumps(record))
                ret.return_value = cer
            out.append(ret)
        return out


def test_failed_jobs_are_not_ranked_by_their_folders_earlier_record(tmp_path):
    cers = {f"seed={i}": cer for i, cer in enumerate([0.9, 0.2, 0.5, 0.6, 0.1, 0.7, 0.3, 0.8])}
    sweeper = fake_sweeper(tmp_path, {}, min_budget=10, max_budget=40, eta=2)
    # the two best of rung 10 are refused at 20: their 10-step records must not rank them
    sweeper.launcher = RecordLauncher(tmp_path, cers, refuse={"seed=4", "seed=1"}, refuse_at=20)
    sweeper.sweep(["seed=0,1,2,3,4,5,6,7"])
    state = json.loads((tmp_path / "search.json").read_text())
    values = state["brackets"][0]["values"]
    assert values[1] == {"4": None, "1": None, "6": 0.15, "2": 0.25}
    assert state["brackets"][0]["promoted"][1] == [6, 2]  # 4 // 2 of those that trained
    assert values[2] == {"6": 0.3 * 10 / 40, "2": 0.5 * 10 / 40}


def test_a_rung_where_every_job_failed_stops_and_keeps_the_last_state(tmp_path):
    cers = {f"seed={i}": 0.1 * (i + 1) for i in range(8)}
    sweeper = fake_sweeper(tmp_path, {}, min_budget=10, max_budget=40, eta=2)
    sweeper.launcher = RecordLauncher(tmp_path, cers)
    sweeper.sweep(["seed=0,1,2,3,4,5,6,7"])
    before = (tmp_path / "search.json").read_text()
    # the same search again, every job refused (another configuration in every folder)
    sweeper.launcher = RecordLauncher(tmp_path, cers, refuse=set(cers), refuse_at=0)
    with pytest.raises(RuntimeError, match=r"every job of rung 0 .*search.json left as it was"):
        sweeper.sweep(["seed=0,1,2,3,4,5,6,7"])
    assert len(sweeper.launcher.jobs) == 8  # nothing promoted from the folders' old records
    assert (tmp_path / "search.json").read_text() == before


class LrLauncher(FakeLauncher):
    """Validation CER = distance of the drawn learning rate from 1e-3 (log scale)."""

    def launch(self, batch, initial_job_idx):
        import math

        for overrides in batch:
            lr = float(overrides[0].split("=")[1])
            self.cers[overrides[0]] = abs(math.log10(lr) + 3)
        return super().launch(batch, initial_job_idx)


def test_hyperband_draws_each_brackets_configurations_and_promotes_the_best(tmp_path):
    sweeper = fake_sweeper(tmp_path, {}, min_budget=1, max_budget=9, eta=3, samples=9,
                           hyperband=True, seed=3)  # fmt: skip
    sweeper.launcher = LrLauncher({})
    sweeper.sweep(["optim.optimizer.lr=tag(log,interval(1e-5,1e-1))"])
    state = json.loads((tmp_path / "search.json").read_text())
    assert [b["rungs"] for b in state["brackets"]] == [[1, 3, 9], [3, 9], [9]]
    assert [len(b["members"]) for b in state["brackets"]] == [9, 5, 3]  # ceil(9*3/(2*3)), 9*3/9
    for b in state["brackets"]:  # at every rung the survivors are the best by the fake CER
        for values, promoted in zip(b["values"], b["promoted"], strict=False):
            ranked = sorted(values, key=lambda i: values[i])
            assert [str(i) for i in promoted] == ranked[: max(1, len(values) // 3)]
    ran = [j for j in sweeper.launcher.jobs if j[-1] == "budget.rung_steps=9"]
    assert len(ran) == 1 + 1 + 3 and all(j[1] == "budget.max_steps=9" for j in ran)
    again = fake_sweeper(tmp_path / "again", {}, min_budget=1, max_budget=9, eta=3, samples=9,
                         hyperband=True, seed=3)  # fmt: skip
    again.launcher = LrLauncher({})
    again.sweep(["optim.optimizer.lr=tag(log,interval(1e-5,1e-1))"])
    assert again.launcher.jobs == sweeper.launcher.jobs  # seeded: the same draws, the same runs


def test_a_cpu_time_budget_is_calibrated_once_into_steps(tmp_path):
    (tmp_path / "budget.json").write_text(json.dumps({"max_steps": 900}))  # 10 steps per CPU-s
    sweeper = fake_sweeper(tmp_path, {"seed=0": 0.5, "seed=1": 0.4}, min_budget=10,
                           max_budget=90, eta=3, unit="cpu_seconds")  # fmt: skip
    sweeper.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)},
                                                 "launcher": {}}, "budget": {}})  # fmt: skip
    sweeper.sweep(["seed=0,1"])
    state = json.loads((tmp_path / "search.json").read_text())
    assert state["budgets"] == [10, 30, 90] and state["rungs"] == [100, 300, 900]
    assert sweeper.launcher.jobs[-1] == ["seed=1", "budget.max_steps=900", "budget.rung_steps=900"]
    with pytest.raises(ValueError, match="unit"):
        HalvingSweeper(min_budget=1, max_budget=9, unit="epochs")


def test_the_command_line_may_not_set_the_sweepers_budget_keys():
    sweeper = HalvingSweeper(min_budget=10, max_budget=90)
    with pytest.raises(ValueError, match="set by the halving sweeper"):
        sweeper.space(["conv=vgg,resnet", "budget.max_steps=100"])
    assert sweeper.space(["conv=vgg,resnet", "seed=1"]).grid() == [
        ["conv=vgg", "seed=1"], ["conv=resnet", "seed=1"]
    ]  # fmt: skip


def test_halving_from_the_command_line_continues_runs_and_resumes(tmp_path):
    corpus = write_digits_corpus(tmp_path / "digits.txt")
    args = [
        "-m", *tiny_overrides(tmp_path / "data", corpus), "name=search", "isolate=false",
        "data.synth.n_train=64", "data.synth.n_val=16", "data.synth.n_test=16",
        "hydra/sweeper=halving", "hydra.sweeper.min_budget=3", "hydra.sweeper.max_budget=27",
        "hydra.sweeper.seeds=2",
        "conv=vgg,unet", "reduce=sum,max", "scale=none,interp",
        f"hydra.sweep.dir={tmp_path}/search",
    ]  # fmt: skip
    menu_train(*args, cwd=tmp_path)
    records = {p.parent.name: json.loads(p.read_text())
               for p in (tmp_path / "search").glob("*/result.json")}  # fmt: skip
    assert len(records) == 7 and {r["status"] for r in records.values()} == {"ok"}
    assert not any("unet" in k and "interp" in k for k in records)  # unet upsamples by 1: twins
    steps = sorted(r["steps"] for r in records.values())
    assert steps == [3] * 4 + [9, 27, 27]  # 6 models -> 2 -> 1 (eta 3), the finalist's seed 1
    final = next(r for r in records.values() if r["steps"] == 27 and r["seed"] == 0)
    seed1 = next(r for r in records.values() if r["seed"] == 1)
    assert seed1["resumed_at"] == [] and seed1["choices"] == final["choices"]
    assert final["resumed_at"] == [3, 9] and final["stopped_by"] == "max_steps"
    val_steps = [s for s, _ in final["val_history"]]  # one curve across the rungs
    assert {3, 9, 27} <= set(val_steps) and val_steps == sorted(set(val_steps))
    state = json.loads((tmp_path / "search" / "search.json").read_text())
    assert state["rungs"] == [3, 9, 27] and len(state["brackets"][0]["promoted"][0]) == 2
    table = tmp_path / "search" / "table"  # written by the sweep's end callback
    assert (table / "learning_curves.png").is_file() and (table / "search.csv").is_file()
    report = (table / "report.txt").read_text()
    assert "== search" in report and "of a full factorial sweep at 27 steps" in report
    options = pd.read_csv(table / "search_options.csv")  # 6 -> 2 -> 1, by option
    assert set(options["key"]) == {"conv", "reduce", "scale"}
    assert options.groupby("key")[["n@3", "n@9", "n@27"]].sum().values.tolist() == [[6, 2, 1]] * 3
    assert len(pd.read_csv(table / "twins.csv")) == 2 and "6 models (2 the same" in report
    assert len(pd.read_csv(table / "search.csv")) == 6  # a row per model
    # the same command again trains nothing: every rung's run is found finished
    started = {k: r["started"] for k, r in records.items()}
    menu_train(*args, cwd=tmp_path)
    again = {p.parent.name: json.loads(p.read_text())["started"]
             for p in (tmp_path / "search").glob("*/result.json")}  # fmt: skip
    assert again == started
    assert json.loads((tmp_path / "search" / "search.json").read_text()) == state


@pytest.mark.slow  # 20-40 s; the fake-launcher tests cover Hyperband's promotions
def test_hyperband_with_a_continuous_knob_from_the_command_line(tmp_path):
    corpus = write_digits_corpus(tmp_path / "digits.txt")
    menu_train(
        "-m", *tiny_overrides(tmp_path / "data", corpus), "name=hb", "isolate=false",
        "data.synth.n_train=64", "data.synth.n_val=16", "data.synth.n_test=16",
        "hydra/sweeper=halving", "hydra.sweeper.min_budget=3", "hydra.sweeper.max_budget=9",
        "hydra.sweeper.samples=3", "hydra.sweeper.hyperband=true", "reduce=sum,max",
        "optim.optimizer.lr=tag(log,interval(1e-4,1e-2))", f"hydra.sweep.dir={tmp_path}/hb",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "threads=1",  # any launcher
        cwd=tmp_path,
    )  # fmt: skip
    state = json.loads((tmp_path / "hb" / "search.json").read_text())
    assert [b["rungs"] for b in state["brackets"]] == [[3, 9], [9]]
    records = [json.loads(p.read_text()) for p in (tmp_path / "hb").glob("*/result.json")]
    assert len(records) == len(state["configurations"]) == 5  # 3 drawn, then 2 more
    lrs = {r["config"]["optim"]["optimizer"]["lr"] for r in records}
    assert len(lrs) == 5 and all(1e-4 <= lr <= 1e-2 for lr in lrs)
    promoted = [r for r in records if r["resumed_at"]]  # bracket 0's survivor went on from 3
    assert len(promoted) == 1 and promoted[0]["resumed_at"] == [3] and promoted[0]["steps"] == 9
    paused = [r for r in records if r["stopped_by"] == "rung_steps"]  # stopped at 3 steps
    assert len(paused) == 2 and all(r.get("test_cer") is None for r in paused)  # no test yet
    assert all(r.get("test_cer") is not None for r in records if r["steps"] == 9)
    report = (tmp_path / "hb" / "table" / "report.txt").read_text()
    assert "2 Hyperband brackets" in report and "bracket" in report
    assert "2 run(s) paused at a rung of a search" in report


def test_rank_agreement_between_rungs_is_spearman_over_those_that_reached_both():
    from menu.tables.search import rank_agreement

    state = {"eta": 2, "rungs": [10, 20, 40], "brackets": [{"rungs": [10, 20, 40], "values": [
        {"0": 0.9, "1": 0.2, "2": 0.5, "3": None, "4": 0.1, "5": 0.7},
        {"4": 0.3, "1": 0.1, "2": 0.2},  # 1 and 4 swap places, 2 stays last
        {"1": 0.05},
    ]}]}  # fmt: skip
    table = rank_agreement(state)
    assert table[["rung", "later_rung", "configurations"]].values.tolist() == [[10, 20, 3]]
    row = table.iloc[0]
    assert row["spearman"] == pytest.approx(-0.5) and row["top_kept"] == "0/1"
    one = {"rungs": [10, 20, 40], "values": [{"0": 0.5}, {"0": 0.4}]}
    assert rank_agreement({**state, "brackets": [one]}).empty


def test_each_option_counts_its_promotions_and_median_per_rung():
    from menu.tables.search import option_table

    lrs = [0.001, 0.002, 0.003, 0.004, 0.005, 0.006]
    configurations = [f"conv={c} lr={lr}" for c, lr in zip("aabbcc", lrs, strict=True)]
    state = {"eta": 2, "rungs": [10, 20], "configurations": configurations,
             "brackets": [{"rungs": [10, 20], "members": [0, 1, 2, 3, 4, 5],
                           "values": [{"0": 0.9, "1": 0.2, "2": 0.5, "3": None, "4": 0.1,
                                       "5": 0.7}, {"1": 0.15, "4": 0.05}],
                           "promoted": [[4, 1, 2]]}]}  # fmt: skip
    table = option_table(state, max_levels=12)
    conv = table[table["key"] == "conv"].set_index("value")
    assert conv.index.tolist() == ["c", "b", "a"]  # by their median at the first rung
    assert conv["n@10"].tolist() == [2, 2, 2] and conv["n@20"].tolist() == [1, 1, 1]
    assert conv.loc["a", "median@10"] == pytest.approx(0.55)
    assert conv.loc["b", "median@10"] == pytest.approx(0.5)  # the failed run has no value
    assert pd.isna(conv.loc["b", "median@20"])  # promoted, not trained yet
    assert conv.loc["c", "median@20"] == pytest.approx(0.05)
    lr = option_table(state, max_levels=3)
    lr = lr[lr["key"] == "lr"]  # 6 sampled values: in tertiles
    assert len(lr) == 3 and lr["configurations"].tolist() == [2, 2, 2]
    assert lr["n@20"].sum() == 3
    twin = option_table({**state, "twins": {"5": 4}})  # 5 is trained as 4: not counted twice
    assert twin.set_index("value").loc["c", "configurations"] == 1


def test_a_rung_in_progress_shows_the_runs_that_reached_it(tmp_path):
    from menu.tables.search import compute_line, search_table

    run_dirs = {}
    for i, (steps, history) in enumerate([(20, [[10, 0.5], [20, 0.3]]), (10, [[10, 0.4]]),
                                          (10, [[10, 0.9]])]):  # fmt: skip
        run = tmp_path / f"run{i}"
        run.mkdir()
        clock = {"cpu_seconds": 1800.0 * (2 - i)} if i < 2 else {}  # the last has none
        at = [[s, 0.0, 1800.0 * (k + 1)] for k, (s, _) in enumerate(history)] if i < 2 else []
        record = {"status": "ok", "steps": steps, "val_history": history, "budget_used": clock,
                  "val_clock": at}  # fmt: skip
        (run / "result.json").write_text(json.dumps(record))
        run_dirs[str(i)] = str(run)
    state = {"eta": 2, "rungs": [10, 20], "budgets": [10, 20], "unit": "steps",
             "configurations": ["conv=a", "conv=b", "conv=c"], "run_dirs": run_dirs,
             "brackets": [{"rungs": [10, 20], "members": [0, 1, 2],
                           "values": [{"0": 0.5, "1": 0.4, "2": 0.9}],
                           "promoted": [[1, 0]]}]}  # fmt: skip
    table = search_table(state)
    assert table["configuration"].tolist() == ["conv=a", "conv=b", "conv=c"]
    assert table["steps"].tolist() == [20, 10, 10]
    assert table["val_cer@20"].tolist()[0] == pytest.approx(0.3)
    assert table["val_cer@20"].isna().tolist() == [False, True, True]
    line = compute_line(state, table)
    assert "40 training steps in 1.5 CPU-hours of training (by rung: 10: 1.0, 20: 0.5)" in line
    assert "rung 20 in progress: 1 of 2 trained" in line


def test_a_promoted_run_whose_checkpoint_is_gone_trains_again_to_the_same_run(tiny, tmp_path):
    """A search's records restored on a machine without its checkpoints
    (experiments/search/records.sh): the paused run trains from step 0 to its next rung and
    ends exactly where the one that went on from its checkpoint ends."""
    import shutil

    from menu.config import compose
    from menu.training import run

    base = [*tiny["overrides"], "data.synth.n_train=64", "budget.max_steps=12",
            "budget.val_every_steps=4"]  # fmt: skip
    rung = [*base, "budget.rung_steps=4"]
    for name in ("kept", "lost"):
        paused = run(compose(rung), tmp_path / name, overrides=rung)
        assert paused["stopped_by"] == "rung_steps" and paused["steps"] == 4
    shutil.rmtree(tmp_path / "lost" / "checkpoints")
    nxt = [*base, "budget.rung_steps=8"]
    kept = run(compose(nxt), tmp_path / "kept", overrides=nxt)
    lost = run(compose(nxt), tmp_path / "lost", overrides=nxt)
    assert kept["resumed_at"] == [4] and lost["resumed_at"] == []
    for key in ("steps", "val_cer", "val_history", "batches", "epochs"):
        assert kept[key] == lost[key], key
    assert value_at(lost, 4) == value_at(paused, 4)  # the first rung's value is kept
