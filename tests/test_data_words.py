"""Prose by real word frequencies (menu.data.words) in the synthetic text source."""

from __future__ import annotations

import numpy as np
import pytest

from menu.config import compose
from menu.data.text import TextSource, builtin_corpus
from menu.data.words import FrequentWords, frequent_words


def lines(source: TextSource, n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [source.sample(rng) for _ in range(n)]


def test_prose_lines_have_a_real_vocabulary_and_printed_punctuation():
    corpus = builtin_corpus()
    plain = lines(TextSource(corpus, 5, 48, mix=0.0, words=0.0), 2000)
    prose = lines(TextSource(corpus, 5, 48, mix=0.0, words=1.0), 2000)
    vocab = {w.strip(".,;:!?()[]\"'“”‘’").lower() for ln in prose for w in ln.split()}
    corpus_vocab = {w.strip(".,;:!?()[]\"'“”‘’").lower() for ln in corpus for w in ln.split()}
    assert len(vocab - corpus_vocab) > 2000  # words the built-in corpus never has
    text = " ".join(prose)
    for mark in (",", ".", "(", "[", "-", "Fig.", "Section"):
        assert mark in text, mark
    assert any(ln.endswith("-") and ln[-2].isalpha() for ln in prose)  # hyphenated line end
    assert all(1 <= len(ln) <= 48 and ln == ln.strip() for ln in prose)
    assert prose != plain


def test_the_same_seed_gives_the_same_lines_and_words_zero_changes_nothing():
    corpus = builtin_corpus()
    assert lines(TextSource(corpus, words=0.5), 200) == lines(TextSource(corpus, words=0.5), 200)
    # words=0, mix=0.3 draws exactly what the generator drew before words existed (the
    # lines of data=short, data=printed, sweep=axes): its first lines, as drawn then (d9e79c7)
    old = lines(TextSource(corpus, mix=0.3, words=0), 50)
    assert old[:3] == [
        "NOTHING 2949 </ FELL #}& DEAR. 20th Oct. /-",
        "words won't fill a bushel.",
        "and what we call time enough, always proves",
    ]
    assert lines(TextSource(corpus), 50) != old  # the default draws prose by word frequency


def test_frequent_words_follow_the_language_and_their_frequencies():
    words, cdf = frequent_words("en", 5000)
    assert words[0] == "the" and np.all(np.diff(cdf) >= 0) and cdf[-1] == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    prose = FrequentWords("en", 5000)
    drawn = [prose.word(rng) for _ in range(5000)]
    assert drawn.count("the") > drawn.count("house") > 0 or "house" not in words
    german = " ".join(FrequentWords("de", 5000).sample(rng, 40, 48) for _ in range(200))
    assert any(ch in german for ch in "äöüß")
    assert "I" in " ".join(FrequentWords("en").sample(rng, 40, 48) for _ in range(300)).split()


def test_bad_settings_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="language 'xx'"):
        frequent_words("xx")
    with pytest.raises(ValueError, match="mix \\+ words <= 1"):
        TextSource(builtin_corpus(), mix=0.6, words=0.6)


def test_the_frequency_table_gives_wordfreqs_own_values() -> None:
    import wordfreq

    from menu.data.words import _plain_table, _round3, frequent_words

    words, cdf = frequent_words("en")
    table = _plain_table("en")
    assert table is not None and _plain_table("zh") is None  # jieba: word_frequency itself
    exact = np.array([wordfreq.word_frequency(w, "en") for w in words])
    assert [_round3(table[w]) for w in words[:2000]] == exact[:2000].tolist()
    cumulative = np.cumsum(exact)
    assert np.array_equal(cdf, cumulative / cumulative[-1])  # the same draws as before


def test_the_transfer_recipe_trains_on_pages_with_the_vocabulary():
    """experiment=transfer reads data=pages (printed's light degradations plus the
    word-frequency prose: run 7 of experiments/transfer, and print fading at one end: run
    13); data=transfer keeps every degradation on for the ablation."""
    recipe, pages, printed = (compose([o]).data for o in ("experiment=transfer", "data=pages",
                                                           "data=printed"))  # fmt: skip
    heavy = compose(["data=transfer"]).data
    assert recipe == pages
    assert {**pages.synth.degrade, "fade": 0.0} == printed.synth.degrade
    assert pages.synth.degrade.fade > 0 and printed.synth.degrade.fade == 0
    assert (pages.synth.words, pages.synth.mix, pages.synth.max_chars) == (0.4, 0.2, 80)
    assert heavy.synth.degrade.binarize > pages.synth.degrade.binarize
    assert heavy.synth.degrade.rotate > pages.synth.degrade.rotate


def test_capital_lines_and_slashed_tokens_come_at_their_rates_and_zero_is_the_old_lines():
    corpus = builtin_corpus()
    base = lines(TextSource(corpus, max_chars=80), 300)
    assert lines(TextSource(corpus, max_chars=80, caps_lines=0.0, slashes=0.0), 300) == base
    drawn = lines(TextSource(corpus, max_chars=80, mix=0.0, words=1.0, caps_lines=0.1,
                             slashes=0.05), 2000)  # fmt: skip
    capitals = sum(ln.isupper() for ln in drawn) / len(drawn)
    assert 0.07 < capitals < 0.13, capitals
    tokens = [t for ln in drawn for t in ln.split()]
    slashed = [t for t in tokens if "/" in t and not t[:1].isdigit()]  # not dates
    assert 0.02 < len(slashed) / len(tokens) < 0.08
    assert any(t.lower().startswith("http") for t in slashed) and any("@" in t for t in tokens)
    with pytest.raises(ValueError, match="caps_lines"):
        TextSource(corpus, caps_lines=1.5)
    with pytest.raises(ValueError, match="slashes"):
        TextSource(corpus, slashes=-0.1)


def test_new_text_knobs_at_zero_keep_the_data_folder_of_the_lines_drawn_before():
    from menu.data.prepare import synth_cache_dir

    synth = dict(compose(["data=printed"]).data.synth)
    before = {k: v for k, v in synth.items() if k not in ("caps_lines", "slashes")}
    assert synth_cache_dir(synth) == synth_cache_dir(before)
    assert synth_cache_dir({**synth, "slashes": 0.015}) != synth_cache_dir(before)
    pages = compose(["data=pages"]).data.synth
    assert (pages.caps_lines, pages.slashes) == (0.04, 0.015)
