"""Generated lines/s of data=pages with print fading off, at the recipe's 0.3 and on every
line (600 lines, 2 processes, 3 alternating repeats; run it with nothing else running).

    python experiments/transfer/fade_speed.py
"""

from __future__ import annotations

import statistics
import tempfile
import time

from omegaconf import OmegaConf

from menu.config import compose
from menu.data.prepare import generate_splits

N = 600

if __name__ == "__main__":
    base = OmegaConf.to_container(compose(["data=pages"]).data.synth, resolve=True)
    rates: dict[float, list[float]] = {0.0: [], 0.3: [], 1.0: []}
    for rep in range(3):
        for fade in rates:
            synth = base | {"n_train": N, "seed": rep, "workers": 2, "progress": False}
            synth["degrade"] = dict(base["degrade"], fade=fade)
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                generate_splits(synth, tmp, ["train"])
                rates[fade].append(N / (time.perf_counter() - t0))
    for fade, r in rates.items():
        print(f"fade {fade}: median {statistics.median(r):.0f} lines/s {[round(x) for x in r]}")
