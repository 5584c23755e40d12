"""The `conv` group: convolutional families, all BDHW -> BDHW.

Every module exposes the shape arithmetic the assembly needs, so output lengths for CTC
are exact and impossible combinations are refused before any tensor is built:

- ``out_channels``: D of the output.
- ``out_height(h)`` / ``out_width(w)``: output size for an input size (int or int tensor).
- ``min_height`` / ``min_width``: smallest input that still gives a non-empty output; the
  recognizer pads smaller inputs up to these with background.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

Size = int | torch.Tensor


def _pair(p: Sequence[int] | int | None) -> tuple[int, int] | None:
    if p is None:
        return None
    if isinstance(p, int):
        return (p, p)
    if len(p) != 2:
        raise ValueError(f"expected a (height, width) pair, got {list(p)}")
    return (int(p[0]), int(p[1]))


def _per_layer(value, n: int, name: str) -> list:
    """Broadcast a scalar config value to n layers, or check a list has n entries."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries, expected {n} (one per layer)")
        return list(value)
    return [value] * n


def _smallest(fn, limit: int = 4096) -> int:
    """Smallest input size s >= 1 with fn(s) >= 1."""
    for s in range(1, limit):
        if fn(s) >= 1:
            return s
    raise ValueError("no input size up to {limit} gives a non-empty output")


class ConvStage(nn.Module):
    """Base class: identity shape arithmetic. Subclasses override what they change."""

    out_channels: int = 1

    def out_height(self, h: Size) -> Size:
        return h

    def out_width(self, w: Size) -> Size:
        return w

    @property
    def min_height(self) -> int:
        return _smallest(self.out_height)

    @property
    def min_width(self) -> int:
        return _smallest(self.out_width)


class NoConv(ConvStage):
    """BDHW -> BDHW identity: pixels go straight to the reduction (the plain-LSTM model)."""

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _conv_out(s: Size, k: int, pad: int, stride: int = 1) -> Size:
    return (s + 2 * pad - k) // stride + 1


