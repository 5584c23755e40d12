"""The benchmark's targets and its printed table."""

from __future__ import annotations

from typing import Any

# --------------------------------------------------------------------------- the whole set


def _decoding(menu: dict[str, Any]) -> str:
    """How the checkpoint decoded, when not as trained: `` (beam 10, lm lm.json.gz)``."""
    changed = dict(menu.get("decode") or {})
    if menu.get("beam"):  # results written before the decode keys
        changed["beam"] = menu["beam"]
    return f" ({', '.join(f'{k} {v}' for k, v in changed.items())})" if changed else ""


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """Which performance targets are met."""
    out: dict[str, Any] = {}
    for dev, train in result.get("train", {}).items():
        s = train["settings"]["default"]
        # each repeat pairs a framework and a bare run measured back to back: the median of
        # the paired ratios is robust to the machine's speed drifting between repeats
        ratio = s["ratio_framework_to_bare"]["median"]
        out[f"train_framework_vs_bare_{dev}"] = {
            "value": round(ratio, 3),
            "target": ">= 0.95",
            "met": ratio >= 0.95,
        }
    data = result.get("data")
    train_cpu = result.get("train", {}).get("cpu")
    if data and train_cpu:
        s = train_cpu["settings"]["default"]
        consumed = s["framework_lines_per_s"]["median"]
        for name, d in data["norms"].items():
            x = d["lines_per_s"]["median"] / consumed
            out[f"data_{name}_vs_training"] = {
                "value": round(x, 2),
                "target": ">= 5x",
                "met": x >= 5,
            }
        for key in ("synth", "synth_transfer"):  # generating as fast as training reads
            if "lines_per_s" in result.get(key, {}):
                x = result[key]["lines_per_s"]["median"] / consumed
                out[f"{key}_vs_training"] = {"value": round(x, 2), "target": ">= 5x", "met": x >= 5}
    fair = result.get("fairness", {}).get("threads", {}).get("1", {}).get("ACTIVE")
    if fair:  # same CPU budget (one thread, OpenMP's default), alone or next to a busy process
        v = fair["ratio"]
        out["cpu_budget_steps_loaded_vs_alone"] = {
            "value": round(v, 3),
            "target": "0.9 - 1.1",
            "met": 0.9 <= v <= 1.1,
        }
    infer = result.get("infer", {}).get("cpu")
    if infer and result.get("preset") == "conv_bilstm":
        for bs, d in infer["batch_sizes"].items():
            v = d["lines_per_s"]["median"]
            out[f"infer_cpu_bs{bs}"] = {"value": round(v, 1), "target": ">= 100", "met": v >= 100}
    return out


