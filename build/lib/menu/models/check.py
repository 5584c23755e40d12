"""Does a combination of options work? Build it, run it forward and backward at several
widths (and heights where the norm leaves them free) and check the layout contracts: the
project's grid test and ``menu-check-option`` (a user's own options) both use this."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from menu.config import GROUPS, compose, options
from menu.models.build import build_model

#: Smaller widths for the grid: shapes are what is checked, and 600 combinations must be fast.
SMALL = {
    ("conv", "vgg"): ["conv.channels=[4,6,8]"],
    ("conv", "resnet"): ["conv.stem=4", "conv.channels=[4,6,8]"],
    ("conv", "fmp"): ["conv.channels=[4,4,6,8]"],
    ("conv", "unet"): ["conv.channels=[4,6,8]"],
    ("reduce", "lstm"): ["reduce.hidden=6"],
    ("seq", "lstm"): ["seq.hidden=6", "seq.layers=1"],
    ("seq", "none"): ["seq.hidden=8"],
}
WIDTHS = ((23, 61), (5, 5))  # a batch of two widths, and lines narrower than the convs need
FREE_HEIGHTS = (9, 37)  # for norms that leave the height free


def small(combo: Sequence[str]) -> list[str]:
    """The SMALL overrides of a combination (one option per group, in GROUPS order)."""
    return [o for g, c in zip(GROUPS, combo, strict=True) for o in SMALL.get((g, c), [])]


def check_combination(cfg: DictConfig, num_classes: int = 7) -> None:
    """Build ``cfg``'s model and run it forward and backward; AssertionError if an output
    shape, its lengths, a value or a gradient is wrong (ConfigConflict: refused by rule)."""
    torch.manual_seed(0)
    model = build_model(cfg, num_classes)
    height = cfg.norm.get("height")
    heights = [height] if height is not None else list(FREE_HEIGHTS)
    for h, widths in itertools.product(heights, WIDTHS):
        x = torch.rand(len(widths), 1, h, max(widths))
        w = torch.tensor(widths)
        y = model(x, w)
        lengths = model.output_lengths(w)
        assert y.shape[:2] == (len(widths), num_classes), f"output {tuple(y.shape)}"
        assert int(lengths.max()) == y.shape[2], f"lengths {lengths.tolist()} vs {y.shape}"
        assert torch.isfinite(y).all(), "non-finite output"
        y.logsumexp(1).sum().backward()
        bad = [n for n, p in model.named_parameters() if p.requires_grad
               and (p.grad is None or not torch.isfinite(p.grad).all())]  # fmt: skip
        assert not bad, f"no or non-finite gradient: {bad[:3]}"
        model.zero_grad()
    assert model.num_params > 0
    assert model.downsampling >= 1 / 8, f"downsampling {model.downsampling}"


def combinations_with(group: str, option: str) -> Iterator[tuple[str, ...]]:
    """Every combination of ``group=option`` with all options of the other groups."""
    choices = [[option] if g == group else options(g) for g in GROUPS]
    yield from itertools.product(*choices)


def compose_combination(combo: Sequence[str]) -> DictConfig:
    cfg = compose([f"{g}={o}" for g, o in zip(GROUPS, combo, strict=True)] + small(combo))
    return OmegaConf.masked_copy(cfg, list(GROUPS))
