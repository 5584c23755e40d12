"""Using a trained checkpoint: load it safely, evaluate on shards, predict images, export."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from menu.data.dataset import uncollate
from menu.data.image import open_image, pil_to_gray
from menu.data.loader import collate, make_loader
from menu.data.upright import TALL, TURNS, is_tall, turned
from menu.evaluation import Evaluation
from menu.lit import LitRecognizer
from menu.registry import UnsafeConfig, check_options, instantiate_option


class CheckpointError(ValueError):
    """A file that is not a loadable menu checkpoint; the message says why in one line."""


def load_checkpoint(
    path: str | Path, device: str = "cpu", precision: str | None = None
) -> LitRecognizer:
    """Rebuild the recognizer from a checkpoint alone (config, codec and weights inside).
    ``precision`` (``float32`` or ``bfloat16``): prepared for inference by
    ``menu.models.inference.for_inference`` (batch norm folded, weights in that dtype);
    None: the model as trained.

    Safe for a file from a stranger: it is read with ``weights_only=True`` (tensors and
    plain data only, no pickled object is ever executed), and its configuration may only
    choose among menu's options (``menu.registry``: every ``_target_`` must be one that a
    ``conf/<group>/*.yaml`` names, with plain arguments its class takes), so nothing in the
    file can make menu call other code. Raises :class:`CheckpointError` otherwise.
    """
    import pickle

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path}: not loadable as tensors and plain data, refused without running "
            f"anything ({first[:200]})"
        ) from None
    if not isinstance(ckpt, dict) or "hyper_parameters" not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a menu checkpoint (no hyper_parameters/state_dict)")
    hp = ckpt["hyper_parameters"]
    if not isinstance(hp.get("cfg"), dict) or not isinstance(hp.get("codec"), dict):
        raise CheckpointError(f"{path} is not a menu checkpoint (no config/codec)")
    try:
        check_options(hp["cfg"])
    except UnsafeConfig as e:
        raise CheckpointError(f"{path}: refused: {e}") from None
    lit = LitRecognizer(hp["cfg"], hp["codec"], steps_per_epoch=hp.get("steps_per_epoch"))
    try:
        lit.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: its weights do not fit its own config ({e})") from None
    lit = lit.to(device).eval()
    if precision is not None:
        from menu.models.inference import for_inference

        lit.model = for_inference(lit.model, precision=precision)
    return lit


def set_decode(lit: LitRecognizer, changes: Mapping[str, Any]) -> None:
    """Change how ``lit`` decodes: keys of its ``decode`` config (``beam``, ``lm``,
    ``lm_weight``, ``lm_bonus``); a checkpoint from before a key gets it added."""
    from omegaconf import open_dict

    with open_dict(lit.cfg):
        lit.cfg.decode.update(dict(changes))


def evaluate(
    lit: LitRecognizer,
    urls: str | Sequence[str],
    *,
    batch_size: int = 64,
    workers: int = 0,
    confusions: int = 10,
    lines: bool = False,
    upright: float = TALL,
) -> dict[str, Any]:
    """CER/WER (corpus rates), speed, a length breakdown, top confusions, unknown chars and,
    when the shards carry each line's font (``KEY.json``, as generated lines do), CER by
    font; with ``lines`` also every line's key, reference, hypothesis and edit counts. Lines are
    batched in order of width within pools of 8 batches (less padding; the rates do not
    depend on the order).

    Every labelled line is scored: ``n`` counts them all. Small images are padded; a line
    whose image is missing, unreadable, cannot be normalized or is too wide is scored as an
    empty hypothesis (all its characters are errors) and listed in ``failed_lines`` with
    its reason. Only samples without a usable transcript are ``skipped``.

    ``upright``: a line image at least this many times taller than wide is read turned a
    quarter, the way the model reads more surely (``menu.data.upright``; 0: never); such
    lines are listed in ``turned`` (key: direction)."""
    norm = instantiate_option("norm", lit.cfg.norm)
    data = lit.cfg.data
    loader = make_loader(
        urls,
        norm,
        batch_size=batch_size,
        shuffle=0,
        workers=workers,
        max_width=int(data.get("max_width", 3000)),
        max_pixels=data.get("max_pixels"),
        bucket=True,
        score_all=True,
        upright=upright,
    )
    evaluation = Evaluation(lit.codec, keep_lines=True)
    seconds = 0.0
    for batch in loader:
        hyps: list[str] = []
        if batch["keys"]:
            t0 = time.perf_counter()
            if any(a is not None for a in batch.get("alts") or ()):
                batch = _upright(lit, batch, evaluation.turned)
            hyps = lit.recognize(batch["images"].to(lit.device), batch["widths"].to(lit.device))
            seconds += time.perf_counter() - t0
        evaluation.add(batch, hyps)
    if evaluation.n == 0:  # a score of nothing is no score: never report CER 0.0 for it
        raise ValueError(
            f"nothing to score: no labelled line in {urls} "
            f"(skipped: {dict(evaluation.skipped) or 'none'})"
        )
    result = evaluation.summary(confusions)
    result["lines_per_s"] = evaluation.recognized / max(seconds, 1e-9)
    return result | ({"lines": evaluation.records()} if lines else {})


def choose_turns(lit: LitRecognizer, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[int]:
    """For each pair of normalized images of one tall line (turned clockwise,
    counterclockwise), the index of the one ``lit`` is surer of (``LitRecognizer.path_scores``)."""
    if not pairs:
        return []
    batch = collate([{"image": x, "text": "", "key": "", "url": ""} for p in pairs for x in p])
    scores = lit.path_scores(batch["images"].to(lit.device), batch["widths"].to(lit.device))
    return [int(scores[2 * i + 1] > scores[2 * i]) for i in range(len(pairs))]


def _upright(lit: LitRecognizer, batch: dict[str, Any], chosen: dict[str, str]) -> dict[str, Any]:
    """``batch`` with each tall line in the turn ``lit`` reads more surely (into ``chosen``)."""
    samples = uncollate(batch)
    tall = [s for s in samples if s["alt"] is not None]
    picks = choose_turns(lit, [(s["image"], s["alt"]) for s in tall])
    for s, pick in zip(tall, picks, strict=True):
        chosen[str(s["key"])] = TURNS[pick]
        s["image"] = s["alt"] if pick else s["image"]
    return collate(samples) | {k: batch[k] for k in ("skipped", "failed") if k in batch}


def read_image(path: str | Path) -> np.ndarray:
    """PNG/JPEG/TIFF/... as a 2-D uint8 grayscale array."""
    with open_image(path) as im:  # ImageTooLarge before decoding a decompression bomb
        im.load()
        return pil_to_gray(im)


def _pixels(item: Any) -> np.ndarray:
    """A line image from a path, a PIL image or an array (any polarity, 2-D or colour)."""
    if isinstance(item, str | os.PathLike):
        return read_image(item)
    if isinstance(item, Image.Image):
        return pil_to_gray(item)
    return np.asarray(item)


def predict(
    lit: LitRecognizer,
    images: Sequence[str | os.PathLike | np.ndarray | Image.Image],
    *,
    batch_size: int = 64,
    pool: int = 8,
    detail: bool = False,
    upright: float = TALL,
) -> Iterator[tuple[str, Any, str | None]]:
    """(key, text, error) for each image in input order, the key being the path (or ``#i``
    for the i-th image given as an array or PIL image); an unreadable image gives text None
    and the error, and the others go on. Images are read ``pool`` batches at a time and
    batched in order of width (less padding). With ``detail`` the text is a dict: text,
    mean confidence, the image's ``width`` and ``height``, and each character's confidence
    and columns ``x0``..``x1`` in the image (best path; mapped from the normalized line by
    its width ratio). ``upright``: as in :func:`evaluate`; a line read turned has
    ``turned`` (its direction) in its detail, and its columns run along the turned image."""
    norm = instantiate_option("norm", lit.cfg.norm)
    step = batch_size * max(1, pool)
    for start in range(0, len(images), step):
        items = list(images[start : start + step])
        chunk = [
            str(x) if isinstance(x, str | os.PathLike) else f"#{start + i}"
            for i, x in enumerate(items)
        ]
        samples, errors, sizes, turns = [], {}, {}, {}
        for key, item in zip(chunk, items, strict=True):
            try:
                pixels = _pixels(item)
                if is_tall(pixels.shape, upright):
                    both = turned(pixels)
                    normed = (norm(both[0]), norm(both[1]))
                    pick = choose_turns(lit, [normed])[0]
                    pixels, image, turns[key] = both[pick], normed[pick], TURNS[pick]
                else:
                    image = norm(pixels)
                samples.append({"image": image, "text": "", "key": key, "url": ""})
                sizes[key] = (*pixels.shape[:2], norm.pad_columns(image.shape[0]))
            except (OSError, ValueError) as e:
                errors[key] = f"{type(e).__name__}: {e}"
        samples.sort(key=lambda s: s["image"].shape[1])
        hyps: dict[str, Any] = {}
        for i in range(0, len(samples), batch_size):
            batch = collate(samples[i : i + batch_size])
            images_, widths = batch["images"].to(lit.device), batch["widths"].to(lit.device)
            if not detail:
                hyps.update(zip(batch["keys"], lit.recognize(images_, widths), strict=True))
                continue
            for key, line, w in zip(
                batch["keys"], lit.read(images_, widths), widths.tolist(), strict=True
            ):
                h0, w0, pad = sizes[key]  # the norm's margins are not in the image
                scale = w0 / max(w - 2 * pad, 1)
                for c in line["chars"]:
                    for x in ("x0", "x1"):
                        c[x] = round(min(max((c[x] - pad) * scale, 0.0), w0), 1)
                hyps[key] = {**line, "width": int(w0), "height": int(h0)}
                hyps[key] |= {"turned": turns[key]} if key in turns else {}
        for p in chunk:
            yield p, hyps.get(p), errors.get(p)