def fmt(x: Any, nd: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, dict) and "median" in x:
        if x["min"] == x["max"]:
            return f"{x['median']:.{nd}f}"
        return f"{x['median']:.{nd}f} [{x['min']:.{nd}f}-{x['max']:.{nd}f}]"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def table(result: dict[str, Any]) -> str:
    """A short human-readable summary (medians, [min-max] over repeats)."""
    rows: list[str] = []
    m = result.get("machine", {})
    rows.append(
        f"machine: {m.get('cpu_model')}, {m.get('cores')} cores, torch {m.get('torch')}, "
        f"{m.get('torch_threads')} threads, data workers 0, load {m.get('load_average_1min')}"
    )
    if result.get("quick"):
        rows.append("(--quick: few steps and lines, one repeat: indicative only)")
    if m.get("other_menu_train_jobs") or m.get("other_menu_train_jobs_at_end"):
        rows.append("WARNING: other menu-train jobs were running: timings are not valid")
    for dev, mm in result.get("matmul", {}).items():
        rows.append(f"matmul peak {dev} (fp32 mm n={mm['n']}): {fmt(mm['gflops'])} GFLOP/s")
    for dev, t in result.get("train", {}).items():
        rows.append(
            f"training {t['preset']} on {dev} (batch {t['batch_size']}, {t['timed_steps']} timed "
            f"steps after {t['warmup_steps']}, x{t['repeats']}), lines/s:"
        )
        defaults = ", ".join(f"{k}={str(v).lower()}" for k, v in t["defaults"].items())
        for name, s in t["settings"].items():
            label = f"default ({defaults})" if name == "default" else name
            rows.append(
                f"  {label}: framework {fmt(s['framework_lines_per_s'])}, bare "
                f"{fmt(s['bare_lines_per_s'])}, paired ratio "
                f"{fmt(s['ratio_framework_to_bare'], 3)}"
                + (
                    f", {fmt(s['framework_gflops'])} GFLOP/s"
                    + (
                        f" = {100 * s['framework_fraction_of_peak']:.1f}% of matmul peak"
                        if s.get("framework_fraction_of_peak")
                        else " (matmul peak not measured)"
                    )
                    + f" ({s['gflop_per_line']:.3f} GFLOP/line)"
                    if "framework_gflops" in s
                    else ""
                )
            )
        for name, x in t.get("speedups", {}).items():
            rows.append(f"  default vs {name} (framework lines/s): {x:.2f}x")
        c = t.get("compile", {})
        if "speedup" in c:
            rows.append(
                f"  torch.compile bare loop: {c['bare_lines_per_s']:.1f} lines/s "
                f"({c['speedup']:.2f}x eager, first step {c['first_step_seconds']:.0f} s)"
            )
        elif "error" in c:
            rows.append(f"  torch.compile: failed ({c['error'][:80]})")
    if "data" in result:
        d = result["data"]
        rows.append(f"data pipeline (decode+normalize+batch, workers 0, {d['lines']} lines):")
        for name, v in d["norms"].items():
            rows.append(f"  norm={name}: {fmt(v['lines_per_s'])} lines/s")
    inferences = list(result.get("infer", {}).items())
    if "infer_checkpoint" in result:
        inferences.append((f"cpu, {result['infer_checkpoint']['checkpoint']}",
                           result["infer_checkpoint"]["cpu"]))  # fmt: skip
    for dev, inf in inferences:
        rows.append(
            f"inference {dev} (evaluate; channels_last={str(inf['channels_last']).lower()}, "
            f"conv_chunk={inf.get('conv_chunk')}; recognize-only / end-to-end lines/s, ms/line):"
        )
        alts = inf.get("variants", {})
        for bs, v in inf["batch_sizes"].items():
            others = ", ".join(
                f"{name}: {fmt(alt[bs]['lines_per_s'])}"
                + (f" CER {alt[bs]['cer_change']:+.4f}" if "cer_change" in alt[bs] else "")
                for name, alt in alts.items()
                if bs in alt
            )
            rows.append(
                f"  batch {bs}: {fmt(v['lines_per_s'])} / {fmt(v['end_to_end_lines_per_s'])}, "
                f"{v['ms_per_line']:.2f} ms/line" + (f" ({others})" if others else "")
            )
    for key in ("synth", "synth_transfer"):
        s = result.get(key)
        if s and "lines_per_s" in s:
            rows.append(
                f"synthetic generation, data={s.get('data', 'synth')} ({s['n']} lines, "
                f"{s['workers']} workers): {fmt(s['lines_per_s'])} lines/s"
            )
        elif s:
            rows.append(f"synthetic generation, data={s['data']}: skipped ({s['skipped']})")
    if "memory" in result:
        rows.append("training peak RSS per preset (own process):")
        for p, v in result["memory"].items():
            if "error" in v:
                rows.append(f"  {p}: failed")
            else:
                rows.append(
                    f"  {p}: {v['peak_rss_mb']:.0f} MiB (after imports "
                    f"{v['rss_after_imports_mb']:.0f}), {v['lines_per_s']:.1f} lines/s, "
                    f"{v['params']} params"
                )
    if "tesseract" in result:
        t = result["tesseract"]
        if "menu" in t:
            mm = t["menu"]
            rows.append(
                f"menu checkpoint on {t['lines']} PNG lines"
                + _decoding(mm)
                + f": CER {mm['cer']:.4f} (collapsed ws {mm['cer_collapsed_ws']:.4f}), "
                f"{mm['lines_per_s']:.1f} lines/s"
            )
        ts = t["tesseract"]
        if ts.get("available") and "cer" in ts:
            rows.append(
                f"tesseract {ts['version']} --psm {ts['psm']} ({ts['processes']} processes): "
                f"CER {ts['cer']:.4f} (collapsed ws {ts['cer_collapsed_ws']:.4f}), "
                f"{ts['lines_per_s']:.1f} lines/s"
            )
            if d := t.get("tesseract_minus_menu"):
                rows.append(
                    f"CER(tesseract) - CER(menu): {100 * d['cer_difference']:+.2f} points, 95% CI "
                    f"[{100 * d['ci95'][0]:+.2f}, {100 * d['ci95'][1]:+.2f}] (paired bootstrap "
                    f"over {d['lines']} lines), p = {d['p']:.3f}"
                )
        else:
            rows.append(f"tesseract: unavailable ({ts.get('reason') or ts.get('error')})")
        if t.get("by_font"):
            systems = [
                k for k in ("menu", "tesseract") if f"{k}_cer" in next(iter(t["by_font"].values()))
            ]
            rows.append(f"CER by font ({' / '.join(systems)}):")
            for font, row in t["by_font"].items():
                cers = " / ".join(f"{100 * row[f'{k}_cer']:.2f}%" for k in systems)
                rows.append(f"  {font} ({row['lines']} lines): {cers}")
    if "fairness" in result:
        f = result["fairness"]
        rows.append(
            f"CPU budget of {f['seconds']:g} s: steps alone / next to one busy process "
            "(ratio), wall seconds alone:"
        )
        for n, policies in f["threads"].items():
            for policy, p in policies.items():
                rows.append(
                    f"  {n} thread(s), OMP_WAIT_POLICY={policy}: {p['steps_alone']:.0f} / "
                    f"{p['steps_loaded']:.0f} ({p['ratio']:.2f}), {p['wall_alone']:.1f} s"
                )
    if "profile" in result:
        from benchmarks.profile import profile_rows

        rows += profile_rows(result["profile"])
    if "tta" in result:
        from benchmarks.tta import tta_rows

        rows += tta_rows(result["tta"])
    if result.get("targets"):
        rows.append("targets:")
        for k, v in result["targets"].items():
            rows.append(
                f"  {k}: {v['value']} (target {v['target']}): {'met' if v['met'] else 'NOT met'}"
            )
    return "\n".join(rows)
