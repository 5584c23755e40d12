"""Folders of line images with transcripts (``NAME.png`` + ``NAME.gt.txt``, the OCRopus /
kraken / tesseract layout) to WebDataset shards and back."""

from __future__ import annotations

import functools
import io
import json
import os
import random
import re
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import webdataset as wds
from tqdm import tqdm

from menu.data.codec import clean_text
from menu.data.image import (
    IMAGE_EXTS,
    ImageTooLarge,
    encode_png,
    open_image,
    pil_to_gray,
)
from menu.data.shards import TEXT_EXTS, ShardSink, _find, brace_pattern, iter_members, sanitize_key

# --------------------------------------------------------------------------- converters

_GT_SUFFIX = ".gt.txt"
_IMG_SUFFIXES = (
    ".bin.png",
    ".nrm.png",
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".bmp",
    ".webp",
    ".pgm",
)
_IMG_PREFERENCE = {
    s: i
    for i, s in enumerate(
        (".bin.png", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".webp", ".pgm", ".nrm.png")
    )
}


def _split_image_name(name: str) -> tuple[str, str] | None:
    low = name.lower()
    for suf in _IMG_SUFFIXES:
        if low.endswith(suf):
            return name[: -len(suf)], suf
    return None


def find_pairs(
    root: str | os.PathLike,
) -> tuple[list[tuple[str, Path, Path]], dict[str, list[str]]]:
    """Find ``NAME.png`` + ``NAME.gt.txt`` pairs below ``root`` (nested folders allowed).

    Image suffixes ``.bin.png``, ``.nrm.png``, ``.png``, ``.jpg``, ``.tif``... are accepted
    (OCRopus/kraken/tesseract conventions); when several images share a stem the
    preferred one is used (``.bin.png`` > ``.png`` > others > ``.nrm.png``).
    Returns ``([(stem relative to root, image path, gt path)], problems)`` where
    problems maps ``missing_text`` / ``missing_image`` / ``extra_image`` to paths.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    images: dict[str, list[tuple[str, Path]]] = {}
    gts: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.lower().endswith(_GT_SUFFIX):
                stem = name[: -len(_GT_SUFFIX)]
                gts[os.path.normpath(os.path.join(rel_dir, stem))] = path
                continue
            split = _split_image_name(name)
            if split is not None:
                stem = os.path.normpath(os.path.join(rel_dir, split[0]))
                images.setdefault(stem, []).append((split[1].lower(), path))
    problems: dict[str, list[str]] = {"missing_text": [], "missing_image": [], "extra_image": []}
    pairs = []
    for stem in sorted(set(images) | set(gts)):
        cands = sorted(images.get(stem, []), key=lambda sp: _IMG_PREFERENCE.get(sp[0], 99))
        if stem not in gts:
            problems["missing_text"].extend(str(p) for _, p in cands)
            continue
        if not cands:
            problems["missing_image"].append(str(gts[stem]))
            continue
        problems["extra_image"].extend(str(p) for _, p in cands[1:])
        pairs.append((stem.replace(os.sep, "/"), cands[0][1], gts[stem]))
    return pairs, problems


@dataclass
class ConvertReport:
    """Outcome of a conversion: shards per split, counts, skipped items by reason."""

    shards: dict[str, list[str]] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def total_written(self) -> int:
        """Samples written over all splits."""
        return sum(self.written.values())

    def skip_counts(self) -> dict[str, int]:
        """Number of skipped items per reason."""
        return {k: len(v) for k, v in self.skipped.items() if v}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "shards": self.shards,
            "patterns": {k: brace_pattern(v) for k, v in self.shards.items() if v},
            "written": self.written,
            "skipped_counts": self.skip_counts(),
            "skipped": {k: v for k, v in self.skipped.items() if v},
            "notes": {k: v for k, v in self.notes.items() if v},
        }

    def summary(self) -> str:
        """Human-readable multi-line summary."""
        lines = [f"wrote {self.total_written} samples"]
        for split, paths in self.shards.items():
            if paths:
                n = self.written.get(split, 0)
                lines.append(
                    f"  {split}: {n} samples in {len(paths)} shard(s): {brace_pattern(paths)}"
                )
        counts = self.skip_counts()
        if counts:
            lines.append("skipped: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
            for reason, items in sorted(self.skipped.items()):
                for item in items[:5]:
                    lines.append(f"  {reason}: {item}")
                if len(items) > 5:
                    lines.append(f"  {reason}: ... {len(items) - 5} more (see report)")
        else:
            lines.append("skipped: none")
        for note, items in self.notes.items():
            if items:
                lines.append(f"note: {note}: {len(items)}")
        return "\n".join(lines)


def parse_split(spec: str | dict[str, float] | None) -> dict[str, float] | None:
    """``"train=0.9,val=0.05,test=0.05"`` -> dict of fractions (normalized to sum 1)."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, str):
        out = {}
        for part in spec.split(","):
            name, _, frac = part.partition("=")
            if not name.strip() or not frac:
                raise ValueError(f"bad split {spec!r}: use NAME=FRACTION,NAME=FRACTION")
            out[name.strip()] = float(frac)
    else:
        out = {str(k): float(v) for k, v in spec.items()}
    total = sum(out.values())
    if total <= 0 or any(v < 0 for v in out.values()):
        raise ValueError(f"bad split fractions {out}")
    return {k: v / total for k, v in out.items()}


