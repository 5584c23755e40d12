"""Benchmark the synthetic line generator: lines/s for N lines with W processes.

    python scripts/bench_synth.py --n 2000 --workers 2 --repeat 3

Writes shards into a temporary folder (deleted afterwards) and prints lines/s of each
repetition (best first: other load on the machine only slows runs down), shard sizes,
the machine's load, and the in-process render rate (one core, no I/O) for reference.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from menu.data.fonts import resolve_fonts
from menu.data.image import encode_png
from menu.data.synth import generate, render_line
from menu.data.text import TextSource, load_corpus


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=2000, help="lines to generate (default 2000)")
    ap.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions (default 3)")
    args = ap.parse_args()

    fonts = resolve_fonts(None)
    source = TextSource(load_corpus(None))
    rng = np.random.default_rng(args.seed)
    for f in fonts:  # warm the font cache, as the generator's workers do on their first lines
        render_line("warm up", f, rng)
    k = 300
    t0 = time.perf_counter()
    for i in range(k):
        encode_png(render_line(source.sample(rng), fonts[i % len(fonts)], rng))
    single = k / (time.perf_counter() - t0)

    times = []
    for _ in range(max(1, args.repeat)):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            paths = generate(
                tmp,
                args.n,
                seed=args.seed,
                workers=args.workers,
                shard_size=args.shard_size,
                progress=False,
            )
            times.append(time.perf_counter() - t0)
            size = sum(os.path.getsize(p) for p in paths)
    times.sort()
    rates = ", ".join(f"{args.n / t:.0f}" for t in times)
    print(f"cores available: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    print(f"render+encode, 1 core, in-process: {single:.0f} lines/s")
    print(
        f"generate(n={args.n}, workers={args.workers}): best {times[0]:.2f} s = "
        f"{args.n / times[0]:.0f} lines/s (runs: {rates} lines/s), "
        f"{len(paths)} shard(s), {size / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
