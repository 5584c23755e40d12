"""Kinds of errors in per-line results (``menu-eval --lines`` or a run's ``test_lines.csv``):
case swaps (``s`` read as ``S``), doubled letters read once (``ll`` as ``l``), and the
most frequent edit operations, and how often a line's first character is wrong against any
other character, so that the README's claims about them can be rerun. Lines start with
another mix of characters than their insides (capitals, quotes, bars, digits), so the first
and last positions are also compared with what their own characters would give: each
character wrong as often as the same character inside lines.

    python experiments/transfer/errors.py RUN/test_lines.csv [more.csv ...]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import pandas as pd
from rapidfuzz.distance import Levenshtein

PUNCTUATION = ".,;:'`\"“”‘’-"


def kinds(ref: str, hyp: str) -> Counter:
    """Counts of each kind of error in one line (every edit operation counted once)."""
    out: Counter = Counter()
    if ref and not hyp:
        return Counter({"errors": len(ref), "line read as nothing": len(ref)})
    for op in Levenshtein.editops(ref, hyp):
        a = ref[op.src_pos] if op.tag != "insert" else ""
        b = hyp[op.dest_pos] if op.tag != "delete" else ""
        out["errors"] += 1
        if op.tag == "replace" and a.lower() == b.lower():
            out["case swap"] += 1
        elif (
            op.tag == "delete"
            and a.isalpha()
            and (ref[op.src_pos - 1 : op.src_pos] == a or ref[op.src_pos + 1 : op.src_pos + 2] == a)
        ):
            out["doubled letter read once"] += 1
        elif op.tag == "delete" and a == " ":
            out["space deleted"] += 1
        elif (a and a in PUNCTUATION) or (b and b in PUNCTUATION):
            out["punctuation"] += 1
        else:
            out["other"] += 1
    return out


def at_start(ref: str, hyp: str) -> tuple[int, int]:
    """(edits at the line's first character, edits elsewhere): an insertion before it, its
    deletion or its replacement count as the first."""
    first = sum(op.src_pos == 0 for op in Levenshtein.editops(ref, hyp))
    return first, Levenshtein.distance(ref, hyp) - first


def wrong_positions(ref: str, hyp: str) -> set[int]:
    """Positions of ``ref`` touched by an edit (its replacement or deletion, or an insertion
    just before it)."""
    return {op.src_pos for op in Levenshtein.editops(ref, hyp) if op.src_pos < len(ref)}


def ends_against_inside(refs: list[str], hyps: list[str]) -> dict[str, float]:
    """Characters wrong at the first and at the last position of the lines, and how many
    would be if each were wrong as often as the same character inside lines (add-half
    smoothed rate of that character at the other positions)."""
    seen: Counter = Counter()
    wrong: Counter = Counter()
    out = dict.fromkeys(("first", "first_expected", "last", "last_expected"), 0.0)
    ends = []
    for ref, hyp in zip(refs, hyps, strict=True):
        if len(ref) < 3:
            continue
        bad = wrong_positions(ref, hyp)
        for i in range(1, len(ref) - 1):
            seen[ref[i]] += 1
            wrong[ref[i]] += i in bad
        ends.append((ref[0], 0 in bad, ref[-1], len(ref) - 1 in bad))
    for first, first_bad, last, last_bad in ends:
        out["first"] += first_bad
        out["last"] += last_bad
        out["first_expected"] += (wrong[first] + 0.5) / (seen[first] + 1)
        out["last_expected"] += (wrong[last] + 0.5) / (seen[last] + 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lines", nargs="+", type=Path)
    for path in ap.parse_args().lines:
        frame = pd.read_csv(path, keep_default_na=False)
        total: Counter = Counter()
        first = rest = lines = chars = 0
        for ref, hyp in zip(frame["ref"], frame["hyp"], strict=True):
            total += kinds(ref, hyp)
            if ref:
                a, b = at_start(ref, hyp)
                first, rest, lines, chars = first + a, rest + b, lines + 1, chars + len(ref)
        errors = total.pop("errors", 0)
        shown = ", ".join(f"{k} {v}" for k, v in total.most_common())
        print(f"{path}: {len(frame)} lines, {errors} errors: {shown}")
        if lines:
            print(
                f"  first characters: {first} errors in {lines} ({first / lines:.2%}); "
                f"the others: {rest} in {chars - lines} ({rest / max(chars - lines, 1):.2%})"
            )
            e = ends_against_inside(list(frame["ref"]), list(frame["hyp"]))
            print(
                f"  first characters wrong {e['first']:.0f}, {e['first_expected']:.1f} expected "
                f"from the same characters inside lines; last {e['last']:.0f}, "
                f"{e['last_expected']:.1f} expected"
            )


if __name__ == "__main__":
    main()
