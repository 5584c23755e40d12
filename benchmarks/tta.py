"""Time to accuracy (``scripts/bench.py --only tta``): how long each training recipe takes
to reach target validation CERs, median over seeds, recipes side by side in one run.

A recipe is a list of ``menu-train`` overrides with its own budget and schedule; the
benchmark adds only ``budget.target_val_cer`` (the run ends at the first validation at or
below the lowest target), a validation interval and, if given, ``threads``. Every validation's
training clocks are in the run record (``val_clock``: step, seconds, CPU-seconds, with
validation excluded), so one run gives the time to every target. A target the recipe's
budget ends before reaching is reported as not reached, with the best validation CER.
Runs go one after another: other load on the machine spoils the timings.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from menu.budget import time_to


def _train(job: tuple[dict[str, Any], str]) -> tuple[dict[str, Any], float]:
    """One run (in a worker process when jobs > 1): its record and wall seconds."""
    from menu.training import run

    cfg, folder = job
    t0 = time.perf_counter()
    record = run(OmegaConf.create(cfg), folder, force=True)
    return record, time.perf_counter() - t0


#: Named recipes: the printed-data recognizer of experiments/vs_tesseract as it was trained
#: (its preset budget) and the fastest measured one.
RECIPES: dict[str, list[str]] = {
    "vs_tesseract": ["experiment=conv_bilstm", "norm=word", "data=printed"],
    "printed_fast": ["experiment=printed_fast"],
}
#: Validation CER targets (fractions).
TARGETS = (0.03, 0.015)


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def tta_compare(
    recipes: Mapping[str, Sequence[str]],
    *,
    work_dir: str | Path,
    targets: Sequence[float] = TARGETS,
    seeds: Sequence[int] = (0, 1, 2),
    threads: int | None = None,
    val_every_steps: int = 250,
    jobs: int = 1,
    stop_at_target: bool = True,
    baseline_seeds: int | None = None,
    baseline_cpu_seconds: float | None = None,
    extra: Sequence[str] = (),
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Train every recipe with every seed until the lowest target; per recipe and target
    the median steps, seconds and CPU-seconds to reach it over the seeds that did, and
    each CPU-seconds median as a ratio to the first recipe's. ``threads``: None leaves each
    recipe its own (``printed_fast`` trains on one). ``jobs``: runs at once, each in its own
    process (one-thread recipes on a 2-core machine: 2). ``stop_at_target=False`` trains
    every recipe to the end of its own budget: the test CER of the whole recipe, with the
    time to each target still read from the validations. The first recipe is the baseline:
    ``baseline_seeds`` runs only its first seeds and ``baseline_cpu_seconds`` stops it
    after that many CPU-seconds of training (``budget.max_cpu_seconds``; an old recipe
    can take hours: what it reaches within the cap is then the comparison); its runs go
    first, so the long one overlaps the others."""
    from menu.config import compose

    if not recipes:
        raise ValueError("no recipe to time")
    if not targets or any(not 0 <= t < 1 for t in targets):
        raise ValueError(f"targets must be validation CERs in [0, 1), got {list(targets)}")
    out: dict[str, Any] = {"targets": list(targets), "seeds": list(seeds), "threads": threads,
                           "val_every_steps": val_every_steps, "jobs": jobs,
                           "stop_at_target": stop_at_target, "recipes": {}}  # fmt: skip
    if baseline_cpu_seconds is not None and baseline_cpu_seconds <= 0:
        raise ValueError(f"baseline_cpu_seconds must be positive, got {baseline_cpu_seconds}")
    out |= {"baseline_seeds": baseline_seeds, "baseline_cpu_seconds": baseline_cpu_seconds}
    jobs_list = []
    for i, (name, overrides) in enumerate(recipes.items()):
        first = i == 0 and len(recipes) > 1
        capped = first and baseline_cpu_seconds
        cap = [f"budget.max_cpu_seconds={baseline_cpu_seconds}"] if capped else []
        for seed in list(seeds)[: baseline_seeds if first and baseline_seeds else None]:
            cfg = compose([*overrides, *extra, *cap, f"seed={seed}",
                           *([f"threads={threads}"] if threads else []),
                           *([f"budget.target_val_cer={min(targets)}"] if stop_at_target else []),
                           f"budget.val_every_steps={val_every_steps}",
                           "early_stopping.patience=null",
                           "trainer.enable_progress_bar=false"])  # fmt: skip
            folder = Path(work_dir) / "tta" / name / f"seed={seed}"
            jobs_list.append((name, seed, OmegaConf.to_container(cfg), str(folder)))
    if jobs > 1:  # each job its own process (threads x jobs should not exceed the cores)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            done = list(pool.map(_train, [(c, d) for _, _, c, d in jobs_list]))
    else:
        done = [_train((c, d)) for _, _, c, d in jobs_list]
    by_recipe: dict[str, list[dict[str, Any]]] = {name: [] for name in recipes}
    for (name, seed, _, _), (record, wall) in zip(jobs_list, done, strict=True):
        reached = {str(t): time_to(record, t) for t in targets}
        by_recipe[name].append({
            "seed": seed,
            "wall_seconds": round(wall, 1),
            "cpu_seconds": round((record.get("budget_used") or {}).get("cpu_seconds") or 0, 1),
            "steps": record["steps"],
            "stopped_by": record["stopped_by"],
            "best_val_cer": min((c for _, c in record["val_history"]), default=None),
            "test_cer": record.get("test_cer"),
            "threads": record.get("threads"),
            "reached": reached,
        })  # fmt: skip
        times = ", ".join(
            f"{t}: " + ("not reached" if r is None else f"{r['cpu_seconds']:.0f} CPU-s")
            for t, r in reached.items()
        )
        log(f"tta {name} seed {seed}: {times}; test CER {record.get('test_cer')}")
    for name, overrides in recipes.items():
        runs = by_recipe[name]
        summary = {}
        for t in map(str, targets):
            hits = [r["reached"][t] for r in runs if r["reached"][t] is not None]
            summary[t] = {
                "reached": f"{len(hits)}/{len(runs)}",
                **{k: _median([h[k] for h in hits]) for k in ("step", "seconds", "cpu_seconds")},
            }
        tested = [r for r in runs if r["test_cer"] is not None]
        end = {k: _median([r[k] for r in tested]) for k in ("test_cer", "cpu_seconds")}
        out["recipes"][name] = {"overrides": list(overrides), "runs": runs, "median": summary,
                                "end": end}  # fmt: skip
    first = next(iter(out["recipes"].values()))["median"]
    for rec in out["recipes"].values():
        for t, m in rec["median"].items():
            base = first[t]["cpu_seconds"]
            m["cpu_seconds_vs_first"] = (
                None if base is None or m["cpu_seconds"] is None else m["cpu_seconds"] / base
            )
    return out


