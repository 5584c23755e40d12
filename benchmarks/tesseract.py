"""menu against Tesseract 5 (``--psm 7``) on the same line images, scored the same way."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import time
import unicodedata
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import nondeterministic
from menu.metrics import group_table

# --------------------------------------------------------------------------- tesseract


def tesseract_info(exe: str | None = None) -> dict[str, Any]:
    """Whether tesseract is on PATH, its version and languages."""
    exe = exe or shutil.which("tesseract")
    if not exe:
        return {
            "available": False,
            "reason": "tesseract not found on PATH (Debian/Ubuntu: apt-get install tesseract-ocr)",
        }
    try:
        v = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
        langs = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return {"available": False, "reason": f"{exe} does not run: {e}"}
    version = (v.stdout or v.stderr).strip().splitlines()
    listed = (langs.stdout or langs.stderr).strip().splitlines()
    return {
        "available": True,
        "path": exe,
        "version": version[0] if version else "?",
        "languages": [x.strip() for x in listed if x.strip() and not x.startswith("List of")],
    }


def write_test_pngs(
    urls: str | Sequence[str], out_dir: str | os.PathLike, lines: int | None = None
) -> list[tuple[str, str | None, str, str | None]]:
    """The raw line images of ``urls`` (file order) as PNG files: [(key, path, reference,
    font)]
    for every labelled line; path None when its image is missing or unreadable (both
    systems are then scored with an empty hypothesis). Samples without a usable transcript
    are left out, as in every menu evaluation."""
    import webdataset as wds

    from menu.data.image import encode_png
    from menu.data.shards import (
        SkipSample,
        decode_line_image,
        decode_meta,
        decode_text,
        expand_urls,
    )

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items: list[tuple[str, str | None, str]] = []
    for url in expand_urls(urls):
        for sample in wds.tarfile_to_samples()(iter([{"url": url}])):
            try:
                text = decode_text(sample)
            except SkipSample:
                continue
            path: Path | None = out_dir / f"{len(items):06d}.png"
            try:
                path.write_bytes(encode_png(decode_line_image(sample)))
            except SkipSample:
                path = None
            font = decode_meta(sample).get("font")
            items.append((sample["__key__"], str(path) if path else None, text, font))
            if lines is not None and len(items) >= lines:
                return items
    return items


def _fill(paths: Sequence[str | None], texts: Sequence[str]) -> list[str]:
    """Hypotheses for all lines from ``texts`` of the present images, in order; an empty
    hypothesis for each line without one."""
    it = iter(texts)
    return [next(it) if p is not None else "" for p in paths]


def _run_tesseract_list(
    exe: str, paths: Sequence[str], list_file: Path, args: Sequence[str]
) -> list[str]:
    """One tesseract process over a list of images; one text per image (split on the form
    feed tesseract puts between pages), or per-image calls if the split does not match."""
    list_file.write_text("\n".join(paths) + "\n", encoding="utf-8")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    proc = subprocess.run(
        [exe, str(list_file), "stdout", *args], capture_output=True, env=env, check=False
    )
    texts = proc.stdout.decode("utf-8", "replace").split("\f")
    if proc.returncode == 0 and len(texts) == len(paths):
        return texts
    out = []
    for p in paths:  # pragma: no cover - fallback for odd tesseract builds
        r = subprocess.run([exe, p, "stdout", *args], capture_output=True, env=env, check=False)
        out.append(r.stdout.decode("utf-8", "replace"))
    return out


def clean_tesseract(text: str) -> str:
    """Tesseract's output for one line minus its framing (trailing newlines/form feeds)."""
    return text.rstrip("\n\r\f")


def collapse_ws(text: str) -> str:
    """Whitespace runs -> one space, no leading/trailing space (the secondary scoring)."""
    return " ".join(text.split())


def score(refs: Sequence[str], hyps: Sequence[str], collapse: bool = False) -> dict[str, Any]:
    """Corpus CER/WER with ``menu.metrics.ErrorRates`` (rapidfuzz edit distance, sum of errors
    over sum of reference characters). Both sides NFC-normalized; spaces kept as they are
    (menu's protocol) unless ``collapse``."""
    from menu.metrics import ErrorRates

    rates = ErrorRates()
    for ref, hyp in zip(refs, hyps, strict=True):
        ref, hyp = unicodedata.normalize("NFC", ref), unicodedata.normalize("NFC", hyp)
        if collapse:
            ref, hyp = collapse_ws(ref), collapse_ws(hyp)
        rates.add(ref, hyp)
    return {"cer": rates.cer, "wer": rates.wer, "char_errors": rates.char_errors,
            "ref_chars": rates.ref_chars}  # fmt: skip


def line_records(keys: Sequence[str], refs: Sequence[str], hyps: Sequence[str]) -> list[dict]:
    """Per-line edit counts (``menu.metrics.line_error``; NFC, spaces kept)."""
    from menu.metrics import line_error

    nfc = functools.partial(unicodedata.normalize, "NFC")
    return [asdict(line_error(nfc(r), nfc(h), k)) for k, r, h in zip(keys, refs, hyps, strict=True)]


def paired_difference(menu_lines: list[dict], other_lines: list[dict]) -> dict[str, Any]:
    """CER(other) - CER(menu) on the same lines with its 95% paired-bootstrap interval and
    two-sided p (``menu.tables.paired_bootstrap``, 1000 resamples of the lines, seed 0)."""
    import pandas as pd

    from menu.tables import paired_bootstrap

    a, b = (pd.DataFrame(x).set_index("key") for x in (menu_lines, other_lines))
    diff, low, high, p, n = paired_bootstrap(a, b)
    return {"cer_difference": diff, "ci95": [low, high], "p": p, "lines": n}


