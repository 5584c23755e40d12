"""A character n-gram language model for CTC beam search (:func:`menu.decode.beam_lm`).

Interpolated Witten-Bell smoothing (Witten & Bell 1991; Chen & Goodman 1998, section 2.5)
over counts of every n-gram up to ``order`` characters. Lines are framed by ``BOS`` and
``EOS`` so that the model knows how lines begin and end. Built from text only (the
generator's prose and corpus, or the user's own), never from line images:
``menu-data lm OUT.json.gz``. The file holds the counts, so a model loads as it was built.
"""

from __future__ import annotations

import gzip
import json
import math
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["BOS", "EOS", "CharNgram"]

BOS, EOS = "\x02", "\x03"
FORMAT = "menu-char-ngram/1"


class CharNgram:
    """P(next character | up to ``order - 1`` characters before), Witten-Bell interpolated
    down to a uniform distribution over the characters seen (plus one for unseen ones)."""

    def __init__(self, counts: dict[str, int], order: int, source: dict[str, Any] | None = None):
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if any(len(g) > order for g in counts):
            raise ValueError(f"an n-gram is longer than order {order}")
        self.order, self.counts, self.source = int(order), counts, dict(source or {})
        self.total: Counter = Counter()  # context -> how often it is followed by anything
        self.types: Counter = Counter()  # context -> how many different characters follow
        for gram, n in counts.items():
            self.total[gram[:-1]] += n
            self.types[gram[:-1]] += 1
        chars = {g for g in counts if len(g) == 1}
        self.uniform = 1.0 / (len(chars) + 1)
        self._cache: dict[str, float] = {}

    @classmethod
    def fit(
        cls, lines: Iterable[str], order: int = 6, source: dict[str, Any] | None = None
    ) -> CharNgram:
        """Count every n-gram of 1..``order`` characters in ``BOS + line + EOS`` (lines in
        Unicode NFC, as the codec reads them)."""
        text = "".join(BOS + unicodedata.normalize("NFC", line) + EOS for line in lines)
        if not text:
            raise ValueError("no text to build a language model from")
        counts: dict[str, int] = {}
        for k in range(1, order + 1):
            grams = Counter(text[i : i + k] for i in range(len(text) - k + 1))
            # an n-gram across a line end is never asked for: BOS only first, EOS only last
            counts.update(
                (g, n) for g, n in grams.items() if BOS not in g[1:] and EOS not in g[:-1]
            )
        counts.pop(BOS, None)  # BOS is never predicted
        return cls(counts, order, source)

    def logprob(self, context: str, char: str) -> float:
        """Natural log of P(``char`` | ``context``); only the last ``order - 1`` characters
        of the context count. Begin the context with ``BOS`` at a line start."""
        key = context[max(0, len(context) - self.order + 1) :] + char
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = math.log(self._prob(key[:-1], char))
        return hit

    def _prob(self, context: str, char: str) -> float:
        p = self.uniform
        for k in range(len(context) + 1):  # shortest context first
            h = context[len(context) - k :]
            seen = self.total.get(h, 0)
            if seen == 0:
                break  # no longer context is seen either
            t = self.types[h]
            p = (self.counts.get(h + char, 0) + t * p) / (seen + t)
        return p

    def save(self, path: str | Path) -> None:
        data = {"format": FORMAT, "order": self.order, "source": self.source}
        data["counts"] = self.counts
        with gzip.open(path, "wt", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def load(cls, path: str | Path) -> CharNgram:
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a menu language model ({e})") from e
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a menu language model (format {FORMAT} expected)")
        return cls(data["counts"], data["order"], data.get("source"))


def generated_text(
    n: int,
    seed: int = 0,
    corpus: str | None = None,
    holdout_text: float = 0.1,
    words: float = 0.5,
    language: str = "en",
    max_chars: int = 80,
) -> list[str]:
    """``n`` lines of the generator's text without its random mixes: prose by word
    frequency (a fraction ``words``) and spans of the corpus's training part (its held-out
    lines, which the generated test split reads, stay out)."""
    import numpy as np

    from menu.data.text import TextSource, load_corpus, split_corpus

    lines = load_corpus(corpus)
    if holdout_text > 0:
        lines = split_corpus(lines, holdout_text)[0]
    source = TextSource(lines, max_chars=max_chars, mix=0.0, words=words, language=language)
    rng = np.random.default_rng(seed)
    return [source.sample(rng) for _ in range(n)]
