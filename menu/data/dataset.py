"""Line shards as ready-made batches (one pass of one reader): decode, validate, normalize,
shuffle, bucket by width and pad. The batch layout and the skip/``score_all`` rules are
described in :mod:`menu.data.loader`, which wraps this dataset in a DataLoader."""

from __future__ import annotations

import logging
import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import IterableDataset, get_worker_info

from menu.data.shards import (
    SkipSample,
    decode_line_image,
    decode_meta,
    decode_sample,
    decode_text,
    expand_urls,
    read_shards,
)
from menu.data.upright import is_tall, turned

__all__ = ["LineDataset", "collate", "sum_skipped", "uncollate"]

log = logging.getLogger(__name__)


def _dist_info() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def collate(samples: Sequence[dict[str, Any]], empty_height: int = 1) -> dict[str, Any]:
    """Pad samples (dicts: ``image`` HxW float32, ``text``, ``key``, ``url``, ``meta``) into
    a batch."""
    hs = [s["image"].shape[0] for s in samples]
    ws = [s["image"].shape[1] for s in samples]
    out = np.zeros((len(samples), 1, max(hs, default=empty_height), max(ws, default=1)), np.float32)
    for i, s in enumerate(samples):
        out[i, 0, : hs[i], : ws[i]] = s["image"]
    return {
        "images": torch.from_numpy(out),
        "widths": torch.tensor(ws, dtype=torch.int64),
        "heights": torch.tensor(hs, dtype=torch.int64),
        "texts": [s["text"] for s in samples],
        "keys": [s["key"] for s in samples],
        "urls": [s["url"] for s in samples],
        "meta": [s.get("meta") or {} for s in samples],
        "alts": [s.get("alt") for s in samples],  # the other turn of a tall line, or None
    }


def uncollate(batch: dict[str, Any]) -> list[dict[str, Any]]:
    """The samples of a :func:`collate` batch (images cut back to their own size)."""
    heights, alts = batch["heights"].tolist(), batch["alts"]
    return [
        {
            "image": batch["images"][i, 0, : heights[i], :w].numpy(),
            "text": batch["texts"][i],
            "key": batch["keys"][i],
            "url": batch["urls"][i],
            "meta": batch["meta"][i],
            "alt": alts[i],
        }
        for i, w in enumerate(batch["widths"].tolist())
    ]


def sum_skipped(batches_skipped: Sequence[dict[str, int]]) -> dict[str, int]:
    """Sum the ``skipped`` dicts of many batches (what the trainer logs)."""
    total: Counter[str] = Counter()
    for d in batches_skipped:
        total.update(d)
    return dict(total)