Item = tuple[bytes, str, str] | tuple[None, str, str]  # (png, ext, text) | (None, why, where)


def _text_problem(text: str | None) -> str | None:
    if text is None:
        return "missing_text"
    if not text.strip():
        return "empty_text"
    if "\n" in text or "\r" in text:
        return "multiline_text"
    return None


def _read_line(data: bytes | None, text: str | None, where: str) -> Item:
    """A line of a layout or a list: (png bytes, "png", text) or (None, reason, where)."""
    if (reason := _text_problem(text)) is not None:
        return None, reason, where
    if data is None:
        return None, "missing_image", where
    return data, "png", clean_text(text or "")


def _read_pair(img_path: Path, gt_path: Path) -> Item:
    """-> (png bytes, image ext, text) or (None, reason, detail)."""
    try:
        raw = gt_path.read_bytes()
        data = img_path.read_bytes()
    except OSError as exn:
        return None, "unreadable_file", f"{exn.filename}: {exn.strerror}"
    try:
        text = clean_text(raw)
    except UnicodeDecodeError as exn:
        return None, "bad_utf8", f"{gt_path}: {exn}"
    if (reason := _text_problem(text)) is not None:
        return None, reason, str(gt_path)
    try:
        with open_image(io.BytesIO(data)) as im:
            im.load()
            if im.format == "PNG" and im.mode in ("L", "1"):
                return data, "png", text  # stored byte for byte
            gray = pil_to_gray(im)
    except ImageTooLarge as exn:
        return None, "too_large", f"{img_path}: {exn}"
    except Exception as exn:  # PIL raises many types for broken files
        msg = re.sub(r"\s*<[^>]*object at 0x[0-9a-f]+>", "", str(exn))
        return None, "corrupt_image", f"{img_path}: {type(exn).__name__}: {msg}"
    return encode_png(gray, level=6), "png", text


def _collect(src: Path, rep: ConvertReport) -> list[tuple[str, Callable[[], Item]]]:
    """The items of a source (see :func:`convert_folder`), each a stem and how to read it."""
    from menu.data.layout import Line, layout_lines, list_lines

    def lines(found: Iterable[Line]) -> list[tuple[str, Callable[[], Item]]]:
        return [(stem, functools.partial(_read_line, d, t, w)) for stem, d, t, w in found]

    if src.is_file():
        return lines(layout_lines(src) if src.suffix.lower() == ".xml" else list_lines(src))
    if not any(src.rglob("*" + _GT_SUFFIX)) and (layouts := sorted(src.rglob("*.xml"))):
        out: list[tuple[str, Callable[[], Item]]] = []
        for xml in layouts:
            try:
                out += lines(layout_lines(xml))
            except (OSError, ValueError, ET.ParseError) as exn:
                rep.skipped.setdefault("unreadable_layout", []).append(f"{xml}: {exn}")
        return out
    pairs, problems = find_pairs(src)
    rep.skipped["missing_text"] = list(problems["missing_text"])
    rep.skipped["missing_image"] = list(problems["missing_image"])
    rep.notes["extra_image_ignored"] = list(problems["extra_image"])
    return [(stem, functools.partial(_read_pair, img, gt)) for stem, img, gt in pairs]


