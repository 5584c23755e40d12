"""WebDataset line shards: URL expansion, sample decoding, writing, folder <-> shard conversion.

Shard format: one sample = ``KEY.png`` (grayscale or binary line image) + ``KEY.txt``
(UTF-8 transcript, one line), optionally ``KEY.json`` (metadata such as the font of a
synthetic line; training ignores it, evaluation breaks errors down by it). Keys may
contain ``/`` (kept from nested folders) but no ``.`` in the last path component
(WebDataset splits the extension at the first dot).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import braceexpand
import numpy as np
import webdataset as wds

from menu.data.codec import Codec, clean_text
from menu.data.image import (
    IMAGE_EXTS,
    ImageTooLarge,
    decode_image,
)

__all__ = [
    "LABEL_PROBLEMS",
    "SKIP_REASONS",
    "ShardSink",
    "SkipSample",
    "codec_from_shards",
    "decode_line_image",
    "decode_meta",
    "decode_sample",
    "decode_text",
    "expand_urls",
    "is_remote",
    "iter_members",
    "read_meta",
    "read_shards",
    "sanitize_key",
    "scan_texts",
]

log = logging.getLogger(__name__)

#: Reasons a sample can be skipped, with their meaning (loader, converter, exporter).
SKIP_REASONS: dict[str, str] = {
    "corrupt_image": "image bytes cannot be decoded",
    "missing_text": "no .txt transcript for the image",
    "missing_image": "transcript without an image",
    "bad_utf8": "transcript is not valid UTF-8",
    "empty_text": "transcript empty or whitespace only",
    "multiline_text": "transcript has more than one line",
    "too_small": "image smaller than the minimum size",
    "too_wide": "image wider than max_width after normalization",
    "too_large": "image header declares more pixels than the limit (a decompression bomb?)",
    "norm_error": "normalization raised an exception",
    "shard_error": "shard with tar-level errors (unreadable, truncated, duplicate member)",
}


class SkipSample(Exception):
    """Raised by :func:`decode_sample` for bad samples; ``reason`` is a SKIP_REASONS key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def is_remote(url: str) -> bool:
    """True for ``pipe:`` commands and ``scheme://`` URLs (not expanded on the local disk)."""
    return url.startswith("pipe:") or bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url))


def expand_urls(
    urls: str | os.PathLike | Sequence[str | os.PathLike], base: str | None = None
) -> list[str]:
    """Expand shard specs into a list of shard URLs/paths.

    Accepts a string or a list of strings, each a brace pattern
    (``shards/train-{000000..000009}.tar``), a glob (``*``/``?``/``[``), a directory
    (all ``*.tar`` in it), a single path, a ``pipe:`` command or an ``http(s)://`` URL.
    Relative local paths are resolved against ``base`` when given. Local paths must exist:
    a missing shard raises :class:`FileNotFoundError` naming it.
    """
    items = [urls] if isinstance(urls, str | os.PathLike) else list(urls)
    out: list[str] = []
    for item in items:
        spec = os.fspath(item)
        if is_remote(spec):
            out.extend(braceexpand.braceexpand(spec))
            continue
        if spec.startswith("file:"):
            spec = spec[5:]
        for path in braceexpand.braceexpand(os.path.expanduser(spec)):
            if base is not None and not os.path.isabs(path):
                path = os.path.join(base, path)
            if any(ch in path for ch in "*?["):
                found = sorted(glob.glob(path, recursive=True))
                if not found:
                    raise FileNotFoundError(f"no shards match {path!r} (from {spec!r})")
                out.extend(found)
            elif os.path.isdir(path):
                found = sorted(glob.glob(os.path.join(path, "*.tar")))
                if not found:
                    raise FileNotFoundError(f"directory {path!r} contains no .tar shards")
                out.extend(found)
            elif os.path.exists(path):
                out.append(path)
            else:
                raise FileNotFoundError(f"shard not found: {path!r} (from {spec!r})")
    if not out:
        raise FileNotFoundError(f"no shards given: {urls!r}")
    return out


def _ext_of(fname: str) -> str | None:
    base = fname.rsplit("/", 1)[-1]
    return base.split(".", 1)[1].lower() if "." in base else None


