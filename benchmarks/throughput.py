"""Throughput of the data pipeline per normalizer, of inference and of line generation."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig

from benchmarks.common import nondeterministic, quiet, stats
from menu.config import compose, options
from menu.registry import instantiate_option

# --------------------------------------------------------------------------- data pipeline


def norm_configs(preset: str, extra: Sequence[str] = ()) -> dict[str, DictConfig]:
    """Every normalizer option (conf/norm) as the preset (and ``extra`` overrides) would use
    it, e.g. with the preset's line height."""
    return {
        name: compose([f"experiment={preset}", *extra, f"norm={name}"]).norm
        for name in options("norm")
    }


def data_throughput(
    urls: str | Sequence[str],
    norms: dict[str, Any],
    *,
    lines: int = 256,
    batch_size: int = 16,
    repeats: int = 3,
    max_width: int = 3000,
) -> dict[str, Any]:
    """Lines/s of decode + normalize + batch (``make_loader``, workers=0, file order) for each
    normalizer config in ``norms``, over the first ``lines`` lines of ``urls``."""
    from menu.data.loader import make_loader

    out: dict[str, Any] = {}
    for name, ncfg in norms.items():
        norm = instantiate_option("norm", ncfg)
        rates = []
        for _ in range(max(1, repeats)):
            loader = make_loader(
                urls, norm, batch_size=batch_size, shuffle=0, workers=0, max_width=max_width
            )
            n = 0
            t0 = time.perf_counter()
            for batch in loader:
                n += len(batch["keys"])
                if n >= lines:
                    break
            rates.append(n / max(time.perf_counter() - t0, 1e-9))
        out[name] = {"lines": n, "lines_per_s": stats(rates)}
    return out


# --------------------------------------------------------------------------- inference


def infer_throughput(
    checkpoint: str | os.PathLike,
    urls: str | Sequence[str],
    *,
    batch_sizes: Sequence[int] = (1, 16, 64),
    repeats: int = 2,
    device: str = "cpu",
    variants: bool = True,
) -> dict[str, Any]:
    """``menu.infer.load_checkpoint`` + ``evaluate`` on ``urls`` at each batch size: the
    recognize-only lines/s that ``evaluate`` reports (model + decoding) and the end-to-end
    lines/s (shard reading, decode, normalize, batch, recognize, scoring). One untimed pass
    per batch size first (reported as ``first_pass``: new widths build new kernels). With
    ``variants`` also the recognize-only lines/s with ``channels_last`` flipped and with
    the convolutions on the whole batch (``conv_chunk=0``) instead of ``conv_chunk`` lines
    at a time."""
    from menu.infer import evaluate, load_checkpoint

    lit = load_checkpoint(checkpoint, device=device)
    out: dict[str, Any] = {
        "device": device,
        "channels_last": bool(lit.cfg.get("channels_last", False)),
        "conv_chunk": lit.model.conv_chunk,
        "height": lit.cfg.norm.get("height"),
        "batch_sizes": {},
    }
    with quiet(), nondeterministic():
        for bs in batch_sizes:
            t0 = time.perf_counter()
            first = evaluate(lit, urls, batch_size=bs, confusions=0)
            first_e2e = first["n"] / (time.perf_counter() - t0)
            rec, e2e = [], []
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                r = evaluate(lit, urls, batch_size=bs, confusions=0)
                e2e.append(r["n"] / (time.perf_counter() - t0))
                rec.append(r["lines_per_s"])
            med = statistics.median(rec)
            out["batch_sizes"][str(bs)] = {
                "lines": r["n"],
                "lines_per_s": stats(rec),
                "ms_per_line": 1000.0 / med,
                "end_to_end_lines_per_s": stats(e2e),
                "first_pass": {"lines_per_s": first["lines_per_s"], "end_to_end": first_e2e},
            }
        if variants:
            out["variants"] = {}
            model = lit.model
            chunk, layout = model.conv_chunk, out["channels_last"]
            for name, cl, ch in (
                (f"channels_last={str(not layout).lower()}", not layout, chunk),
                ("conv_chunk=0", layout, 0),
            ):
                model.use_channels_last(cl)
                model.conv_chunk = ch
                alt: dict[str, Any] = {}
                for bs in batch_sizes:
                    evaluate(lit, urls, batch_size=bs, confusions=0)
                    rates = [
                        evaluate(lit, urls, batch_size=bs, confusions=0)["lines_per_s"]
                        for _ in range(max(1, repeats))
                    ]
                    alt[str(bs)] = {"lines_per_s": stats(rates)}
                out["variants"][name] = alt
            model.use_channels_last(layout)
            model.conv_chunk = chunk
            out["variants"] |= inference_variants(checkpoint, urls, batch_sizes, repeats, device)
    return out


def inference_variants(
    checkpoint: str | os.PathLike,
    urls: str | Sequence[str],
    batch_sizes: Sequence[int],
    repeats: int,
    device: str = "cpu",
) -> dict[str, Any]:
    """Recognize-only lines/s and CER with batch norm folded into the convolutions, and
    also with bfloat16 weights and activations or with int8 dynamic quantization of the LSTM
    and linear layers (CPU), each with its CER change against the checkpoint as trained
    (``menu.models.inference``)."""
    from menu.infer import evaluate, load_checkpoint
    from menu.models.inference import for_inference

    base = evaluate(load_checkpoint(checkpoint, device=device), urls, confusions=0)["cer"]
    out: dict[str, Any] = {}
    for name, quantize, precision in (
        ("batchnorm_folded", False, "float32"),
        ("folded_bf16", False, "bfloat16"),
        ("folded_int8", True, "float32"),
    ):
        if quantize and device != "cpu":
            continue
        lit = load_checkpoint(checkpoint, device=device)
        lit.model = for_inference(lit.model, quantize=quantize, precision=precision)
        alt: dict[str, Any] = {}
        for bs in batch_sizes:
            cer = evaluate(lit, urls, batch_size=bs, confusions=0)["cer"]  # untimed first pass
            rates = [
                evaluate(lit, urls, batch_size=bs, confusions=0)["lines_per_s"]
                for _ in range(max(1, repeats))
            ]
            alt[str(bs)] = {"lines_per_s": stats(rates), "cer": cer, "cer_change": cer - base}
        out[name] = alt
    return out


# --------------------------------------------------------------------------- synthetic data


def synth_throughput(
    n: int = 500, workers: int = 2, repeats: int = 3, seed: int = 0, data: str = "synth"
) -> dict[str, Any]:
    """``menu.data.synth.generate`` lines/s with the generator settings of the data config
    ``data`` (``synth``: the defaults; ``transfer``: every printing and scanning
    degradation, prose by word frequency): n lines, PNG shards on a temporary disk folder,
    process start-up included."""
    from omegaconf import OmegaConf

    from menu.config import compose
    from menu.data.prepare import generate_splits

    synth = OmegaConf.to_container(compose([f"data={data}"]).data.synth, resolve=True)
    synth |= {"n_train": n, "seed": seed, "workers": workers, "progress": False}
    rates = []
    for _ in range(max(1, repeats)):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            generate_splits(synth, tmp, ["train"])  # as training generates its split
            rates.append(n / (time.perf_counter() - t0))
    return {"n": n, "workers": workers, "data": data, "lines_per_s": stats(rates)}
