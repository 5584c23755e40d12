"""Prose-like lines from a language's real word frequencies (the ``wordfreq`` package).

The built-in corpus has a few thousand distinct words; printed documents use tens of
thousands. :class:`FrequentWords` draws words by their frequency in the language (the top
``size`` words of ``wordfreq``, offline), cases them as running text does (sentence
starts, some capitalized and all-capital words) and sets them the way printed pages do:
commas and full stops, quotes and parentheses, hyphenated compounds, abbreviations,
numbers, references (``[6]``, ``Fig. 3``, ``Section 2.1``) and a word hyphenated at the
line end; optionally (``slashes``) tokens with a slash: pairs (``and/or``), units, web and
e-mail addresses and paths. The words follow their real frequencies; their order does not
(no grammar).
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections.abc import Callable

import numpy as np

__all__ = ["FrequentWords", "frequent_words"]

ABBREVIATIONS = (
    "e.g.", "i.e.", "etc.", "et al.", "cf.", "vs.", "approx.", "Fig.", "Figs.", "Eq.", "Vol.",
    "No.", "pp.", "p.", "Dr.", "Mr.", "Mrs.", "Prof.", "St.", "Ch.", "Sec.", "ed.", "Inc.",
)  # fmt: skip
WRAPS = (("(", ")"), ('"', '"'), ("“", "”"), ("‘", "’"), ("'", "'"))  # pairs, by frequency
STOPS = ".?!"
PAUSES = ",,,,,,;:"  # commas most often
UNITS = ("km/h", "m/s", "mg/l", "g/cm", "kg/m", "mm/s", "b/s", "1/2", "3/4", "24/7")
DOMAINS = ("org", "com", "edu", "net", "gov", "de", "uk", "io")


@functools.lru_cache(maxsize=8)
def frequent_words(language: str = "en", size: int = 50_000) -> tuple[tuple[str, ...], np.ndarray]:
    """The ``size`` most frequent words of ``language`` (letters, apostrophes and inner
    hyphens only; numbers are made separately) and their cumulative probabilities."""
    try:
        import wordfreq
    except ImportError as e:  # pragma: no cover - a dependency; for trimmed installs
        raise ImportError(
            "data.synth.words needs the wordfreq package: pip install wordfreq"
        ) from e
    if language not in wordfreq.available_languages():
        known = ", ".join(sorted(wordfreq.available_languages()))
        raise ValueError(f"wordfreq has no word list for language {language!r}; one of: {known}")
    words, freqs = [], []
    table = _plain_table(language)
    for word in wordfreq.top_n_list(language, int(size)):
        word = unicodedata.normalize("NFC", word)
        if _usable(word):
            words.append(word)
            f = table.get(word) if table is not None and "-" not in word else None
            freqs.append(wordfreq.word_frequency(word, language) if f is None else _round3(f))
    if not words:
        raise ValueError(f"no usable words for language {language!r}")
    cdf = np.cumsum(np.asarray(freqs, dtype=np.float64))
    return tuple(words), cdf / cdf[-1]


def _plain_table(language: str) -> dict[str, float] | None:
    """The word list's own frequencies where ``wordfreq.word_frequency`` of a listed word
    without a hyphen is its table entry (languages tokenized by regular expression,
    without transliteration or mark removal), else None. Reading the table instead of
    calling ``word_frequency`` 50,000 times takes a generator process's start-up from
    about 1.4 s to a fraction (same values: ``tests/test_data_words.py``)."""
    import wordfreq

    info = wordfreq.get_language_info(language)
    if info["tokenizer"] != "regex" or info["transliteration"] or info["remove_marks"]:
        return None
    return wordfreq.get_frequency_dict(language)


def _round3(f: float) -> float:
    """Three significant digits, as ``wordfreq.word_frequency`` rounds."""
    return round(f, math.floor(-math.log10(f)) + 3) if f > 0 else 0.0


def _usable(word: str) -> bool:
    core = word.replace("'", "").replace("’", "").replace("-", "")
    return bool(core) and core.isalpha() and not word.startswith(("-", "'")) and "." not in word


def _english_case(word: str) -> str:
    """``i``, ``i'm``, ``i've`` ... are capitals in English text."""
    return "I" + word[1:] if word == "i" or word.startswith(("i'", "i’")) else word


class FrequentWords:
    """Lines of ``min_chars..max_chars`` characters in the style described in the module.

    ``number``: a function drawing a number, date or price (from :class:`TextSource`).
    ``slashes``: the fraction of tokens with a slash (:meth:`slashed`); 0 draws the same
    lines as before it existed.
    """

    def __init__(
        self,
        language: str = "en",
        size: int = 50_000,
        number: Callable[[np.random.Generator], str] | None = None,
        slashes: float = 0.0,
    ) -> None:
        if not 0.0 <= slashes <= 1.0:
            raise ValueError(f"slashes: need a fraction in [0, 1], got {slashes}")
        self.words, self.cdf = frequent_words(language, size)
        self.case = _english_case if language == "en" else (lambda w: w)
        self.number = number or (lambda rng: str(int(rng.integers(0, 1000))))
        self.slashes = float(slashes)

    def word(self, rng: np.random.Generator) -> str:
        return self.words[int(np.searchsorted(self.cdf, rng.random(), side="right"))]

    def reference(self, rng: np.random.Generator) -> str:
        """A citation, a figure, table or equation, a section or a page range."""
        n = int(rng.integers(1, 40))
        forms = (
            lambda: f"[{n}]",
            lambda: f"[{n}, {n + int(rng.integers(1, 9))}]",
            lambda: f"({n})",
            lambda: f"{('Fig.', 'Table', 'Eq.')[int(rng.integers(3))]} {n % 12 + 1}",
            lambda: f"Section {n % 9 + 1}.{int(rng.integers(1, 6))}",
            lambda: f"pp. {n * 7}-{n * 7 + int(rng.integers(1, 30))}",
        )
        return forms[int(rng.integers(len(forms)))]()

    def _name(self, rng: np.random.Generator) -> str:
        """A lower-case ASCII word for an address (``example`` if none comes in 8 draws)."""
        for _ in range(8):
            w = self.word(rng).lower()
            if w.isascii() and w.isalpha():
                return w
        return "example"

    def slashed(self, rng: np.random.Generator) -> str:
        """A token with a slash: a pair (``and/or``), a unit or fraction, a web address, an
        e-mail address or a path."""
        a, b = self._name(rng), self._name(rng)
        domain = DOMAINS[int(rng.integers(len(DOMAINS)))]
        forms = (
            lambda: f"{a}/{b}",
            lambda: UNITS[int(rng.integers(len(UNITS)))],
            lambda: f"http://www.{a}.{domain}/",
            lambda: f"https://{a}.{domain}/{b}/",
            lambda: f"{a}@{b}.{domain}",
            lambda: f"/{a}/{b}",
        )
        return forms[int(rng.integers(len(forms)))]()

    def token(self, rng: np.random.Generator, start: bool) -> tuple[str, bool]:
        """One token and whether it is a word (words may be cased and hyphenated)."""
        if self.slashes and rng.random() < self.slashes:  # no draw at 0: the lines before
            return self.slashed(rng), False
        r = rng.random()
        if r < 0.025:
            return self.reference(rng), False
        if r < 0.07:
            return self.number(rng), False
        if r < 0.085:
            return ABBREVIATIONS[int(rng.integers(len(ABBREVIATIONS)))], False
        word = self.case(self.word(rng))
        if rng.random() < 0.02:  # a compound
            word = f"{word}-{self.case(self.word(rng))}"
        c = rng.random()
        if start or c < 0.06:
            word = word[:1].upper() + word[1:]
        elif c < 0.07:
            word = word.upper()
        return word, True

    def sample(self, rng: np.random.Generator, target: int, max_chars: int) -> str:
        """A line of about ``target`` characters, at most ``max_chars``."""
        parts: list[str] = []
        n, start = 0, rng.random() < 0.4  # a line often begins mid-sentence
        while n < target:
            tok, is_word = self.token(rng, start)
            start = False
            r = rng.random()
            if r < 0.05:
                start = True
                tok += STOPS[int(rng.integers(len(STOPS)))] if rng.random() < 0.1 else "."
            elif r < 0.14:
                tok += PAUSES[int(rng.integers(len(PAUSES)))]
            elif r < 0.17 and is_word:
                a, b = WRAPS[min(int(rng.exponential(1.2)), len(WRAPS) - 1)]
                tok = a + tok + b
            if n + len(tok) + (1 if parts else 0) > max_chars:
                if parts:
                    break
                tok = tok[:max_chars]
            parts.append(tok)
            n += len(tok) + (1 if len(parts) > 1 else 0)
        last = parts[-1]
        if rng.random() < 0.08 and len(last) >= 6 and last.isalpha():  # hyphenated at the end
            cut = int(rng.integers(2, len(last) - 2))
            parts[-1] = last[:cut] + "-"
        return " ".join(parts)
