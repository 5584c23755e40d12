"""Streaming line loader: WebDataset shards -> normalized, padded batches for CTC.

Pipeline (per DataLoader worker): shard list (seeded shuffle per epoch) -> split among
DDP ranks and workers -> ``wds.tarfile_to_samples`` -> decode/validate/normalize (bad
samples are skipped and counted by reason, never raised) -> seeded shuffle buffer ->
batching (optionally bucketed by width) -> padding.

Each batch is a dict::

    images  float32 B x 1 x H x W   ink 1, zero padding right/bottom
    widths  int64 B                 true width of each normalized image
    heights int64 B                 true height (varies only for NoNorm)
    texts   list[str]               NFC transcripts, spaces kept
    keys    list[str]               WebDataset __key__
    urls    list[str]               shard each sample came from
    meta    list[dict]              each sample's KEY.json metadata ({} if none), e.g. its font
    skipped dict[str, int]          samples skipped by reason since this worker's previous batch
    failed  list[dict]              (``score_all`` only) labelled lines without a usable image
                                    since the previous batch: key, text, url, reason

The last partial batch is kept (right for evaluation). Skip counts
that occur after a worker's last batch are added to that last batch, so the sum of
``skipped`` over an epoch is exact. A worker that saw only bad samples yields one
*empty* batch (B = 0, ``images`` 0 x 1 x H x 1) that only carries ``skipped``; consumers
must skip batches with ``len(batch["keys"]) == 0``.

With ``score_all`` (evaluation) every labelled line comes out: images smaller than the
minimum are padded with background instead of skipped, and a line whose image is missing,
cannot be decoded or normalized, or is too wide, is listed in ``failed`` with its reason
(an evaluation scores it as an empty hypothesis). Only samples without a usable transcript
(``LABEL_PROBLEMS``) and unreadable shards are skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from menu.data.dataset import LineDataset, _dist_info, collate, sum_skipped

__all__ = ["LineDataset", "LineLoader", "collate", "make_loader", "sum_skipped"]


def _identity(x: Any) -> Any:
    return x


def _skipping(iterator: Iterator[dict[str, Any]], skip: int) -> Iterator[dict[str, Any]]:
    """``iterator`` without its first ``skip`` batches; their skip counts (and failed
    lines) travel on with the first batch that is kept."""
    skipped: Counter[str] = Counter()
    failed: list[dict] = []
    for _ in range(skip):
        batch = next(iterator, None)
        if batch is None:
            return
        skipped.update(batch.get("skipped") or {})
        failed.extend(batch.get("failed") or ())
    first = True
    for batch in iterator:
        if first:
            batch["skipped"] = dict(skipped + Counter(batch.get("skipped") or {}))
            if failed:
                batch["failed"] = failed + list(batch.get("failed") or ())
            first = False
        yield batch


class LineLoader(DataLoader):
    """DataLoader over a :class:`LineDataset` that advances the dataset epoch on each pass.

    ``set_epoch(e)`` fixes the next pass's epoch explicitly (same seed + epoch = same order);
    ``resume(e, k)`` also skips the first ``k`` batches of that pass (a run resumed in the
    middle of epoch ``e``), adding their skip counts to the first batch it yields.
    """

    def __init__(self, dataset: LineDataset, **kwargs: Any) -> None:
        kwargs.setdefault("batch_size", None)
        kwargs.setdefault("collate_fn", _identity)
        super().__init__(dataset, **kwargs)
        self._next_epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next iteration."""
        self._next_epoch = int(epoch)

    def resume(self, epoch: int, batches: int) -> None:
        """Make the next iteration epoch ``epoch`` without its first ``batches`` batches."""
        self.set_epoch(epoch)
        self._skip = max(0, int(batches))

    def __iter__(self):  # type: ignore[override]
        self.dataset.epoch = self._next_epoch  # type: ignore[attr-defined]
        self._next_epoch += 1
        skip, self._skip = self._skip, 0
        iterator = super().__iter__()
        if not skip:
            return iterator
        return _skipping(iterator, skip)

    def __len__(self) -> int:
        ds: LineDataset = self.dataset  # type: ignore[assignment]
        if ds.epoch_length is not None:  # this rank's share, as LineDataset.__iter__ splits it
            rank, world = _dist_info() if ds.split_by_rank else (0, 1)
            workers = max(1, self.num_workers)
            n = world * workers
            ks = range(rank * workers, (rank + 1) * workers)
            return sum(ds.epoch_length // n + (1 if k < ds.epoch_length % n else 0) for k in ks)
        raise TypeError("length unknown for a streaming loader without epoch_length")


def make_loader(
    urls: str | Sequence[str],
    norm: Callable[[np.ndarray], np.ndarray],
    *,
    batch_size: int,
    shuffle: int,
    workers: int,
    bucket: bool = False,
    max_width: int = 3000,
    min_width: int = 4,
    seed: int = 0,
    epoch_length: int | None = None,
    split_by_rank: bool = True,
    nfc: bool = True,
    score_all: bool = False,
    max_pixels: int | None = None,
    upright: float = 0.0,
) -> LineLoader:
    """Build the streaming batch loader for line shards.

    ``urls``: brace pattern, glob, directory, path, ``pipe:`` command, http URL, or a list.
    ``norm``: a normalizer (``menu.data.normalize``). ``shuffle``: shuffle buffer size
    (0 = file order, no shard shuffling; use 0 for evaluation). ``workers``: DataLoader
    processes (0 = in-process). ``bucket``: sort pools of 8 batches by width
    to reduce padding. ``max_width``/``min_width``: normalized-width limits (outside =
    skipped as ``too_wide``/``too_small``).
    ``max_pixels``: images whose header declares more are not decoded (``too_large``;
    default ``menu.data.image.MAX_PIXELS``). ``epoch_length``: batches per epoch (shards
    are repeated as needed); None = one pass.
    ``nfc``: NFC-normalize transcripts. A worker with only bad samples reports them in a
    B = 0 batch. ``score_all``: every
    labelled line comes out, in a batch or in its ``failed`` list (evaluation; see the
    module docstring). ``upright``: images at least this many times taller than wide are
    turned (``menu.data.upright``; evaluation; 0: never). Deterministic for a
    fixed seed and worker count; the last partial batch is kept.
    """
    ds = LineDataset(
        urls,
        norm,
        batch_size=batch_size,
        shuffle=shuffle,
        bucket=bucket,
        max_width=max_width,
        min_width=min_width,
        seed=seed,
        epoch_length=epoch_length,
        nfc=nfc,
        split_by_rank=split_by_rank,
        score_all=score_all,
        max_pixels=max_pixels,
        upright=upright,
    )
    return LineLoader(ds, num_workers=int(workers))
