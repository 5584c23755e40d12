"""menu.tables / menu-table on hand-made sweep records (tests/fixtures/runs, see _make.py there):
a 2x2 grid (conv x reduce) x 2 seeds, a failed run, a running run, a finished run with missing
keys and no test_lines.csv, and a corrupt result.json."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from menu.cli.table import main
from menu.tables import aggregate, bootstrap_ci, load_runs, paired_bootstrap
from menu.tables.stats import default_axes

RUNS = Path(__file__).parent / "fixtures" / "runs"
GRID = [(c, r) for c in ("vgg", "resnet") for r in ("sum", "max")]


def run_dir(conv: str, reduce: str, seed: int, root: Path = RUNS) -> Path:
    return root / f"conv={conv},reduce={reduce},seed={seed}"


def pooled_cer(dirs: list[Path]) -> float:
    lines = pd.concat(pd.read_csv(d / "test_lines.csv") for d in dirs)
    return lines["char_errors"].sum() / lines["ref_chars"].sum()


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return aggregate([RUNS], tmp_path_factory.mktemp("table"), quiet=True)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    dst = tmp_path / "runs"
    shutil.copytree(RUNS, dst)
    return dst


def by_label(configs: pd.DataFrame) -> pd.DataFrame:
    return configs.set_index("label")


def test_load_runs_one_row_per_record() -> None:
    runs = load_runs([RUNS])
    assert len(runs) == 12
    assert runs["status"].value_counts().to_dict() == {
        "ok": 9,
        "running": 1,
        "failed": 1,
        "unreadable": 1,
    }
    ok = runs[runs["status"] == "ok"]
    assert sorted(zip(ok["conv"], ok["reduce"], ok["seed"], strict=True)) == sorted(
        [(c, r, s) for c, r in GRID for s in (0, 1)] + [("resnet", "max", 3)]
    )
    row = runs.set_index("run").loc["conv=vgg,reduce=sum,seed=1"]
    record = json.loads((run_dir("vgg", "sum", 1) / "result.json").read_text())
    assert row["test_cer"] == record["test_cer"] and row["params"] == record["params"]
    assert row["label"] == "vgg/sum" and row["norm"] == "height"
    missing = runs.set_index("run").loc["conv=resnet,reduce=max,seed=3"]
    assert pd.isna(missing["params"]) and pd.isna(missing["budget"])
    assert missing["test_cer"] > 0
    # seeds are pooled into one configuration, name= does not split them
    assert ok.groupby("config").size().sort_values().tolist() == [2, 2, 2, 3]


def test_default_axes_are_the_varying_ones() -> None:
    runs = load_runs([RUNS])
    assert set(default_axes(runs)) == {"conv", "reduce"}
    assert default_axes(runs[runs["conv"] == "vgg"]) == ("reduce", None)


def test_pivot_best_cell(result: dict) -> None:
    stats = result["pivot"].set_index(["conv", "reduce"])
    for conv, reduce in GRID:
        cers = [
            json.loads((d / "result.json").read_text())["test_cer"]
            for d in RUNS.glob(f"conv={conv},reduce={reduce},seed=*")
            if d.name != "conv=vgg,reduce=sum,seed=9"  # the corrupt one
            and json.loads((d / "result.json").read_text())["status"] == "ok"
        ]
        assert stats.loc[(conv, reduce), "mean"] == pytest.approx(np.mean(cers))
        assert stats.loc[(conv, reduce), "std"] == pytest.approx(np.std(cers, ddof=1))
        assert stats.loc[(conv, reduce), "n"] == len(cers)
    assert stats["mean"].idxmin() == ("vgg", "sum")
    table = (result["out"] / "pivot.md").read_text()
    marked = [line for line in table.splitlines() if " *" in line]
    assert len(marked) == 1 and marked[0].startswith("| vgg")
    assert "≈" in table  # vgg/max is not significantly worse
    assert "\\pm" in (result["out"] / "pivot.tex").read_text()


def test_ci_brackets_the_pooled_cer(result: dict) -> None:
    configs = by_label(result["configs"])
    for conv, reduce in GRID:
        c = configs.loc[f"{conv}/{reduce}"]
        dirs = [run_dir(conv, reduce, s) for s in (0, 1)]
        assert c["cer_lines"] == pytest.approx(pooled_cer(dirs))
        assert c["ci_low"] < c["cer_lines"] < c["ci_high"]
        assert c["ci_high"] - c["ci_low"] < 0.05
    assert configs.loc["resnet/max", "ci_runs"] == "2/3"
    assert "no test_lines.csv" in configs.loc["resnet/max", "note"]


def test_significance_marks(result: dict) -> None:
    configs = by_label(result["configs"])
    assert configs.index[0] == "vgg/sum"
    assert configs["vs_best"].to_dict() == {
        "vgg/sum": "best",
        "vgg/max": "n.s.",
        "resnet/max": "sig.",
        "resnet/sum": "sig.",
    }
    assert (configs.drop("vgg/sum")["test"] == "paired").all()
    near = configs.loc["vgg/max"]
    assert near["delta_low"] < 0 < near["delta_high"] and near["p_value"] > 0.1
    far = configs.loc["resnet/sum"]
    assert 0 < far["delta_low"] < far["delta"] < far["delta_high"]


def test_overlap_rule_without_shared_lines(copy: Path) -> None:
    for seed in (0, 1):  # other line keys: no pairing possible
        path = run_dir("resnet", "sum", seed, copy) / "test_lines.csv"
        lines = pd.read_csv(path)
        lines["key"] = "other-" + lines["key"]
        lines.to_csv(path, index=False)
    configs = by_label(aggregate([copy], quiet=True, plots=False)["configs"])
    assert configs.loc["resnet/sum", "test"] == "overlap"
    assert configs.loc["resnet/sum", "vs_best"] == "sig."
    assert configs.loc["vgg/max", "test"] == "paired"


def test_bootstrap_is_seeded_and_exact_when_lines_agree() -> None:
    rng = np.random.default_rng(1)
    chars = rng.integers(10, 40, size=50)
    errors = rng.binomial(chars, 0.1)
    assert bootstrap_ci(errors, chars, seed=3) == bootstrap_ci(errors, chars, seed=3)
    assert bootstrap_ci(errors, chars, seed=3) != bootstrap_ci(errors, chars, seed=4)
    cer, low, high = bootstrap_ci(chars // 10, chars - chars % 10)  # every line at 10%
    assert cer == low == high == pytest.approx(0.1)
    a = pd.DataFrame(
        {"char_errors": errors, "ref_chars": chars}, index=[f"k{i}" for i in range(50)]
    )
    d, lo, hi, p, n = paired_bootstrap(a, a.copy())
    assert (d, lo, hi, n) == (0, 0, 0, 50) and p == 1


def test_failed_running_and_unreadable_are_listed(result: dict) -> None:
    problems = pd.read_csv(result["out"] / "problems.csv").set_index("run")
    assert problems.loc["conv=resnet,reduce=sum,seed=2", "status"] == "failed"
    assert "loss is nan at step 212" in problems.loc["conv=resnet,reduce=sum,seed=2", "error"]
    assert problems.loc["conv=resnet,reduce=max,seed=2", "status"] == "running"
    assert problems.loc["conv=vgg,reduce=sum,seed=9", "status"] == "unreadable"
    assert "JSONDecodeError" in problems.loc["conv=vgg,reduce=sum,seed=9", "error"]
    assert len(problems) == 3
    report = result["report"]
    assert "9 ok, 1 running, 1 failed, 1 unreadable" in report
    assert "FloatingPointError: loss is nan at step 212" in report
    assert "budget: max_epochs=8, max_steps=-1, max_seconds=None" in report
    assert report.index("budget:") < report.index("== runs ==")


def test_all_files_written(result: dict) -> None:
    out = result["out"]
    for name in ("runs", "pivot", "configs", "problems"):
        for ext in ("csv", "md", "tex"):
            assert (out / f"{name}.{ext}").stat().st_size > 0, f"{name}.{ext}"
        assert "\\begin{tabular}" in (out / f"{name}.tex").read_text()
    for png in ("heatmap.png", "pareto.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result["files"]) == {p for p in out.iterdir()}
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 12 and {"conv", "reduce", "test_cer", "status"} <= set(runs.columns)
    configs = pd.read_csv(out / "configs.csv")
    assert configs["pareto_speed"].sum() == 2  # vgg/sum and vgg/max


def test_missing_test_lines_means_no_ci(copy: Path) -> None:
    for seed in (0, 1):
        (run_dir("vgg", "max", seed, copy) / "test_lines.csv").unlink()
    res = aggregate([copy], copy / "out", quiet=True, plots=False)
    c = by_label(res["configs"]).loc["vgg/max"]
    assert np.isnan(c["ci_low"]) and c["vs_best"] == "no CI"
    assert "vgg/max: no CI" in res["report"]


def test_budget_mismatch_warns(copy: Path) -> None:
    path = run_dir("vgg", "max", 1, copy) / "result.json"
    record = json.loads(path.read_text())
    record["budget"]["max_epochs"] = 4
    path.write_text(json.dumps(record))
    report = aggregate([copy], quiet=True, plots=False)["report"]
    assert "WARNING: runs differ in budget" in report
    assert "max_epochs=4" in report and "max_epochs=8" in report


def test_override_axes_and_nested_runs(tmp_path: Path) -> None:
    base = json.loads((run_dir("vgg", "sum", 0) / "result.json").read_text())
    for name, extra in (("a", []), ("b", ["conv.channels=[16,32]"])):
        for seed in (0, 1):
            rec = dict(base, overrides=["conv=vgg", f"seed={seed}", *extra], seed=seed)
            rec["test_cer"] = base["test_cer"] + (0.01 if extra else 0) + seed * 0.001
            d = tmp_path / f"{name}{seed}"
            d.mkdir()
            (d / "result.json").write_text(json.dumps(rec))
    (tmp_path / "a0" / "reproduce").mkdir()
    shutil.copy(tmp_path / "a0" / "result.json", tmp_path / "a0" / "reproduce" / "result.json")
    res = aggregate([tmp_path], quiet=True, plots=False)
    runs = res["runs"]
    assert runs["status"].value_counts().to_dict() == {"ok": 4, "nested": 1}
    assert set(runs.loc[runs["status"] == "ok", "conv.channels"]) == {"default", "[16,32]"}
    assert set(res["configs"]["label"]) == {"default", "conv.channels=[16,32]"}
    assert (res["configs"]["runs"] == 2).all()
    assert "no test_lines.csv" in res["report"]


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t"
    assert (
        main([str(RUNS), "--out", str(out), "--rows", "reduce", "--cols", "conv", "--no-plots"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "== test CER over reduce x conv" in printed
    assert re.search(r"^sum +\S+ ± \S+ +\S+ ± \S+ \*$", printed, re.M)  # vgg (2nd col) best
    assert pd.read_csv(out / "pivot.csv").columns[0] == "reduce"
    assert main([str(RUNS), "--out", str(out), "--where", "conv=vgg", "--quiet", "--no-plots"]) == 0
    assert pd.read_csv(out / "pivot.csv").columns.tolist() == ["reduce", "test CER"]
    assert main([str(RUNS), "--out", str(out), "--rows", "nope"]) == 2
    assert "unknown axis 'nope'" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--quiet"]) == 1