def convert_folder(
    src: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    prefix: str = "train",
    shard_size: int = 1000,
    split: str | dict[str, float] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    report: str | os.PathLike | None = "auto",
    progress: bool = False,
) -> ConvertReport:
    """Convert a folder of ``NAME.png`` + ``NAME.gt.txt`` pairs into WebDataset shards; or
    the text lines of PAGE-XML / ALTO files (a folder of them, or one; each line cropped
    from its page image, see :mod:`menu.data.layout`), or of a ``path<TAB>label`` list.

    Unreadable images, missing/empty/non-UTF-8 transcripts are skipped, counted and
    listed in the report; the conversion still succeeds. Keys are the relative stems
    (dots -> ``_``). Grayscale/binary PNGs are stored byte-for-byte; other images are
    converted to grayscale PNG. Transcripts are stored as read (trailing newline removed,
    no NFC, no folding). ``split`` (``"train=0.9,val=0.1"``) writes one shard set per
    split name, assigned by a seeded shuffle; otherwise everything goes to ``prefix``.
    ``shuffle`` (seeded) randomizes the order inside the shards. The JSON report is
    written to ``out_dir/convert-report.json`` when ``report == "auto"``.
    """
    rep = ConvertReport()
    pairs = _collect(Path(src), rep)
    order = list(range(len(pairs)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)
    fractions = parse_split(split)
    if fractions is None:
        assign = {prefix: order}
    else:
        assign, start = {}, 0
        names = list(fractions)
        for i, name in enumerate(names):
            stop = (
                len(order) if i == len(names) - 1 else start + round(fractions[name] * len(order))
            )
            assign[name] = order[start:stop]
            start = stop
    used: set[str] = set()
    renamed: list[str] = []
    for name, idxs in assign.items():
        with ShardSink(out_dir, prefix=name, shard_size=shard_size) as sink:
            for i in tqdm(idxs, desc=f"convert {name}", disable=not progress, unit="line"):
                stem, read = pairs[i]
                data, ext_or_reason, text_or_detail = read()
                if data is None:
                    rep.skipped.setdefault(ext_or_reason, []).append(text_or_detail)
                    continue
                key = sanitize_key(stem)
                if key in used:
                    k = 1
                    while f"{key}_{k}" in used:
                        k += 1
                    key = f"{key}_{k}"
                if key != stem:
                    renamed.append(f"{stem} -> {key}")
                used.add(key)
                sink.write(key, data, text_or_detail, image_ext=ext_or_reason)
        # after the with-block: the last shard is closed and renamed into place
        rep.shards[name] = list(sink.paths)
        rep.written[name] = sink.count
    rep.notes["renamed_keys"] = renamed
    if report == "auto":
        report = Path(out_dir) / "convert-report.json"
    if report is not None:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(
            json.dumps(rep.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8"
        )
    return rep


def export_shards(
    urls: str | Sequence[str],
    out_dir: str | os.PathLike,
    *,
    limit: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Write shard samples back to a folder as ``KEY.png`` + ``KEY.gt.txt`` (for inspection).

    Image bytes are written unchanged; the transcript is written as stored plus a final
    newline. Keys with ``/`` become sub-folders (never outside ``out_dir``). Samples
    missing a member are counted by reason. Returns ``{"written": n, "skipped": {...}}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    skipped: Counter[str] = Counter()

    def handler(exn: Exception) -> bool:
        skipped["shard_error"] += 1
        warnings.warn(f"shard error: {exn}", stacklevel=2)
        return True

    written = 0
    for sample in tqdm(iter_members(urls, handler=handler), disable=not progress, unit="line"):
        ext, img = _find(sample, IMAGE_EXTS)
        _, txt = _find(sample, TEXT_EXTS)
        if img is None:
            skipped["missing_image"] += 1
            continue
        if txt is None:
            skipped["missing_text"] += 1
            continue
        key = sanitize_key(sample["__key__"])
        base = out / key
        base.parent.mkdir(parents=True, exist_ok=True)
        base.with_name(f"{base.name}.{ext}").write_bytes(img)
        body = bytes(txt)
        base.with_name(base.name + _GT_SUFFIX).write_bytes(
            body if body.endswith(b"\n") else body + b"\n"
        )
        written += 1
        if limit is not None and written >= limit:
            break
    return {"written": written, "skipped": dict(skipped)}


def folder_as_shards(src: str | os.PathLike, out_dir: str | os.PathLike) -> str:
    """A folder of ``NAME.png`` + ``NAME.gt.txt`` pairs as one shard for *evaluation*: every
    transcript becomes a sample, its image stored as found (an unreadable or missing image is
    then scored as an empty hypothesis, with its reason, like in any evaluation); images
    without a transcript are samples without a label (skipped as ``missing_text``).
    Returns the shard's path."""
    pairs, problems = find_pairs(src)
    gts_alone = [Path(p) for p in problems["missing_image"]]
    out = Path(out_dir) / "folder-000000.tar"
    out.parent.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(out)) as sink:
        for stem, img, gt in pairs:
            ext = "png" if img.suffix.lower() == ".png" else img.suffix.lower().lstrip(".")
            sink.write(
                {"__key__": sanitize_key(stem), ext: img.read_bytes(), "txt": gt.read_bytes()}
            )
        for gt in gts_alone:
            stem = os.path.relpath(str(gt)[: -len(_GT_SUFFIX)], src)
            sink.write({"__key__": sanitize_key(stem), "txt": gt.read_bytes()})
        for img in problems["missing_text"]:
            stem = os.path.relpath(os.path.splitext(img)[0], src)
            sink.write({"__key__": sanitize_key(stem), "png": Path(img).read_bytes()})
    return str(out)