class VGG(ConvStage):
    """BDHW -> BDHW: a VGG-style stack, one conv (+BN) + ReLU (+max-pool) per layer.

    ``pools[i]`` is the (height, width) max-pool after layer i (null: none). Odd kernels are
    'same'-padded, even kernels are 'valid' (the CRNN's last 2x2 conv).
    """

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 128),
        pools: Sequence[Sequence[int] | None] = ((2, 2), (2, 2), (2, 1)),
        kernels: int | Sequence[int] = 3,
        batchnorm: bool | Sequence[bool] = True,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        n = len(channels)
        self.kernels = [int(k) for k in _per_layer(kernels, n, "conv.kernels")]
        self.pools = [_pair(p) for p in _per_layer(pools, n, "conv.pools")]
        norms = _per_layer(batchnorm, n, "conv.batchnorm")
        layers: list[nn.Module] = []
        d = in_channels
        for c, k, p, bn in zip(channels, self.kernels, self.pools, norms, strict=True):
            layers.append(nn.Conv2d(d, c, k, padding=(k - 1) // 2 if k % 2 else 0, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.ReLU(inplace=True))
            if p is not None:
                layers.append(nn.MaxPool2d(p, stride=p))
            d = c
        self.body = nn.Sequential(*layers)
        self.out_channels = d

    def _size(self, s: Size, axis: int) -> Size:
        for k, p in zip(self.kernels, self.pools, strict=True):
            s = _conv_out(s, k, (k - 1) // 2 if k % 2 else 0)
            if p is not None:
                s = s // p[axis]
        return s

    def out_height(self, h: Size) -> Size:
        return self._size(h, 0)

    def out_width(self, w: Size) -> Size:
        return self._size(w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class BasicBlock(nn.Module):
    """BDHW -> BDHW residual block (two 3x3 convs), anisotropic stride (sh, sw)."""

    def __init__(self, d_in: int, d_out: int, stride: tuple[int, int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(d_in, d_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(d_out)
        self.conv2 = nn.Conv2d(d_out, d_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(d_out)
        self.shortcut: nn.Module = nn.Identity()
        if d_in != d_out or stride != (1, 1):
            self.shortcut = nn.Sequential(
                nn.Conv2d(d_in, d_out, 1, stride=stride, bias=False), nn.BatchNorm2d(d_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x), inplace=True)


class ResNet(ConvStage):
    """BDHW -> BDHW: a 3x3 stem, then stages of residual blocks; the first block of stage i
    has stride ``strides[i]`` = (height, width)."""

    def __init__(
        self,
        stem: int = 32,
        channels: Sequence[int] = (32, 64, 128),
        blocks: int | Sequence[int] = 1,
        strides: Sequence[Sequence[int]] = ((2, 2), (2, 2), (2, 1)),
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        n = len(channels)
        counts = [int(b) for b in _per_layer(blocks, n, "conv.blocks")]
        self.strides = [_pair(s) for s in _per_layer(strides, n, "conv.strides")]
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, stem, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
        ]
        d = stem
        for c, b, s in zip(channels, counts, self.strides, strict=True):
            for i in range(b):
                layers.append(BasicBlock(d, c, s if i == 0 else (1, 1)))
                d = c
        self.body = nn.Sequential(*layers)
        self.out_channels = d

    def _size(self, s: Size, axis: int) -> Size:
        for st in self.strides:
            s = _conv_out(s, 3, 1, st[axis])
        return s

    def out_height(self, h: Size) -> Size:
        return self._size(h, 0)

    def out_width(self, w: Size) -> Size:
        return self._size(w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class FMP(ConvStage):
    """BDHW -> BDHW: conv + BN + ReLU layers, each followed by fractional max pooling
    (Graham 2014) with an anisotropic output ratio (height, width).

    Pooling regions are random in training and fixed (the centred pseudo-random sequence,
    u = 0.5) in eval, so inference is deterministic.
    """

    def __init__(
        self,
        channels: Sequence[int] = (32, 48, 64, 96),
        ratios: Sequence[Sequence[float]] = ((0.5, 0.7), (0.5, 0.7), (0.7, 0.7), (0.7, 0.8)),
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        self.ratios = [(float(r[0]), float(r[1])) for r in _per_layer(ratios, len(channels), "r")]
        for r in self.ratios:
            if not all(0.0 < v <= 1.0 for v in r):
                raise ValueError(f"conv.ratios must lie in (0, 1], got {list(r)}")
        self.convs = nn.ModuleList()
        d = in_channels
        for c in channels:
            self.convs.append(
                nn.Sequential(
                    nn.Conv2d(d, c, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c),
                    nn.ReLU(inplace=True),
                )
            )
            d = c
        self.out_channels = d

    @staticmethod
    def _pool_size(s: Size, r: float) -> Size:
        # torch: output = int(input * ratio); the 2-wide pooling window needs out + 1 <= in.
        if r >= 1.0:
            return s
        out = (s * r).long() if isinstance(s, torch.Tensor) else int(s * r)
        return torch.clamp(out, max=s - 1) if isinstance(s, torch.Tensor) else min(out, s - 1)

    def _size(self, s: Size, axis: int) -> Size:
        for r in self.ratios:
            s = self._pool_size(s, r[axis])
        return s

    def out_height(self, h: Size) -> Size:
        return self._size(h, 0)

    def out_width(self, w: Size) -> Size:
        return self._size(w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, (rh, rw) in zip(self.convs, self.ratios, strict=True):
            x = conv(x)
            h, w = x.shape[-2:]
            size = (int(self._pool_size(h, rh)), int(self._pool_size(w, rw)))
            kernel = (1 if rh >= 1.0 else 2, 1 if rw >= 1.0 else 2)
            samples = None
            if not self.training:
                samples = torch.full((x.shape[0], x.shape[1], 2), 0.5, dtype=x.dtype)
                samples = samples.to(x.device)
            x = F.fractional_max_pool2d(x, kernel, output_size=size, _random_samples=samples)
        return x


def _double_conv(d_in: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(d_in, d_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(d_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(d_out, d_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(d_out),
        nn.ReLU(inplace=True),
    )


class UNet(ConvStage):
    """BDHW -> BDHW at full resolution: an encoder of ``len(channels)`` levels (2x2 max-pool
    between levels), a decoder of transposed-conv upsampling with skip connections.

    Rule: inputs are padded with background to a multiple of 2**(levels-1) in both directions
    and the output is cropped back, so any input size works and out_width(w) == w.
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64), in_channels: int = 1) -> None:
        super().__init__()
        if len(channels) < 2:
            raise ValueError("conv.channels of a UNet needs at least two levels")
        self.multiple = 2 ** (len(channels) - 1)
        self.down = nn.ModuleList()
        d = in_channels
        for c in channels:
            self.down.append(_double_conv(d, c))
            d = c
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for c_low, c_high in zip(channels[:-1][::-1], channels[1:][::-1], strict=True):
            self.up.append(nn.ConvTranspose2d(c_high, c_low, 2, stride=2))
            self.merge.append(_double_conv(2 * c_low, c_low))
        self.out_channels = channels[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        x = F.pad(x, (0, (-w) % m, 0, (-h) % m))
        skips = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return x[..., :h, :w]
