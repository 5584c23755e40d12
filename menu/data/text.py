"""Offline text sources for the synthetic line generator.

The built-in corpus is public-domain English prose shipped in ``menu/data/corpus``.
A :class:`TextSource` draws a span of consecutive corpus words, or (with probability
``mix``) a random mix of corpus words, numbers, dates, prices, punctuation and symbols,
so digits and all printable ASCII occur in the data, or (with probability ``words``)
prose drawn by a language's real word frequencies (:mod:`menu.data.words`).
"""

from __future__ import annotations

import os
import string
import unicodedata
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["TextSource", "builtin_corpus", "load_corpus", "split_corpus"]

_PUNCT_END = list(".,;:!?")
_WRAP = [("(", ")"), ('"', '"'), ("'", "'"), ("[", "]"), ("«", "»"), ("“", "”")]
_SYMBOLS = "#&@*+=<>[]{}|~^_\\/`%$-"
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _read_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [
        unicodedata.normalize("NFC", ln.strip())
        for ln in text.splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]


def builtin_corpus() -> list[str]:
    """Lines of the built-in public-domain corpus (comment lines starting with ``#`` removed)."""
    root = resources.files("menu.data") / "corpus"
    lines: list[str] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".txt"):
            lines.extend(_read_lines(Path(str(entry))))
    return lines


def load_corpus(spec: str | os.PathLike | Sequence[str] | None) -> list[str]:
    """Corpus lines: ``None``/``"builtin"`` (built-in), a UTF-8 text file or a ``*.txt`` folder.

    Every non-empty line of a user file is used (lines starting with ``#`` are kept for
    user files; only the built-in corpus has comments). A list of specs is concatenated.
    """
    if spec is None or (isinstance(spec, str) and spec in ("", "builtin")):
        return builtin_corpus()
    if not isinstance(spec, str | os.PathLike):
        return [ln for s in spec for ln in load_corpus(s)]
    path = Path(os.path.expanduser(os.fspath(spec)))
    if not path.exists():
        raise FileNotFoundError(f"corpus not found: {path}")
    files = sorted(path.rglob("*.txt")) if path.is_dir() else [path]
    lines = []
    for f in files:
        lines.extend(
            unicodedata.normalize("NFC", ln.strip())
            for ln in f.read_text(encoding="utf-8").splitlines()
            if ln.strip()
        )
    if not lines:
        raise ValueError(f"corpus {path} has no text lines")
    return lines


def split_corpus(lines: Sequence[str], holdout: float) -> tuple[list[str], list[str]]:
    """Deterministic split into (train lines, held-out lines): every k-th line is held out."""
    if holdout <= 0 or len(lines) < 2:
        return list(lines), list(lines)
    k = max(2, round(1.0 / holdout))
    train = [ln for i, ln in enumerate(lines) if i % k != k - 1]
    held = [ln for i, ln in enumerate(lines) if i % k == k - 1]
    return train, held


#: Fractions of a random mix's words set in all capitals and capitalized: far more than
#: running text has (about 1% and 6-10%), so that every letter is seen in both cases.
MIX_CAPS = (0.12, 0.28)


def mix_caps_fractions(mix_caps: Sequence[float] | None) -> tuple[float, float]:
    """``mix_caps`` checked: (all capitals, capitalized) fractions, :data:`MIX_CAPS` if None."""
    if mix_caps is None:
        return MIX_CAPS
    fractions = tuple(float(c) for c in mix_caps)
    if len(fractions) != 2 or min(fractions) < 0 or sum(fractions) > 1:
        raise ValueError(
            f"mix_caps: need [all capitals, capitalized], two fractions >= 0 with sum <= 1, "
            f"got {list(mix_caps)}"
        )
    return fractions


