"""experiments/search/outside.py: a search's final models on sets outside the generator."""

from __future__ import annotations

import glob
import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments" / "search"))
import outside


def _copy_run(tiny: dict, sweep: Path, name: str, **changes) -> Path:
    run = sweep / name
    shutil.copytree(tiny["run"], run)
    record = json.loads((run / "result.json").read_text()) | changes
    (run / "result.json").write_text(json.dumps(record))
    return run


def test_final_models_read_each_set_once_against_the_first_by_validation(tiny, tmp_path):
    sweep = tmp_path / "search"
    rung = tiny["record"]["steps"]
    choices = {"norm": "height", "conv": "vgg", "scale": "none", "reduce": "sum", "seq": "lstm"}
    first = _copy_run(tiny, sweep, "a", val_cer=0.1, seed=0, choices=choices)
    second = _copy_run(tiny, sweep, "b", val_cer=0.2, seed=1, choices=choices)
    _copy_run(tiny, sweep, "paused", steps=rung // 3, stopped_by="rung_steps", val_cer=0.05)
    _copy_run(tiny, sweep, "failed", status="failed", val_cer=0.01)
    (sweep / "search.json").write_text(json.dumps({"rungs": [rung // 3, rung]}))
    shards = tmp_path / "set"
    shards.mkdir()
    for path in glob.glob(tiny["record"]["data"]["test"]):
        shutil.copy(path, shards)

    runs = outside.runs_at(sweep, None)
    assert runs["run_dir"].tolist() == [str(first), str(second)]  # the last rung, no failed
    assert outside.runs_at(sweep, rung // 3)["run_dir"].tolist() == [str(sweep / "paused")]
    assert outside.first_by_validation(runs) == first
    table = outside.table(runs, [shards], first)
    assert table["seed"].tolist() == [0, 1]
    assert table["test CER %"].tolist() == [round(100 * tiny["record"]["test_cer"], 2)] * 2
    assert table["configuration"].tolist() == ["height/vgg/none/sum/lstm"] * 2
    lines = pd.read_csv(first / "outside" / "set.csv", keep_default_na=False)
    assert len(lines) == 32 and lines["ref_chars"].sum() > 0  # every line of the set scored
    cer = lines["char_errors"].sum() / lines["ref_chars"].sum()
    assert table.loc[0, "set CER %"] == pytest.approx(100 * cer, abs=0.005)
    assert table.loc[0, "set vs first"] == "(first by validation)"
    assert table.loc[1, "set vs first"].startswith("+0.00 [+0.00, +0.00]")  # the same model
    # the scores are kept: a second table reads no checkpoint
    for run in (first, second):
        (run / "checkpoints" / "best.ckpt").unlink()
    assert outside.table(runs, [shards], first).equals(table)
    with pytest.raises(SystemExit, match=r"best\.ckpt"):
        outside.read_set(first, tmp_path)  # a set not read before needs the checkpoint


def test_a_preset_is_named_by_its_experiment_a_search_run_by_its_five_choices():
    choices = {"norm": "line", "conv": "resnet", "scale": "none", "reduce": "sum", "seq": "lstm"}
    assert outside.configuration(pd.Series(choices | {"experiment": "crnn"})) == "crnn"
    assert (
        outside.configuration(pd.Series(choices | {"experiment": "-"}))
        == "line/resnet/none/sum/lstm"
    )
    assert outside.configuration(pd.Series(choices)) == "line/resnet/none/sum/lstm"


def test_agreement_ranks_each_cer_against_validation():
    result = pd.DataFrame(
        {"configuration": list("abc"), "val CER %": [1.0, 2.0, 3.0],
         "test CER %": [1.5, 2.5, 3.5], "set CER %": [3.0, 2.0, 1.0], "set 95% CI": ["-"] * 3}
    )  # fmt: skip
    ranks = outside.agreement(result)
    assert ranks["CER"].tolist() == ["test CER %", "set CER %"]
    assert ranks["spearman with val CER"].tolist() == [1.0, -1.0]
    assert ranks["runs"].tolist() == [3, 3]
