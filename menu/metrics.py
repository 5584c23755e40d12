"""Corpus-level error rates (errors over reference characters/words), per-line records,
confusions and a length breakdown. Edit distances come from rapidfuzz."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from rapidfuzz.distance import Levenshtein

LENGTH_BUCKETS = (10, 20, 40, 80)


@dataclass
class LineError:
    key: str
    ref: str
    hyp: str
    char_errors: int
    ref_chars: int
    word_errors: int
    ref_words: int
    reason: str = ""  # why a line was not recognized (unreadable image, ...): hyp is empty


def line_error(ref: str, hyp: str, key: str = "", reason: str = "") -> LineError:
    """Character and word edit distances of one line."""
    ref_words, hyp_words = ref.split(), hyp.split()
    return LineError(
        key=key,
        ref=ref,
        hyp=hyp,
        char_errors=Levenshtein.distance(ref, hyp),
        ref_chars=len(ref),
        word_errors=Levenshtein.distance(ref_words, hyp_words),
        ref_words=len(ref_words),
        reason=reason,
    )


def _bucket(n: int) -> str:
    lo = 0
    for hi in LENGTH_BUCKETS:
        if n <= hi:
            return f"{lo + 1}-{hi}" if lo else f"1-{hi}"
        lo = hi
    return f">{LENGTH_BUCKETS[-1]}"


@dataclass
class ErrorRates:
    """Accumulates lines; ``cer``/``wer`` are corpus rates, not means of per-line rates.
    A line that could not be recognized (``add(..., reason=...)``) is scored as an empty
    hypothesis: all its characters are errors; ``failed`` counts such lines by reason."""

    keep_lines: bool = False
    n: int = 0
    char_errors: int = 0
    ref_chars: int = 0
    word_errors: int = 0
    ref_words: int = 0
    lines: list[LineError] = field(default_factory=list)
    confusions: Counter = field(default_factory=Counter)
    by_length: dict = field(default_factory=dict)
    failed: Counter = field(default_factory=Counter)

    def add(self, ref: str, hyp: str, key: str = "", reason: str = "") -> LineError:
        e = line_error(ref, "" if reason else hyp, key, reason)
        if reason:
            self.failed[reason] += 1
        self.n += 1
        self.char_errors += e.char_errors
        self.ref_chars += e.ref_chars
        self.word_errors += e.word_errors
        self.ref_words += e.ref_words
        b = self.by_length.setdefault(_bucket(e.ref_chars), [0, 0, 0])
        b[0] += 1
        b[1] += e.char_errors
        b[2] += e.ref_chars
        if self.keep_lines:
            self.lines.append(e)
        if self.keep_lines and not reason:  # confusions describe what the model read
            for op in Levenshtein.editops(ref, e.hyp):
                src = ref[op.src_pos] if op.tag != "insert" else ""
                dst = e.hyp[op.dest_pos] if op.tag != "delete" else ""
                self.confusions[(src, dst)] += 1
        return e

    @property
    def cer(self) -> float:
        return self.char_errors / max(1, self.ref_chars)

    @property
    def wer(self) -> float:
        return self.word_errors / max(1, self.ref_words)

    def length_table(self) -> dict[str, dict]:
        """CER by reference length bucket."""
        order = [_bucket(hi) for hi in LENGTH_BUCKETS] + [f">{LENGTH_BUCKETS[-1]}"]
        return {
            k: {"n": v[0], "cer": v[1] / max(1, v[2])}
            for k in order
            if (v := self.by_length.get(k))
        }

    def top_confusions(self, k: int = 10) -> list[dict]:
        """Most frequent edit operations as {ref, hyp, count} ('' = insertion/deletion)."""
        return [{"ref": a, "hyp": b, "count": c} for (a, b), c in self.confusions.most_common(k)]

    def line_records(self) -> list[dict]:
        return [asdict(e) for e in self.lines]


def group_table(records: Iterable[Mapping], group_of: Mapping[str, str]) -> dict[str, dict]:
    """Corpus CER per group (e.g. the font of each line, from the shards' ``KEY.json``) of
    per-line records (``key``, ``char_errors``, ``ref_chars``), worst first; lines whose
    key has no group are left out."""
    sums: dict[str, list[int]] = {}
    for r in records:
        group = group_of.get(str(r["key"]))
        if group is None:
            continue
        s = sums.setdefault(group, [0, 0, 0])
        s[0] += 1
        s[1] += int(r["char_errors"])
        s[2] += int(r["ref_chars"])
    table = {
        g: {"n": n, "char_errors": e, "ref_chars": c, "cer": e / max(1, c)}
        for g, (n, e, c) in sums.items()
    }
    return dict(sorted(table.items(), key=lambda kv: (-kv[1]["cer"], kv[0])))