class TextSource:
    """Draws text lines of ``min_chars..max_chars`` characters: a fraction ``mix`` of
    random words, numbers and symbols, a fraction ``words`` of prose from the language's
    real word frequencies (:class:`menu.data.words.FrequentWords`), the rest spans of
    consecutive corpus words. ``mix_caps``: the fractions (all capitals, capitalized) of the
    random mixes' words; None keeps :data:`MIX_CAPS`. ``caps_lines``: the fraction of lines
    set in capitals throughout (headings, legal notices); ``slashes``: the fraction of the
    prose's tokens with a slash (:meth:`menu.data.words.FrequentWords.slashed`). Both at 0
    draw the lines drawn before they existed."""

    def __init__(
        self,
        lines: Sequence[str],
        min_chars: int = 5,
        max_chars: int = 48,
        mix: float = 0.2,
        words: float = 0.4,
        language: str = "en",
        mix_caps: Sequence[float] | None = None,
        caps_lines: float = 0.0,
        slashes: float = 0.0,
    ) -> None:
        if not lines:
            raise ValueError("empty corpus")
        if not 1 <= min_chars <= max_chars:
            raise ValueError(f"need 1 <= min_chars <= max_chars, got {min_chars}, {max_chars}")
        if min(mix, words) < 0 or mix + words > 1:
            raise ValueError(f"need mix, words >= 0 and mix + words <= 1, got {mix}, {words}")
        for name, value in (("caps_lines", caps_lines), ("slashes", slashes)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: need a fraction in [0, 1], got {value}")
        self.tokens = [w for ln in lines for w in ln.split()]
        vocab = {w.strip(string.punctuation + "“”«»") for w in self.tokens}
        self.vocab = sorted(w for w in vocab if w)
        self.min_chars, self.max_chars, self.mix = int(min_chars), int(max_chars), float(mix)
        self.words = float(words)
        self.mix_upper, self.mix_capitalized = mix_caps_fractions(mix_caps)
        self.caps_lines = float(caps_lines)
        self.prose = None
        if self.words > 0:
            from menu.data.words import FrequentWords

            self.prose = FrequentWords(language, number=self._number, slashes=slashes)

    def sample(self, rng: np.random.Generator) -> str:
        """One text line (non-empty, no leading/trailing spaces)."""
        target = int(rng.integers(self.min_chars, self.max_chars + 1))
        r = rng.random()
        if r < self.mix:
            text = self._mixed(rng, target)
        elif r < self.mix + self.words and self.prose is not None:
            text = self.prose.sample(rng, target, self.max_chars)
        else:
            text = self._span(rng, target)
        if self.caps_lines and rng.random() < self.caps_lines:  # no draw at 0
            text = text.upper()
        text = text[: self.max_chars].strip()
        return text or self.tokens[int(rng.integers(len(self.tokens)))][: self.max_chars]

    def _span(self, rng: np.random.Generator, target: int) -> str:
        i = int(rng.integers(len(self.tokens)))
        parts: list[str] = []
        n = 0
        while n < target and i < len(self.tokens):
            tok = self.tokens[i]
            if n + len(tok) + (1 if parts else 0) > self.max_chars and parts:
                break
            parts.append(tok)
            n += len(tok) + 1
            i += 1
        return " ".join(parts)

    def _number(self, rng: np.random.Generator) -> str:
        kind = int(rng.integers(10))
        v = int(rng.integers(0, 100000))
        if kind == 0:
            return f"{v:,}"
        if kind == 1:
            return f"{rng.random() * 1000:.{int(rng.integers(1, 4))}f}"
        if kind == 2:
            return f"${rng.random() * 500:.2f}"
        if kind == 3:
            return f"{int(rng.integers(0, 101))}%"
        if kind == 4:
            day, month = int(rng.integers(1, 29)), int(rng.integers(1, 13))
            return f"{day}/{month}/{int(rng.integers(1700, 2030))}"
        if kind == 5:
            return f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}"
        if kind == 6:
            d = int(rng.integers(1, 32))
            suffix = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
            return f"{d}{suffix} {_MONTHS[int(rng.integers(12))]}."
        if kind == 7:
            return f"No. {int(rng.integers(1, 1000))}"
        if kind == 8:
            return f"-{v % 1000}"
        return str(v % (10 ** int(rng.integers(1, 6))))

    def _mixed(self, rng: np.random.Generator, target: int) -> str:
        parts: list[str] = []
        n = 0
        while n < target:
            r = rng.random()
            if r < 0.6:
                w = self.vocab[int(rng.integers(len(self.vocab)))]
                c = rng.random()
                if c < self.mix_upper:
                    w = w.upper()
                elif c < self.mix_upper + self.mix_capitalized:
                    w = w.capitalize()
                if rng.random() < 0.3:
                    w += _PUNCT_END[int(rng.integers(len(_PUNCT_END)))]
                elif rng.random() < 0.1:
                    a, b = _WRAP[int(rng.integers(len(_WRAP)))]
                    w = a + w + b
            elif r < 0.85:
                w = self._number(rng)
            else:
                k = int(rng.integers(1, 4))
                w = "".join(_SYMBOLS[int(j)] for j in rng.integers(0, len(_SYMBOLS), size=k))
            parts.append(w)
            n += len(w) + 1
        return " ".join(parts)
