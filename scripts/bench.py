"""Benchmark menu on this machine: training (framework vs bare PyTorch), data pipeline,
inference, synthetic generation, peak memory per preset, tesseract, and (asked for by name,
it trains for hours) time to accuracy of training recipes.

    python scripts/bench.py --quick                       # everything in about 2 minutes
    python scripts/bench.py --out experiments/benchmarks/cpu.json
    python scripts/bench.py --only tesseract --checkpoint RUN/checkpoints/best.ckpt \\
        --test 'data/synth-XXXX/test-000000.tar'
    python scripts/bench.py --only tta --out experiments/benchmarks/tta.json

Prints progress on stderr, then the JSON and a short table on stdout. CPU always, plus the
GPU when torch sees one. Threads: torch.set_num_threads(cores) (or --threads); data loading
in the training process (data.workers=0). Medians over repeats, [min-max] in the table.
Other load on the machine (e.g. menu-train jobs) makes the timings invalid: the JSON
records the load average and any running menu-train jobs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/: the checkout

from benchmarks import LONG_SECTIONS, PRESETS, RECIPES, SECTIONS, benchmark, table
from menu.record import write_json


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--preset", default="conv_bilstm", help="experiment preset to train")
    ap.add_argument("--quick", action="store_true", help="small sizes: about 2 minutes")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument("--only", nargs="+", choices=SECTIONS,
                    default=[s for s in SECTIONS if s not in LONG_SECTIONS],
                    help="sections (default: all but tta, which trains for hours)")  # fmt: skip
    ap.add_argument("--recipes", nargs="+", choices=sorted(RECIPES),
                    default=["vs_tesseract", "printed_fast"],
                    help="recipes the tta section compares (the first: baseline)")  # fmt: skip
    ap.add_argument("--targets", nargs="+", type=float,
                    help="validation CERs the tta section times (default: 0.03 0.015)")  # fmt: skip
    ap.add_argument("--tta-seeds", type=int, help="seeds per recipe in the tta section (3)")
    ap.add_argument("--tta-jobs", type=int, default=1,
                    help="tta runs at once, each its own process (2 for 1-thread recipes "
                    "on 2 cores)")  # fmt: skip
    ap.add_argument("--tta-full", action="store_true",
                    help="tta: train every recipe to its end (its test CER) instead of "
                    "stopping at the lowest target")  # fmt: skip
    ap.add_argument("--tta-baseline-seeds", type=int,
                    help="tta: seeds of the first recipe (default: as --tta-seeds)")  # fmt: skip
    ap.add_argument("--tta-baseline-cpu-seconds", type=float,
                    help="tta: stop the first recipe after this many CPU-seconds of "
                    "training (an old recipe that takes hours)")  # fmt: skip
    ap.add_argument("--presets", nargs="+", default=list(PRESETS),
                    help="presets for the peak-memory section")  # fmt: skip
    ap.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    ap.add_argument("--data-dir", default="data", help="synthetic data cache (default: data)")
    ap.add_argument("--work-dir", help="keep run folders and PNGs here (default: a temp dir)")
    ap.add_argument("--checkpoint", help="menu checkpoint for the tesseract comparison "
                    "(default: the untrained benchmark model); with --test the infer "
                    "section also times it and its variants' CER")  # fmt: skip
    ap.add_argument("--test", help="test shards for the tesseract comparison and the "
                    "checkpoint's inference (default: the benchmark's test split)")  # fmt: skip
    ap.add_argument("--beam", type=int, help="CTC beam width of the checkpoint in the tesseract "
                    "comparison (default: as trained)")  # fmt: skip
    ap.add_argument("--lm", help="its character language model (menu-data lm; default: none)")
    ap.add_argument("--lm-weight", type=float, help="the language model's weight")
    ap.add_argument("--lm-bonus", type=float, help="the per-character bonus with it")
    ap.add_argument("--tesseract-lines", type=int, help="limit the tesseract comparison lines")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (bare loop)")
    ap.add_argument("--steps", type=int, help="timed training steps")
    ap.add_argument("--warmup", type=int, help="untimed warm-up steps")
    ap.add_argument("--repeats", type=int, help="training repeats")
    ap.add_argument(
        "overrides", nargs="*", help="Hydra overrides for every run, e.g. data.batch_size=32"
    )
    args = ap.parse_args(argv)

    sizes = {
        k: v
        for k, v in {
            "steps": args.steps,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "tesseract_lines": args.tesseract_lines,
            "tta_seeds": args.tta_seeds,
        }.items()
        if v is not None
    }
    decode = {k: getattr(args, k) for k in ("beam", "lm", "lm_weight", "lm_bonus")}
    result = benchmark(
        preset=args.preset,
        quick=args.quick,
        sections=args.only,
        data_dir=args.data_dir,
        work_dir=args.work_dir,
        threads=args.threads,
        checkpoint=args.checkpoint,
        test=args.test,
        decode={k: v for k, v in decode.items() if v is not None},
        compile=args.compile,
        presets=args.presets,
        sizes=sizes,
        overrides=args.overrides,
        recipes=args.recipes,
        tta_targets=args.targets,
        tta_jobs=args.tta_jobs,
        tta_full=args.tta_full,
        tta_baseline_seeds=args.tta_baseline_seeds,
        tta_baseline_cpu_seconds=args.tta_baseline_cpu_seconds,
        log=lambda s: print(s, file=sys.stderr, flush=True),
    )
    result["command"] = " ".join(["python", "scripts/bench.py", *(argv or sys.argv[1:])])
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    print()
    print(table(result))
    if args.out:
        write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