def font_table(by_font: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """{system: {font: rates}} -> {font: lines, reference chars and each system's CER}."""
    table: dict[str, dict] = {}
    for system, fonts in by_font.items():
        for font, r in fonts.items():
            row = table.setdefault(font, {"lines": r["n"], "ref_chars": r["ref_chars"]})
            row[f"{system}_cer"] = r["cer"]
    return dict(sorted(table.items()))


def menu_on_pngs(
    checkpoint: str | os.PathLike,
    paths: Sequence[str],
    batch_size: int = 64,
    decode: Mapping[str, Any] | None = None,
) -> tuple[list[str], float]:
    """A menu checkpoint's transcripts of PNG files (``menu.infer.predict``: read, normalize,
    batch, recognize; ``decode``: keys of its ``decode`` config to change, e.g. ``beam`` or
    ``lm``, default as trained) and the wall time, after one untimed warm-up pass."""
    from menu.infer import load_checkpoint, predict, set_decode

    lit = load_checkpoint(checkpoint)
    set_decode(lit, decode or {})
    list(predict(lit, paths[: 2 * batch_size], batch_size=batch_size))
    t0 = time.perf_counter()
    hyps = [text or "" for _, text, _ in predict(lit, paths, batch_size=batch_size)]
    return hyps, time.perf_counter() - t0


def tesseract_compare(
    checkpoint: str | os.PathLike | None,
    test: str | Sequence[str],
    work_dir: str | os.PathLike,
    *,
    lines: int | None = None,
    processes: int = 2,
    lang: str = "eng",
    psm: int = 7,
    exe: str | None = None,
    menu_batch_size: int = 64,
    menu_decode: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Tesseract (``--psm 7``, ``processes`` processes with one thread each) against a menu
    checkpoint on the same test lines written as PNG files: corpus CER/WER and lines/s.
    When tesseract is not installed the result says so (``available: False``)."""
    info = tesseract_info(exe)
    out: dict[str, Any] = {
        "tesseract": info,
        "scoring": (
            "corpus CER = sum of rapidfuzz Levenshtein distances / sum of reference lengths; "
            "references and hypotheses NFC-normalized; spaces kept as they are (menu-eval's "
            "protocol), only tesseract's line terminator (trailing newline/form feed) "
            "stripped; *_collapsed_ws: whitespace runs -> one space and stripped on both sides"
        ),
    }
    work_dir = Path(tempfile.mkdtemp(prefix="tess-", dir=work_dir))
    items = write_test_pngs(test, work_dir / "png", lines)
    keys, all_paths, refs, font_of = (
        (list(x) for x in zip(*items, strict=True)) if items else ([], [], [], [])
    )
    paths = [p for p in all_paths if p is not None]
    out["lines"] = len(items)
    out["unreadable_lines"] = len(items) - len(paths)  # scored as empty for both systems
    out["test"] = test if isinstance(test, str) else list(test)
    fonts = {k: str(f) for k, f in zip(keys, font_of, strict=True) if f is not None}
    by_font: dict[str, dict[str, dict]] = {}
    menu_lines = None
    if checkpoint:
        with nondeterministic():
            hyps, seconds = menu_on_pngs(checkpoint, paths, menu_batch_size, menu_decode)
        hyps = _fill(all_paths, hyps)
        menu_lines = line_records(keys, refs, hyps)
        by_font["menu"] = group_table(menu_lines, fonts)
        if fonts:
            out["by_font"] = font_table(by_font)
        out["menu"] = {
            "checkpoint": str(checkpoint),
            "threads": torch.get_num_threads(),
            "batch_size": menu_batch_size,
            "decode": dict(menu_decode or {}),
            "lines_per_s": len(paths) / max(seconds, 1e-9),
            **score(refs, hyps),
            "cer_collapsed_ws": score(refs, hyps, collapse=True)["cer"],
        }
    if not info["available"]:
        return out
    if lang not in info.get("languages", [lang]):
        out["tesseract"]["error"] = f"language {lang!r} not installed"
        return out
    args = ["--psm", str(psm), "-l", lang]
    k = max(1, min(processes, len(paths)))
    chunks = [paths[i::k] for i in range(k)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(k) as pool:
        results = list(
            pool.map(
                lambda ic: _run_tesseract_list(
                    info["path"], ic[1], work_dir / f"list-{ic[0]}.txt", args
                ),
                enumerate(chunks),
            )
        )
    seconds = time.perf_counter() - t0
    hyps = [""] * len(paths)
    for i, texts in enumerate(results):
        for j, text in enumerate(texts):
            hyps[i + j * k] = clean_tesseract(text)
    hyps = _fill(all_paths, hyps)
    tess_lines = line_records(keys, refs, hyps)
    by_font["tesseract"] = group_table(tess_lines, fonts)
    if fonts:
        out["by_font"] = font_table(by_font)
    if menu_lines:
        out["tesseract_minus_menu"] = paired_difference(menu_lines, tess_lines)
    out["tesseract"] |= {
        "psm": psm,
        "lang": lang,
        "processes": k,
        "lines_per_s": len(paths) / max(seconds, 1e-9),
        **score(refs, hyps),
        "cer_collapsed_ws": score(refs, hyps, collapse=True)["cer"],
        "examples": [
            {"key": keys[i], "ref": refs[i], "hyp": hyps[i]} for i in range(min(3, len(hyps)))
        ],
    }
    return out
