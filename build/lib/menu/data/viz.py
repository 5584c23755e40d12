"""Contact sheets (raw vs normalized lines) and shard statistics."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from menu.data.shards import (
    SkipSample,
    decode_line_image,
    decode_sample,
    decode_text,
    expand_urls,
    iter_members,
    read_shards,
)

__all__ = ["contact_sheet", "format_stats", "load_norms", "read_lines", "shard_stats"]

Norm = Callable[[np.ndarray], np.ndarray]


def load_norms(names: Sequence[str] | None = None, height: int | None = None) -> dict[str, Norm]:
    """Normalizers of the ``norm`` group's options (all when ``names`` is None), built from
    their YAML files; ``height`` overrides the height of fixed-height norms."""
    from omegaconf import OmegaConf

    from menu.config import CONF_DIR, options
    from menu.registry import instantiate_option

    available = options("norm")
    out: dict[str, Norm] = {}
    for name in list(names) if names else available:
        if name not in available:
            raise ValueError(f"unknown norm {name!r}; available: {', '.join(available)}")
        cfg = OmegaConf.load(CONF_DIR / "norm" / f"{name}.yaml")
        if height is not None and cfg.get("height") is not None:
            cfg.height = height
        out[name] = instantiate_option("norm", cfg)
    return out


def read_lines(
    urls: str | Sequence[str], n: int, skip: int = 0
) -> list[tuple[str, np.ndarray, str]]:
    """First ``n`` good samples (after ``skip``) of shards as (key, uint8 image, text)."""
    out: list[tuple[str, np.ndarray, str]] = []
    seen = 0
    for sample in iter_members(urls):
        try:
            img, text = decode_sample(sample)
        except SkipSample:
            continue
        seen += 1
        if seen <= skip:
            continue
        out.append((sample["__key__"], img, text))
        if len(out) >= n:
            break
    return out


def _label_font(size: int = 13) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        return ImageFont.truetype(str(path), size)
    except Exception:  # pragma: no cover
        return ImageFont.load_default()


def contact_sheet(
    lines: Sequence[tuple[str, np.ndarray, str]],
    norms: Mapping[str, Norm],
    out_path: str | os.PathLike,
    max_width: int = 1400,
) -> Path:
    """Write a PNG showing, per line, the raw image and each normalized version.

    Normalized images are drawn black-on-white with a red line at ``h/2`` and a grey
    frame marking the output box, so centering and cropping are easy to judge.
    """
    font = _label_font()
    label_w = 70
    pad = 6
    blocks: list[tuple[str, list[tuple[str, Image.Image]]]] = []
    for key, img, text in lines:
        rows: list[tuple[str, Image.Image]] = [
            ("raw", Image.fromarray(np.asarray(img, np.uint8)).convert("RGB"))
        ]
        for name, norm in norms.items():
            ink = norm(img)
            g = (255 - np.clip(ink, 0, 1) * 255).astype(np.uint8)
            rgb = np.stack([g, g, g], axis=2)
            mid = ink.shape[0] // 2
            light = rgb[mid, :, 0] > 200
            rgb[mid, light] = (255, 150, 150)  # h/2 guide where there is no ink
            im = Image.fromarray(rgb, "RGB")
            framed = Image.new("RGB", (im.width + 2, im.height + 2), (150, 150, 220))
            framed.paste(im, (1, 1))
            rows.append((f"{name} {ink.shape[0]}", framed))
        blocks.append((f"{key}: {text}", rows))
    width = min(
        max_width, label_w + max((r.width for _, rows in blocks for _, r in rows), default=1) + pad
    )
    height = sum(18 + sum(r.height + pad for _, r in rows) + pad for _, rows in blocks) + pad
    sheet = Image.new("RGB", (width, height), (235, 235, 235))
    draw = ImageDraw.Draw(sheet)
    y = pad
    for title, rows in blocks:
        draw.text((pad, y), title[:200], fill=(0, 0, 120), font=font)
        y += 18
        for name, im in rows:
            draw.text((pad, y + max(0, im.height // 2 - 7)), name, fill=(0, 0, 0), font=font)
            sheet.paste(im, (label_w, y))
            y += im.height + pad
        y += pad
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


def shard_stats(
    urls: str | Sequence[str], limit: int | None = None, bins: int = 12
) -> dict[str, Any]:
    """Counts, skipped samples by reason, character set and size histograms of shards."""
    import unicodedata

    skipped: Counter[str] = Counter()
    chars: Counter[str] = Counter()
    widths, heights, lengths = [], [], []
    n = labelled = 0
    for sample in read_shards(expand_urls(urls), skipped):
        try:
            text = decode_text(sample)
        except SkipSample as s:
            skipped[s.reason] += 1
            continue
        labelled += 1
        try:
            img = decode_line_image(sample)
        except SkipSample as s:
            skipped[s.reason] += 1
            continue
        text = unicodedata.normalize("NFC", text)
        chars.update(text)
        heights.append(img.shape[0])
        widths.append(img.shape[1])
        lengths.append(len(text))
        n += 1
        if limit is not None and n >= limit:
            break
    w = np.asarray(widths or [0])
    counts, edges = np.histogram(w, bins=bins)
    return {
        "samples": n,
        "labelled": labelled,  # what menu-eval scores: every line with a usable transcript
        "skipped": dict(skipped),
        "chars": "".join(sorted(chars)),
        "char_counts": dict(chars.most_common()),
        "width": {"min": int(w.min()), "median": float(np.median(w)), "max": int(w.max())},
        "height": {
            "min": int(min(heights, default=0)),
            "median": float(np.median(heights)) if heights else 0.0,
            "max": int(max(heights, default=0)),
        },
        "text_length": {
            "min": int(min(lengths, default=0)),
            "mean": float(np.mean(lengths)) if lengths else 0.0,
            "max": int(max(lengths, default=0)),
        },
        "width_hist": {"counts": counts.tolist(), "edges": edges.tolist()},
    }


def format_stats(st: dict[str, Any]) -> str:
    """Human-readable rendering of :func:`shard_stats`."""
    lines = [
        f"samples: {st['samples']} readable of {st['labelled']} labelled lines",
        "skipped: " + (", ".join(f"{k}={v}" for k, v in sorted(st["skipped"].items())) or "none"),
        f"characters ({len(st['chars'])}): {st['chars']!r}",
        "raw height min/median/max: {min}/{median:g}/{max}".format(**st["height"]),
        "raw width  min/median/max: {min}/{median:g}/{max}".format(**st["width"]),
        "text length min/mean/max: {min}/{mean:.1f}/{max}".format(**st["text_length"]),
        "raw width histogram:",
    ]
    counts, edges = st["width_hist"]["counts"], st["width_hist"]["edges"]
    top = max(counts) or 1
    for c, a, b in zip(counts, edges[:-1], edges[1:], strict=True):
        lines.append(f"  {a:7.0f}-{b:7.0f} {c:6d} " + "#" * round(40 * c / top))
    return "\n".join(lines)
