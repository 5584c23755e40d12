"""The character language model (menu.lm) and the beam search that uses it."""

from __future__ import annotations

import gzip
import json
import math

import pytest
import torch

from menu.decode import beam_lm, greedy
from menu.lm import BOS, EOS, CharNgram, generated_text

TEXT = ["the code is complete", "a code of conduct", "The cat sat.", "complete codes"]


def test_probabilities_sum_to_one_in_seen_and_unseen_contexts() -> None:
    lm = CharNgram.fit(TEXT, order=4)
    seen = sorted(g for g in lm.counts if len(g) == 1)
    assert EOS in seen and BOS not in seen
    for context in (BOS, BOS + "th", "the c", "zzz", "", "co"):
        total = sum(math.exp(lm.logprob(context, c)) for c in seen)
        total += math.exp(lm.logprob(context, "§"))  # one character never seen: the rest
        assert total == pytest.approx(1.0, abs=1e-9), context


def test_the_model_prefers_what_its_text_does() -> None:
    lm = CharNgram.fit(TEXT, order=5)
    assert lm.logprob("the c", "o") > lm.logprob("the c", "O") + 3
    assert lm.logprob(BOS + "Th", "e") > lm.logprob(BOS + "Th", "x")
    assert lm.logprob("sat.", EOS) > lm.logprob("sat.", "x")
    # only the last order - 1 characters count, and a shorter context counts whole
    assert lm.logprob("xxxxthe c", "o") == lm.logprob("the c", "o")
    for context in (BOS + "c", BOS + "co", BOS + "cod"):
        assert lm.logprob(context, "e") == pytest.approx(math.log(lm._prob(context, "e")))
    assert lm.logprob(BOS + "cod", "e") != lm.logprob("od", "e")


def test_save_and_load_give_the_same_model(tmp_path) -> None:
    lm = CharNgram.fit(TEXT, order=3, source={"text": "TEXT"})
    lm.save(tmp_path / "lm.json.gz")
    again = CharNgram.load(tmp_path / "lm.json.gz")
    assert again.order == 3 and again.source == {"text": "TEXT"} and again.counts == lm.counts
    assert again.logprob("co", "d") == lm.logprob("co", "d")
    (tmp_path / "bad.json.gz").write_bytes(gzip.compress(json.dumps({"a": 1}).encode()))
    for bad in ("bad.json.gz", "missing.json.gz"):
        with pytest.raises(ValueError, match="not a menu language model"):
            CharNgram.load(tmp_path / bad)
    with pytest.raises(ValueError, match="no text"):
        CharNgram.fit([], order=3)


def test_generated_text_has_no_random_mixes_and_is_deterministic() -> None:
    lines = generated_text(50, seed=1, max_chars=40)
    assert lines == generated_text(50, seed=1, max_chars=40) != generated_text(50, seed=2)
    assert all(0 < len(ln) <= 40 for ln in lines)


def _scores(path: list[dict[int, float]], classes: int) -> torch.Tensor:
    """1 x classes x frames log-probabilities, each frame given as {class: probability}
    (what is left spread over the other classes)."""
    out = torch.zeros(1, classes, len(path))
    for t, frame in enumerate(path):
        rest = (1 - sum(frame.values())) / (classes - len(frame))
        out[0, :, t] = rest
        for c, p in frame.items():
            out[0, c, t] = p
    return out.log()


def test_the_language_model_settles_what_the_optical_model_doubts() -> None:
    alphabet = "cdeoO"  # classes 1..5 after the blank
    c, d, e, o, big_o = 1, 2, 3, 4, 5
    path = [{c: 0.9}, {0: 0.9}, {big_o: 0.55, o: 0.4}, {0: 0.9}, {d: 0.9}, {0: 0.9}, {e: 0.9}]
    scores, n = _scores(path, 6), torch.tensor([len(path)])
    assert "".join(alphabet[i - 1] for i in greedy(scores, n)[0]) == "cOde"
    lm = CharNgram.fit(["code", "codec", "decode", "coded"], order=4)
    assert beam_lm(scores, n, alphabet, lm, width=8, weight=0.0, bonus=0.0) == ["cOde"]
    assert beam_lm(scores, n, alphabet, lm, width=8, weight=0.5, bonus=1.0) == ["code"]


