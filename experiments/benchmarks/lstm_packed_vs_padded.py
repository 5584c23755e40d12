"""Paired old/new measurement of the LSTM change (README "Performance"; session note of
2026-11-23): ``bare_train`` of one preset, alternating the packed LSTM of before and
``menu.models.seq.lstm_by_length`` in one process, 2 rounds, medians of lines/s.

    PYTHONPATH=. taskset -c 0 python experiments/benchmarks/lstm_packed_vs_padded.py conv_bilstm
"""

from __future__ import annotations

import statistics
import sys

from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import menu.models.seq as seq
from benchmarks.common import bench_overrides
from benchmarks.train import bare_train
from menu.config import compose


def packed(lstm, x, lengths):
    """The packed batch ``seq=lstm`` used before."""
    total = x.shape[1]
    p = pack_padded_sequence(
        x, lengths.clamp(1, total).cpu(), batch_first=True, enforce_sorted=False
    )
    out, _ = lstm(p)
    return pad_packed_sequence(out, batch_first=True, total_length=total)[0]


def main(preset: str, extra: list[str]) -> None:
    cfg = compose(
        bench_overrides(preset, data_dir="data", steps=18, threads=1, n_train=400, extra=extra)
    )
    res: dict[str, list[float]] = {"packed": [], "by_length": []}
    by_length = seq.lstm_by_length
    for _ in range(2):
        for name, impl in (("packed", packed), ("by_length", by_length)):
            seq.lstm_by_length = impl
            rate = bare_train(cfg, 3, flops=False)["lines_per_s"]
            res[name].append(rate)
            print(name, round(rate, 2), flush=True)
    seq.lstm_by_length = by_length
    med = {k: statistics.median(v) for k, v in res.items()}
    print(
        {k: round(v, 2) for k, v in med.items()},
        "speedup",
        round(med["by_length"] / med["packed"], 2),
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "conv_bilstm", sys.argv[2:])
