"""What a training run is built from: data (generated once if needed), the codec (or the
weights and codec of an ``init_from`` checkpoint), the loaders and the LightningModule."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from menu.data.codec import Codec
from menu.data.loader import make_loader
from menu.data.prepare import prepare
from menu.data.shards import scan_texts
from menu.lit import LitRecognizer
from menu.registry import instantiate_option


def build_codec(data: DictConfig) -> tuple[Codec, int]:
    """The codec (from config, else from the training transcripts) and the training lines."""
    texts = list(scan_texts(data.train))
    if data.get("codec"):
        return Codec(str(data.codec)), len(texts)
    if not texts:
        raise ValueError(f"no transcripts found in the training shards {data.train}")
    return Codec.from_texts(texts), len(texts)


def read_init(path: str | Path) -> dict[str, Any]:
    """The ``init_from`` checkpoint, loaded once (``weights_only``): weights and codec."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    if "state_dict" not in ckpt or not ckpt.get("hyper_parameters", {}).get("codec"):
        raise ValueError(f"init_from={path} is not a menu checkpoint (no state_dict/codec)")
    return ckpt


def init_weights(
    lit: LitRecognizer, ckpt: dict[str, Any], path: str | Path, grow: bool = False
) -> None:
    """Start from a menu checkpoint's model weights (fine-tuning, warm restarts); the
    optimizer, schedule and step count start fresh. The architecture must match; with
    ``grow`` (a codec that gained characters) the output layer's rows of the old classes
    are copied and the new rows keep their fresh initialization."""
    state = dict(ckpt["state_dict"])
    if grow:
        own = lit.state_dict()
        for key, value in state.items():
            mine = own.get(key)
            if (
                mine is not None
                and value.dim() > 0
                and value.shape[1:] == mine.shape[1:]
                and 0 < len(value) < len(mine)
            ):
                grown = mine.clone()
                grown[: len(value)] = value
                state[key] = grown
    try:
        lit.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(
            f"init_from={path}: its model does not match this configuration's "
            f"(norm/conv/scale/reduce/seq and their sizes must be the same):\n{e}"
        ) from None


def init_codec(
    ckpt: dict[str, Any], path: str | Path, data: DictConfig, mode: str = "checkpoint"
) -> Codec:
    """The codec of an ``init_from`` run: the checkpoint's (``mode="checkpoint"``; its
    output layer is tied to it), or its characters followed by the new ones of the training
    transcripts (``"union"``, as kraken's ``--resize union``: old class ids are kept). An
    explicit ``data.codec`` must be the checkpoint's."""
    codec = Codec.from_dict(ckpt["hyper_parameters"]["codec"])
    if mode == "union":
        new = sorted(set(Codec.from_texts(scan_texts(data.train)).chars) - set(codec.chars))
        return Codec(codec.chars + new, nfc=codec.nfc)
    if mode != "checkpoint":
        raise ValueError(f"init_codec must be checkpoint or union, got {mode!r}")
    if data.get("codec") and Codec(str(data.codec)).chars != codec.chars:
        raise ValueError(
            f"data.codec differs from the codec of init_from={path}; leave data.codec unset "
            "to use the checkpoint's"
        )
    return codec


def loaders(
    cfg: DictConfig, data: DictConfig, norm: Any, epoch_length: int | None = None
) -> dict[str, Any]:
    """Train (shuffled), val and test loaders (file order). ``epoch_length`` fixes the
    training batches per epoch (needed in DDP, where every rank must step equally often)."""
    common = {
        "batch_size": int(data.batch_size),
        "workers": int(data.workers),
        "max_width": int(data.max_width),
        "max_pixels": data.get("max_pixels"),
        "min_width": int(data.get("min_width", 4)),
        "nfc": bool(data.get("nfc", True)),
        "seed": int(cfg.seed),
    }
    return {
        "train": make_loader(
            data.train,
            norm,
            shuffle=int(data.shuffle),
            bucket=bool(data.bucket),
            epoch_length=epoch_length or data.get("epoch_length"),
            **common,
        ),
        # every rank validates on the whole set: identical val_cer everywhere, no collectives
        **{
            split: make_loader(
                data[split], norm, shuffle=0, split_by_rank=False, score_all=True, **common
            )
            for split in ("val", "test")
        },
    }


@dataclass
class Setup:
    """What a training run is built from: data, codec, loaders and the LightningModule."""

    data: DictConfig
    codec: Codec
    n_train: int
    loaders: dict[str, Any]
    lit: LitRecognizer
    init: dict[str, Any] | None
    steps_per_epoch: int


def setup(cfg: DictConfig, choices: dict[str, str], world: int = 1) -> Setup:
    """Prepare the data (generating it once if needed), the codec (from ``init_from`` if
    set), the loaders and the module; ``world`` processes train in step (DDP)."""
    data = prepare(cfg.data)
    codec, n_train = build_codec(data)
    init_from = cfg.get("init_from")
    init = read_init(init_from) if init_from else None
    if init is not None:
        codec = init_codec(init, init_from, data, str(cfg.get("init_codec", "checkpoint")))
    norm = instantiate_option("norm", cfg.norm)
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain["data"] = OmegaConf.to_container(data, resolve=True)
    plain["choices"] = choices
    # DDP: fixed global batches per epoch, shared equally, so all ranks step together
    steps_per_epoch = math.ceil(math.ceil(n_train / int(data.batch_size)) / world)
    dl = loaders(cfg, data, norm, epoch_length=steps_per_epoch * world if world > 1 else None)
    lit = LitRecognizer(plain, codec.to_dict(), steps_per_epoch=steps_per_epoch)
    return Setup(data, codec, n_train, dl, lit, init, steps_per_epoch)
