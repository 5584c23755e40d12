"""Where a training step's time goes (``scripts/bench.py --only profile``).

``torch.profiler`` records a few steps of the plain PyTorch loop (:func:`bare_train`, the
same model, batches and optimizer as ``menu-train``); every operator's self time goes to a
family: the ones that do the FLOPs (convolution; the LSTM and other matmuls, together because
the CPU LSTM runs its matmuls inside its own kernel) and the rest, which
move memory (batch norm, pooling, activations and other elementwise ops, copies and layout
changes, CTC, the optimizer). The FLOPs (``FlopCounterMode``, as the train section counts
them) divided by the time of the FLOP families give their own GFLOP/s; the share of the
step in the other families bounds what the step can reach: with every FLOP at the matmul
peak and the rest as it is, the step would still run at ``bound`` of the peak. The
profiler adds overhead per operator call, most to the many small elementwise ops, so the
shares are a picture of the step, not a timing: the train section times it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from omegaconf import DictConfig, open_dict

#: Operator families, first match wins (substrings of the ``aten::`` name).
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (name, tuple(needles.split()))
    for name, needles in (
        ("convolution", "conv"),
        ("lstm + matmul", "lstm rnn gru mm matmul linear"),
        ("batch norm", "batch_norm"),
        ("pooling", "pool"),
        ("ctc", "ctc"),
        ("optimizer", "_foreach adam clip_grad norm"),
        (
            "copy / layout",
            "copy contiguous cat clone _to_copy permute transpose pad stack "
            "index narrow slice view empty zero fill as_strided split select",
        ),
        (
            "elementwise",
            "relu threshold sigmoid tanh add mul div sub log_softmax softmax exp "
            "sum mean where clamp",
        ),
    )
)
#: The families that do the counted FLOPs.
FLOP_FAMILIES = ("convolution", "lstm + matmul")


def family(name: str) -> str:
    """The family of an operator name (``aten::mkldnn_convolution`` -> convolution)."""
    op = name.split("::")[-1].lower()
    for fam, needles in FAMILIES:
        if any(n in op for n in needles):
            return fam
    return "other"


def _flop_family(op: str) -> str:
    """The family of a FlopCounterMode key (``aten.convolution_backward.default``)."""
    return family(op.replace(".", "::", 1).split(".")[0])


def summarize(
    events: Iterable[tuple[str, float]],
    flops_by_op: dict[str, float],
    peak_gflops: float | None,
    top: int = 12,
) -> dict[str, Any]:
    """Shares of the step by family and operator from (name, self seconds) pairs, the FLOP
    families' GFLOP/s from the counted FLOPs, and the bound the other families set: the
    fraction of the peak with the FLOP families at the peak (where they run slower)."""
    by_op: dict[str, float] = {}
    for name, seconds in events:
        by_op[name] = by_op.get(name, 0.0) + seconds
    total = sum(by_op.values())
    if total <= 0:
        raise ValueError("the profile recorded no operator time")
    fams: dict[str, float] = {}
    for name, seconds in by_op.items():
        fams[family(name)] = fams.get(family(name), 0.0) + seconds
    flops = {f: 0.0 for f in FLOP_FAMILIES}
    for op, n in flops_by_op.items():
        fam = _flop_family(op)
        flops[fam if fam in FLOP_FAMILIES else "lstm + matmul"] += n
    flop_seconds = sum(fams.get(f, 0.0) for f in FLOP_FAMILIES)
    all_flops = sum(flops.values())
    gflops = all_flops / total / 1e9
    out: dict[str, Any] = {
        "seconds": total,
        "gflops": gflops,
        "families": {
            f: {
                "share": s / total,
                "gflops": flops[f] / s / 1e9 if f in flops and s > 0 else None,
            }
            for f, s in sorted(fams.items(), key=lambda kv: -kv[1])
        },
        "top_ops": [
            {"op": name, "family": family(name), "share": s / total}
            for name, s in sorted(by_op.items(), key=lambda kv: -kv[1])[:top]
        ],
        "flop_share": flop_seconds / total,
        "flop_families_gflops": all_flops / flop_seconds / 1e9 if flop_seconds else None,
    }
    if peak_gflops:
        out["fraction_of_matmul_peak"] = gflops / peak_gflops
        # every FLOP family at the peak (or as fast as it already is), the rest as measured
        at_peak = min(all_flops / (peak_gflops * 1e9), flop_seconds)
        out["bound"] = all_flops / (at_peak + total - flop_seconds) / 1e9 / peak_gflops
    return out


def op_profile(
    cfg: DictConfig, *, warmup: int = 3, steps: int = 8, peak_gflops: float | None = None
) -> dict[str, Any]:
    """Profile ``steps`` training steps of ``cfg`` after ``warmup`` (see the module)."""
    from benchmarks.train import bare_train

    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.budget.max_steps = warmup + 1 + steps
    schedule = torch.profiler.schedule(wait=warmup, warmup=1, active=steps, repeat=1)
    prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                  schedule=schedule)  # fmt: skip
    with prof:
        res = bare_train(cfg, warmup, flops=True, profiler=prof)
    flops = res["step_flops"]
    columns = sum(b * w for b, w in res["shapes"][1:])  # the profiled steps
    scale = columns / max(1, flops["batch"][0] * flops["batch"][1])
    events = [(e.key, e.self_cpu_time_total / 1e6) for e in prof.key_averages()
              if not e.key.startswith("ProfilerStep")]  # fmt: skip
    out = summarize(events, {k: v * scale for k, v in flops["by_op"].items()}, peak_gflops)
    return out | {"steps": steps, "threads": torch.get_num_threads(), "params": res["params"]}


def profile_rows(p: dict[str, Any]) -> list[str]:
    """The profile as lines of the benchmark's table."""
    peak = p.get("fraction_of_matmul_peak")
    rows = [
        f"profile of {p['steps']} training steps ({p['threads']} threads, profiler overhead "
        f"included): {p['gflops']:.1f} GFLOP/s"
        + (f" = {100 * peak:.1f}% of matmul peak" if peak is not None else "")
        + f"; FLOP ops {100 * p['flop_share']:.0f}% of the time at "
        f"{p['flop_families_gflops'] or 0:.1f} GFLOP/s",
    ]
    if "bound" in p:
        rows.append(
            f"  with every FLOP at the matmul peak and the rest as measured: at most "
            f"{100 * p['bound']:.0f}% of the peak"
        )
    rows += [
        f"  {fam}: {100 * f['share']:.1f}%"
        + (f" ({f['gflops']:.1f} GFLOP/s)" if f["gflops"] is not None else "")
        for fam, f in p["families"].items()
    ]
    rows.append("  top operators: " + ", ".join(
        f"{o['op'].split('::')[-1]} {100 * o['share']:.1f}%" for o in p["top_ops"]))  # fmt: skip
    return rows