def test_without_weight_the_beam_reads_a_clear_best_path() -> None:
    gen = torch.Generator().manual_seed(0)
    alphabet = "abc"
    lm = CharNgram.fit(["abc", "cab"], order=3)
    for _ in range(30):
        frames = int(torch.randint(1, 20, (), generator=gen))
        best = torch.randint(0, 4, (2, frames), generator=gen)
        scores = torch.nn.functional.one_hot(best, 4).permute(0, 2, 1).float() * 12
        lengths = torch.tensor([frames, max(0, frames - 3)])
        want = ["".join(alphabet[i - 1] for i in ids) for ids in greedy(scores, lengths)]
        assert beam_lm(scores, lengths, alphabet, lm, 10, weight=0.0, bonus=0.0) == want


def test_menu_data_lm_and_menu_eval_lm(tiny, tmp_path, capsys) -> None:
    from menu.cli.data import main as data_main
    from menu.cli.eval import main as eval_main

    text = tmp_path / "sevens.txt"
    text.write_text("777\n7777\n77777\n")
    assert data_main(["lm", str(tmp_path / "lm.json.gz"), "--text", str(text), "--order", "3"]) == 0
    assert "of 3 lines" in capsys.readouterr().out
    ckpt, test = tiny["record"]["best_checkpoint"], tiny["record"]["data"]["test"]
    results = {}
    for name, extra in (
        ("greedy", []),
        ("lm", ["--lm", str(tmp_path / "lm.json.gz"), "--lm-weight", "0.3"]),
        ("sevens", ["--lm", str(tmp_path / "lm.json.gz"), "--lm-weight", "50"]),
    ):
        assert eval_main([ckpt, test, "--confusions", "0", *extra]) == 0
        results[name] = json.loads(capsys.readouterr().out)
    assert results["greedy"]["n"] == results["lm"]["n"] == results["sevens"]["n"] == 32
    assert results["sevens"]["cer"] > results["greedy"]["cer"] + 0.3  # it reads sevens now
    assert data_main(["lm", str(tmp_path / "x.json.gz"), "-n", "30", "--max-chars", "20"]) == 0
    assert CharNgram.load(tmp_path / "x.json.gz").source["n"] == 30
    with pytest.raises(SystemExit, match="not a menu language model"):
        eval_main([ckpt, test, "--lm", str(text)])


def test_the_decode_keys_at_their_defaults_leave_a_runs_identity_as_before() -> None:
    from omegaconf import OmegaConf

    from menu.config import NEUTRAL, compose
    from menu.record import identity_sha256

    cfg = OmegaConf.to_container(compose([]), resolve=True)
    for key in ("lm", "lm_weight", "lm_bonus"):
        assert cfg["decode"][key] == NEUTRAL[f"decode.{key}"]
    before = {**cfg, "decode": {"beam": cfg["decode"]["beam"]}}  # the config before the keys
    assert identity_sha256(before) == identity_sha256(cfg)
    with_lm = {**cfg, "decode": {**cfg["decode"], "lm": "lm.json.gz"}}
    assert identity_sha256(with_lm) != identity_sha256(cfg)


def test_menu_predict_reads_text_with_the_language_model(tiny, tmp_path, capsys, render) -> None:
    from conftest import png_bytes

    from menu.cli.predict import main as predict_main

    text = tmp_path / "sevens.txt"
    text.write_text("777\n7777\n")
    CharNgram.fit(text.read_text().split(), order=3).save(tmp_path / "lm.json.gz")
    image = tmp_path / "line.png"
    image.write_bytes(png_bytes(render("1234")))
    ckpt, lm = tiny["record"]["best_checkpoint"], str(tmp_path / "lm.json.gz")
    assert predict_main([ckpt, str(image), "--lm", lm, "--lm-weight", "50"]) == 0
    read = capsys.readouterr().out.strip().split("\t")[1]
    assert read and set(read) == {"7"}
    with pytest.raises(SystemExit):  # positions come from the best path: text only
        predict_main([ckpt, str(image), "--lm", lm, "--format", "json"])
