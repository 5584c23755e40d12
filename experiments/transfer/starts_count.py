"""How many of the character errors in per-line results (``menu-eval --lines``) are edits
of a line's first four characters, and in how many lines.

    python experiments/transfer/starts_count.py dev.csv [more.csv ...]
"""

from __future__ import annotations

import sys

import pandas as pd
from rapidfuzz.distance import Levenshtein

FIRST = 4

if __name__ == "__main__":
    for path in sys.argv[1:]:
        lines = pd.read_csv(path, keep_default_na=False)
        total = at_start = starts = 0
        for ref, hyp in zip(lines["ref"], lines["hyp"], strict=True):
            total += Levenshtein.distance(ref, hyp)
            ops = [o for o in Levenshtein.editops(ref, hyp) if o.src_pos < FIRST]
            at_start += len(ops)
            starts += bool(ops)
        print(
            f"{path}: {total} errors, {at_start} in the first {FIRST} characters of {starts} lines"
        )