class LineDataset(IterableDataset):
    """Iterable dataset of ready-made batches (see module docstring).

    ``epoch`` is set by :class:`LineLoader` before each pass (shard order and shuffle
    buffer are seeded by ``seed``, ``epoch``, DDP rank and worker id). ``upright``: an
    image at least this many times taller than wide is turned a quarter clockwise, and the
    sample carries the counterclockwise turn as ``alt`` (``menu.data.upright``; 0: never).
    """

    def __init__(
        self,
        urls: str | Sequence[str],
        norm: Callable[[np.ndarray], np.ndarray],
        *,
        batch_size: int,
        shuffle: int = 0,
        bucket: bool = False,
        bucket_pool: int = 8,
        max_width: int = 3000,
        min_width: int = 4,
        min_height: int = 4,
        max_pixels: int | None = None,
        seed: int = 0,
        epoch_length: int | None = None,
        nfc: bool = True,
        split_by_rank: bool = True,
        score_all: bool = False,
        upright: float = 0.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.urls = expand_urls(urls)
        self.norm = norm
        self.batch_size = int(batch_size)
        self.shuffle = max(0, int(shuffle))
        self.bucket = bool(bucket)
        self.bucket_pool = max(1, int(bucket_pool))
        self.max_width = int(max_width)
        self.max_pixels = max_pixels
        self.min_width = int(min_width)
        self.min_height = int(min_height)
        self.seed = int(seed)
        self.epoch_length = None if epoch_length is None else int(epoch_length)
        self.nfc = bool(nfc)
        self.split_by_rank = bool(split_by_rank)
        self.score_all = bool(score_all)
        self.upright = float(upright)
        self.epoch = 0

    # ------------------------------------------------------------------ stages
    def _shards(self, n: int, k: int, rng: random.Random) -> tuple[list[str], int, int]:
        """Shards for reader ``k`` of ``n`` (DDP ranks x workers), plus sample-split (mod, rem).

        Shards are split among readers when there are enough of them; otherwise every
        reader reads all shards and keeps every n-th sample. All readers shuffle the
        shard list identically (same seed), so the split is a partition.
        """
        shards = list(self.urls)
        if self.shuffle > 0:
            rng.shuffle(shards)
        if len(shards) >= n:
            return shards[k::n], 1, 0
        return shards, n, k

    def _samples(
        self, shards: list[str], mod: int, rem: int, skipped: Counter[str], failed: list[dict]
    ) -> Iterator[dict[str, Any]]:
        """Decoded good samples of ``shards``; a shard with tar-level errors counts once.

        When readers split a shard by sample (``mod > 1``) only reader 0 counts its
        tar-level errors, so the sum over workers stays exact.
        """
        for sample in read_shards(shards, skipped, mod, rem):
            out = self._prepare(sample, skipped, failed)
            if out is not None:
                yield out

    def _prepare(
        self, sample: dict[str, Any], skipped: Counter[str], failed: list[dict]
    ) -> dict[str, Any] | None:
        """Decode, validate and normalize one raw sample; None if it is bad (counted in
        ``skipped``, or with ``score_all`` listed in ``failed`` when it has a transcript)."""
        if not self.score_all:
            try:
                img, text = decode_sample(sample, self.max_pixels)
            except SkipSample as skip:
                skipped[skip.reason] += 1
                return None
            h, w = img.shape
            if h < self.min_height or w < self.min_width:
                skipped["too_small"] += 1
                return None
        else:
            try:
                text = decode_text(sample)
            except SkipSample as skip:
                skipped[skip.reason] += 1
                return None
            try:
                img = decode_line_image(sample, self.max_pixels)
            except SkipSample as skip:
                return self._fail(sample, text, skip.reason, skipped, failed)
        key = sample["__key__"]
        alt = None
        if is_tall(img.shape, self.upright):
            img, alt = turned(img)
        h, w = img.shape
        height = getattr(self.norm, "height", None)
        est_w = w * height / max(h, 1) if height else w
        if est_w > 4 * self.max_width:  # hopeless: don't spend time normalizing
            return self._fail(sample, text, "too_wide", skipped, failed)
        try:
            image = self.norm(img)
            alt = None if alt is None else self._fit(self.norm(alt))
        except Exception as exn:
            log.warning("normalization failed for %s: %s", key, exn)
            return self._fail(sample, text, "norm_error", skipped, failed)
        if image.shape[1] > self.max_width:
            return self._fail(sample, text, "too_wide", skipped, failed)
        if self.score_all:  # pad small lines with background (ink 0) instead of dropping them
            image = self._fit(image)
        elif image.shape[1] < self.min_width:
            skipped["too_small"] += 1
            return None
        out = {
            "image": image,
            "text": self._nfc(text),
            "key": key,
            "url": sample.get("__url__", ""),
            "meta": decode_meta(sample),
        }
        return out if alt is None else out | {"alt": alt}

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """``image`` padded with background (ink 0) to the minimum height and width."""
        pad_h = max(0, self.min_height - image.shape[0])
        pad_w = max(0, self.min_width - image.shape[1])
        return np.pad(image, ((0, pad_h), (0, pad_w))) if pad_h or pad_w else image

    def _nfc(self, text: str) -> str:
        return unicodedata.normalize("NFC", text) if self.nfc else text

    def _fail(
        self,
        sample: dict[str, Any],
        text: str,
        reason: str,
        skipped: Counter[str],
        failed: list[dict],
    ) -> None:
        """A labelled line without a usable image: skipped (training) or listed (score_all)."""
        if not self.score_all:
            skipped[reason] += 1
            return None
        failed.append(
            {
                "key": sample["__key__"],
                "text": self._nfc(text),
                "url": sample.get("__url__", ""),
                "meta": decode_meta(sample),
                "reason": reason,
            }
        )
        return None

    def _groups(
        self, samples: Iterator[dict[str, Any]], rng: random.Random
    ) -> Iterator[list[dict[str, Any]]]:
        """Group samples into batches; with ``bucket`` sort pools by width and shuffle batches."""
        bs = self.batch_size
        if not self.bucket:
            group: list[dict[str, Any]] = []
            for s in samples:
                group.append(s)
                if len(group) == bs:
                    yield group
                    group = []
            if group:
                yield group
            return
        pool: list[dict[str, Any]] = []

        def flush(final: bool) -> Iterator[list[dict[str, Any]]]:
            pool.sort(key=lambda s: s["image"].shape[1])
            batches = [pool[i : i + bs] for i in range(0, len(pool), bs)]
            # a partial batch waits for more lines, except at the end
            keep = batches.pop() if batches and len(batches[-1]) < bs and not final else []
            if self.shuffle > 0:
                rng.shuffle(batches)
            pool[:] = keep
            yield from batches

        for s in samples:
            pool.append(s)
            if len(pool) >= bs * self.bucket_pool:
                yield from flush(final=False)
        if pool:
            yield from flush(final=True)

    # ------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rank, world = _dist_info() if self.split_by_rank else (0, 1)
        skipped: Counter[str] = Counter()
        failed: list[dict] = []
        # string seeds are hashed deterministically by random.Random (unlike hash())
        shard_rng = random.Random(f"menu-shards-{self.seed}-{self.epoch}")
        rng = random.Random(f"menu-samples-{self.seed}-{self.epoch}-{rank}-{worker}")
        n, k = world * workers, rank * workers + worker
        if self.epoch_length is None:
            shards, mod, rem = self._shards(n, k, shard_rng)
            samples = self._samples(shards, mod, rem, skipped, failed)
            limit = None
        else:
            samples = self._repeat(n, k, shard_rng, skipped, failed)
            limit = self.epoch_length // n + (1 if k < self.epoch_length % n else 0)
            if limit == 0:
                return
        if self.shuffle > 0:
            samples = wds.filters._shuffle(
                samples, bufsize=self.shuffle, initial=self.shuffle, rng=rng
            )

        def take(batch: dict[str, Any]) -> dict[str, Any]:
            """Attach the skip counts (and failed lines) seen since the previous batch."""
            batch["skipped"] = dict(skipped)
            skipped.clear()
            if self.score_all:
                batch["failed"] = failed[:]
                failed.clear()
            return batch

        pending: dict[str, Any] | None = None
        count = 0
        for group in self._groups(samples, rng):
            if pending is not None:
                yield take(pending)
                count += 1
            pending = collate(group)
            if limit is not None and count + 1 >= limit:
                break
        if pending is not None:
            # the last batch carries every count seen after the previous one
            yield take(pending)
        elif skipped or failed:
            empty = collate([], empty_height=getattr(self.norm, "height", None) or 1)
            yield take(empty)

    def _repeat(
        self, n: int, k: int, rng: random.Random, skipped: Counter[str], failed: list[dict]
    ) -> Iterator[dict[str, Any]]:
        """Endless passes over this reader's shards (reshuffled each pass) until one is empty."""
        while True:
            shards, mod, rem = self._shards(n, k, rng)
            got = False
            for s in self._samples(shards, mod, rem, skipped, failed):
                got = True
                yield s
            if not got:
                return