def iter_members(
    urls: str | Sequence[str],
    exts: Sequence[str] | None = None,
    handler: Callable[[Exception], bool] | None = None,
) -> Iterator[dict[str, Any]]:
    """Iterate WebDataset samples (raw bytes per extension) of the given shards.

    ``exts`` restricts which members are read (e.g. ``("txt",)`` to scan only
    transcripts). Tar-level errors go to ``handler`` (default: warn and continue).
    """
    shards = expand_urls(urls)
    select = None
    if exts is not None:
        wanted = {e.lower() for e in exts}

        def select(fname: str) -> bool:
            return _ext_of(fname) in wanted

    src = iter([{"url": u} for u in shards])
    yield from wds.tarfile_to_samples(
        handler=handler or wds.warn_and_continue, select_files=select
    )(src)


def read_shards(
    shards: Sequence[str], skipped: Counter[str], mod: int = 1, rem: int = 0
) -> Iterator[dict[str, Any]]:
    """Raw samples of ``shards`` in order (every ``mod``-th from ``rem`` when readers share
    a shard). A shard with tar-level errors (unreadable, truncated, duplicate member) counts
    once as ``shard_error`` in ``skipped`` (by reader 0 only, so sums over readers are
    exact); the samples read before the error are kept. The one reading path of the loader,
    ``menu-eval`` and ``menu-data stats``, so they count damaged data the same way."""
    i = 0
    for url in shards:
        errors: list[Exception] = []

        def handler(exn: Exception, errors: list[Exception] = errors, url: str = url) -> bool:
            if not errors and rem == 0:
                skipped["shard_error"] += 1
                log.warning("skipping unreadable data in shard %s: %s", url, exn)
            errors.append(exn)
            return True

        for sample in wds.tarfile_to_samples(handler=handler)(iter([{"url": url}])):
            i += 1
            if mod > 1 and (i - 1) % mod != rem:
                continue
            yield sample


def scan_texts(urls: str | Sequence[str], limit: int | None = None) -> Iterator[str]:
    """Yield the cleaned transcripts of shards, reading only the ``.txt`` members.

    Samples with undecodable or empty text are skipped (the loader counts those).
    """
    n = 0
    for sample in iter_members(urls, exts=("txt", "gt.txt")):
        raw = sample.get("txt", sample.get("gt.txt"))
        if raw is None:
            continue
        try:
            text = clean_text(raw)
        except UnicodeDecodeError:
            continue
        if not text.strip():
            continue
        yield text
        n += 1
        if limit is not None and n >= limit:
            return


def codec_from_shards(urls: str | Sequence[str], nfc: bool = True) -> Codec:
    """Build the codec from all transcripts of the given (training) shards."""
    return Codec.from_texts(scan_texts(urls), nfc=nfc)


def decode_meta(sample: dict[str, Any]) -> dict[str, Any]:
    """A raw sample's ``KEY.json`` metadata (e.g. the font of a generated line); ``{}`` when
    it has none or it is not a JSON object."""
    try:
        meta = json.loads(sample["json"])
    except (KeyError, ValueError, TypeError):
        return {}
    return meta if isinstance(meta, dict) else {}


