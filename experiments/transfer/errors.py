"""Kinds of errors in per-line results (``menu-eval --lines`` or a run's ``test_lines.csv``):
case swaps (``s`` read as ``S``), doubled letters read once (``ll`` as ``l``), and the
most frequent edit operations, and how often a line's first character is wrong against any
other character, so that the README's claims about them can be rerun.

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


if __name__ == "__main__":
    main()
