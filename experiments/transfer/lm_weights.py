"""Choose the language model's weight and per-character bonus on generated validation
lines (never on the held-out sets): ``menu-eval``'s CER for each pair.

    python experiments/transfer/lm_weights.py RUN/checkpoints/best.ckpt \
        data/synth-XXXX/val-000000.tar lm.json.gz [--weights 0.25 0.5 ...] [--bonuses 0 1 2] \
        [--best choice.json]

``--best`` writes the pair with the lowest CER (the first in grid order on a tie) as
``{"lm_weight": w, "lm_bonus": b, "cer": ..., "greedy_cer": ...}``, for run.sh.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import torch

from menu.infer import evaluate, load_checkpoint, set_decode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("shards")
    ap.add_argument("lm")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--bonuses", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    ap.add_argument("--width", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--best", type=Path, help="write the chosen pair here (JSON)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lit = load_checkpoint(args.checkpoint).eval()
    result = evaluate(lit, args.shards, confusions=0)
    print(f"{result['n']} lines; greedy CER {result['cer']:.4f}")
    print("| weight | bonus | CER | seconds |\n|---:|---:|---:|---:|")
    best: dict[str, float] = {}
    for weight, bonus in itertools.product(args.weights, args.bonuses):
        set_decode(lit, {"lm": args.lm, "beam": args.width, "lm_weight": weight, "lm_bonus": bonus})
        t = time.perf_counter()
        cer = evaluate(lit, args.shards, confusions=0)["cer"]
        print(f"| {weight:g} | {bonus:g} | {cer:.4f} | {time.perf_counter() - t:.1f} |")
        if not best or cer < best["cer"]:
            best = {"lm_weight": weight, "lm_bonus": bonus, "cer": cer}
    print(f"chosen: weight {best['lm_weight']:g}, bonus {best['lm_bonus']:g}")
    if args.best:
        args.best.write_text(json.dumps(best | {"greedy_cer": result["cer"]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