def tta_rows(tta: Mapping[str, Any]) -> list[str]:
    """The tta section as lines of the benchmark's table."""
    from benchmarks.report import fmt

    head = (
        f"time to validation CER ({len(tta['seeds'])} seed(s), "
        f"{tta['threads'] or 'their own'} threads; "
        "median steps, wall s, CPU-s of training; CPU-s vs the first recipe):"
    )
    ends = [
        f"  {name} at its end: test CER {fmt(100 * rec['end']['test_cer'], 2)}% after "
        f"{fmt(rec['end']['cpu_seconds'], 0)} CPU-s of training (medians"
        + ", ".join(["", *sorted({str(r["stopped_by"]) for r in rec["runs"]})])
        + ")"
        for name, rec in tta["recipes"].items()
        if rec.get("end", {}).get("test_cer") is not None
    ]
    return (
        [head]
        + ends
        + [
            f"  {name} to {100 * float(t):g}%: reached {m['reached']}, {fmt(m['step'], 0)} steps, "
            f"{fmt(m['seconds'], 0)} s, {fmt(m['cpu_seconds'], 0)} CPU-s "
            f"({fmt(m['cpu_seconds_vs_first'], 2)}x)"
            for name, rec in tta["recipes"].items()
            for t, m in rec["median"].items()
        ]
    )