def read_meta(urls: str | Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each sample's ``KEY.json`` metadata by key (only the json members are read);
    samples without it, or with unreadable json, are left out."""
    out: dict[str, dict[str, Any]] = {}
    for sample in iter_members(urls, exts=("json",)):
        if meta := decode_meta(sample):
            out[str(sample["__key__"])] = meta
    return out


def _find(sample: dict[str, Any], exts: Iterable[str]) -> tuple[str, Any] | tuple[None, None]:
    for e in exts:
        if e in sample:
            return e, sample[e]
    return None, None


TEXT_EXTS = ("txt", "gt.txt")


#: Skip reasons that leave a sample without a usable transcript (it is not a labelled line).
LABEL_PROBLEMS = ("missing_text", "bad_utf8", "empty_text", "multiline_text")


def decode_text(sample: dict[str, Any]) -> str:
    """The cleaned transcript of a raw WebDataset sample; :class:`SkipSample` with one of
    :data:`LABEL_PROBLEMS` when there is no usable one. Strict UTF-8, trailing line breaks
    removed, spaces kept, not NFC-normalized (the loader does that)."""
    _, txt_bytes = _find(sample, TEXT_EXTS)
    if txt_bytes is None:
        raise SkipSample("missing_text", str(sample.get("__key__")))
    try:
        text = clean_text(txt_bytes)
    except UnicodeDecodeError as exn:
        raise SkipSample("bad_utf8", str(exn)) from None
    if not text.strip():
        raise SkipSample("empty_text")
    if "\n" in text or "\r" in text:
        raise SkipSample("multiline_text")
    return text


def decode_line_image(sample: dict[str, Any], max_pixels: int | None = None) -> np.ndarray:
    """The uint8 grayscale image of a raw sample; :class:`SkipSample` (``missing_image``,
    ``corrupt_image``, ``too_large``: over ``max_pixels``, checked before decoding) when
    there is none or it cannot be decoded."""
    _, img_bytes = _find(sample, IMAGE_EXTS)
    if img_bytes is None:
        raise SkipSample("missing_image", str(sample.get("__key__")))
    try:
        return decode_image(img_bytes, max_pixels)
    except ImageTooLarge as exn:
        raise SkipSample("too_large", str(exn)) from None
    except Exception as exn:  # PIL raises many types for broken files
        raise SkipSample("corrupt_image", f"{type(exn).__name__}: {exn}") from None


def decode_sample(sample: dict[str, Any], max_pixels: int | None = None) -> tuple[np.ndarray, str]:
    """Raw WebDataset sample -> (uint8 grayscale image, cleaned transcript).

    Raises :class:`SkipSample` with the reason for bad samples; never anything else.
    A sample with neither image nor transcript is ``missing_image``.
    """
    if _find(sample, IMAGE_EXTS)[1] is None:
        raise SkipSample("missing_image", str(sample.get("__key__")))
    text = decode_text(sample)
    return decode_line_image(sample, max_pixels), text


def sanitize_key(rel: str) -> str:
    """WebDataset-safe key from a relative path stem: ``/`` kept, dots/blanks -> ``_``."""
    parts = [p for p in re.split(r"[\\/]+", rel) if p not in ("", ".", "..")]
    parts = [re.sub(r"[.\s\x00-\x1f]", "_", p) for p in parts]
    return "/".join(parts) or "_"


class ShardSink:
    """Writes samples into ``{out_dir}/{prefix}-{NNNNNN}.tar`` shards of ``shard_size`` samples.

    Each shard is written to a temporary file and renamed when complete, so readers
    never see partial shards. Member mtimes are fixed, so identical input gives
    byte-identical shards. Use as a context manager; ``paths`` lists finished shards.
    """

    def __init__(
        self, out_dir: str | os.PathLike, prefix: str = "train", shard_size: int = 1000
    ) -> None:
        if shard_size < 1:
            raise ValueError("shard_size must be >= 1")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.shard_size = int(shard_size)
        self.paths: list[str] = []
        self.count = 0
        self._writer: wds.TarWriter | None = None
        self._tmp: Path | None = None
        self._final: Path | None = None
        self._in_shard = 0

    def _open(self) -> None:
        idx = len(self.paths)
        self._final = self.out_dir / f"{self.prefix}-{idx:06d}.tar"
        self._tmp = self._final.with_name(f".{self._final.name}.{os.getpid()}.tmp")
        self._writer = wds.TarWriter(
            str(self._tmp), encoder=False, mtime=0.0, user="menu", group="menu"
        )
        self._in_shard = 0

    def _close(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        assert self._tmp is not None and self._final is not None
        os.replace(self._tmp, self._final)
        self.paths.append(str(self._final))
        self._writer = None

    def write(
        self,
        key: str,
        png: bytes,
        text: str | bytes,
        image_ext: str = "png",
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Add one sample (image bytes + transcript, and ``meta`` as ``KEY.json``)."""
        if self._writer is None:
            self._open()
        assert self._writer is not None
        txt = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        sample = {"__key__": key, image_ext: png, "txt": txt}
        if meta:
            sample["json"] = json.dumps(meta, sort_keys=True, ensure_ascii=False).encode()
        self._writer.write(sample)
        self._in_shard += 1
        self.count += 1
        if self._in_shard >= self.shard_size:
            self._close()

    def close(self) -> list[str]:
        """Finish the last shard; returns all shard paths."""
        self._close()
        return self.paths

    def abort(self) -> None:
        """Drop the unfinished shard (on error)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            if self._tmp is not None and self._tmp.exists():
                self._tmp.unlink()

    def __enter__(self) -> ShardSink:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def brace_pattern(paths: Sequence[str]) -> str:
    """Compact brace pattern for consecutive ``PREFIX-NNNNNN.tar`` paths (else ``{a,b,...}``)."""
    if not paths:
        raise ValueError("no shard paths")
    if len(paths) == 1:
        return paths[0]
    m = re.match(r"^(.*-)(\d{6})\.tar$", paths[0])
    if m:
        head, first = m.group(1), int(m.group(2))
        expect = [f"{head}{i:06d}.tar" for i in range(first, first + len(paths))]
        if list(paths) == expect:
            return f"{head}{{{first:06d}..{first + len(paths) - 1:06d}}}.tar"
    return "{" + ",".join(paths) + "}"
