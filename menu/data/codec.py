"""Character codec for CTC: built from training transcripts, NFC, spaces kept, no folding.

Class 0 is the CTC blank; character ``chars[i]`` has class ``i + 1``. The codec is
serialised with :meth:`Codec.to_dict` into every checkpoint. Unknown characters are
never dropped silently: :meth:`Codec.encode` raises (or, for training only, skips them
when asked), and :class:`UnknownCharReport` counts them for evaluation.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "Codec",
    "UnknownCharError",
    "UnknownCharReport",
    "describe_chars",
]


def describe_chars(chars: Iterable[str]) -> str:
    """Readable list of characters with code points, e.g. ``'é' U+00E9``."""
    return ", ".join(f"{c!r} U+{ord(c):04X}" for c in chars)


class UnknownCharError(ValueError):
    """A transcript contains characters that are not in the codec."""

    def __init__(self, text: str, unknown: Sequence[str]) -> None:
        self.text = text
        self.unknown = list(unknown)
        super().__init__(
            f"{len(self.unknown)} character(s) not in codec: {describe_chars(self.unknown)} "
            f"in text {text!r}"
        )


class Codec:
    """Maps characters to CTC class ids (0 = blank) and back.

    ``chars`` is a string (each code point is one class) or a list of single
    characters. Duplicates are removed keeping first occurrence; order defines ids.
    With ``nfc=True`` (default) chars and texts are Unicode NFC-normalized.
    """

    def __init__(self, chars: str | Sequence[str], nfc: bool = True) -> None:
        self.nfc = bool(nfc)
        items = list(self.normalize(chars)) if isinstance(chars, str) else list(chars)
        out: list[str] = []
        seen: set[str] = set()
        for c in items:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"codec entries must be single characters, got {c!r}")
            if c in ("\n", "\r"):
                raise ValueError("line breaks cannot be codec characters (one line per sample)")
            if c not in seen:
                seen.add(c)
                out.append(c)
        if not out:
            raise ValueError("codec needs at least one character")
        self.chars: list[str] = out
        self._index = {c: i + 1 for i, c in enumerate(out)}

    @classmethod
    def from_texts(cls, texts: Iterable[str], nfc: bool = True) -> Codec:
        """Codec of all characters occurring in ``texts``, sorted by code point."""
        seen: set[str] = set()
        for t in texts:
            seen.update(unicodedata.normalize("NFC", t) if nfc else t)
        seen.discard("\n")
        seen.discard("\r")
        if not seen:
            raise ValueError("cannot build a codec: no characters in the given texts")
        return cls(sorted(seen), nfc=nfc)

    @property
    def num_classes(self) -> int:
        """Number of CTC output classes including the blank (``len(chars) + 1``)."""
        return len(self.chars) + 1

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Codec) and self.chars == other.chars and self.nfc == other.nfc

    def __hash__(self) -> int:
        return hash((tuple(self.chars), self.nfc))

    def __repr__(self) -> str:
        return f"Codec({len(self.chars)} chars, nfc={self.nfc})"

    def normalize(self, text: str) -> str:
        """NFC-normalize ``text`` when enabled; nothing else (no folding, spaces kept)."""
        return unicodedata.normalize("NFC", text) if self.nfc else text

    def unknown(self, text: str) -> list[str]:
        """Characters of ``text`` (after normalization) not in the codec, in order, unique."""
        return list(dict.fromkeys(c for c in self.normalize(text) if c not in self._index))

    def encode(self, text: str, errors: str = "strict") -> list[int]:
        """Class ids of ``text`` (after normalization).

        ``errors="strict"`` raises :class:`UnknownCharError` listing unknown characters;
        ``errors="skip"`` drops them (only for training with a fixed codec; evaluation
        must score against the full transcript).
        """
        text = self.normalize(text)
        index = self._index
        if errors == "skip":
            return [index[c] for c in text if c in index]
        if errors != "strict":
            raise ValueError(f"errors must be 'strict' or 'skip', got {errors!r}")
        try:
            return [index[c] for c in text]
        except KeyError:
            raise UnknownCharError(text, self.unknown(text)) from None

    def decode(self, ids: Sequence[int]) -> str:
        """Plain id -> char mapping; the blank (0) maps to nothing. No CTC collapsing."""
        chars, n = self.chars, len(self.chars)
        out = []
        for i in ids:
            i = int(i)
            if i == 0:
                continue
            if not 0 < i <= n:
                raise ValueError(f"class id {i} out of range 0..{n}")
            out.append(chars[i - 1])
        return "".join(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON/checkpoint-safe representation (only str/list/bool)."""
        return {"chars": list(self.chars), "nfc": self.nfc}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Codec:
        """Inverse of :meth:`to_dict`."""
        return cls(list(d["chars"]), nfc=bool(d.get("nfc", True)))


class UnknownCharReport:
    """Counts characters missing from a codec and the lines they affect (for evaluation).

    ``add(text, key)`` per ground-truth line; ``to_dict()`` for the result record.
    Lines are listed up to ``max_lines`` (the count is always exact).
    """

    def __init__(self, codec: Codec, max_lines: int = 100) -> None:
        self.codec = codec
        self.max_lines = max_lines
        self.chars: Counter[str] = Counter()
        self.lines_total = 0
        self.lines_affected = 0
        self.examples: list[dict[str, Any]] = []

    def add(self, text: str, key: str | None = None) -> list[str]:
        """Record one transcript; returns its unknown characters (unique, in order)."""
        self.lines_total += 1
        norm = self.codec.normalize(text)
        missing = [c for c in norm if c not in self.codec]
        if missing:
            self.chars.update(missing)
            self.lines_affected += 1
            uniq = list(dict.fromkeys(missing))
            if len(self.examples) < self.max_lines:
                self.examples.append({"key": key, "text": norm, "unknown": uniq})
            return uniq
        return []

    def __bool__(self) -> bool:
        return self.lines_affected > 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict: counts per char, totals and example lines."""
        return {
            "unknown_chars": {c: n for c, n in self.chars.most_common()},
            "unknown_char_total": int(sum(self.chars.values())),
            "lines_total": self.lines_total,
            "lines_affected": self.lines_affected,
            "examples": list(self.examples),
        }

    def summary(self) -> str:
        """One-paragraph human-readable summary."""
        if not self:
            return f"all {self.lines_total} lines fully covered by the codec"
        top = ", ".join(f"{c!r} U+{ord(c):04X} x{n}" for c, n in self.chars.most_common(20))
        return (
            f"{self.lines_affected}/{self.lines_total} lines contain characters not in the codec "
            f"({sum(self.chars.values())} occurrences): {top}"
        )


def clean_text(raw: bytes | str) -> str:
    """Decode UTF-8 strictly, drop a BOM and trailing line breaks; spaces are kept as they are."""
    text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.rstrip("\r\n")
