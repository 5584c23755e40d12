"""The `scale` group: horizontal upsampling after the convolutions, all BDHW -> BDHW.

A scale layer brings the convolutional output back up towards a target horizontal
downsampling (input pixels per output frame), so a model can pool aggressively for context
and still emit enough CTC frames. The upsampling factor is the integer
``max(1, round(conv_downsampling / downsampling))``; when that is 1 the layer is the identity.
Only the width changes; output widths are exactly ``w * factor``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from menu.models.conv import Size


def upsampling_factor(conv_downsampling: float, downsampling: float) -> int:
    """Integer width factor that moves ``conv_downsampling`` closest to ``downsampling``."""
    if downsampling <= 0:
        raise ValueError(f"scale.downsampling must be positive, got {downsampling}")
    return max(1, round(conv_downsampling / downsampling))


class ScaleStage(nn.Module):
    """Base class: width factor bookkeeping."""

    factor: int = 1

    def out_width(self, w: Size) -> Size:
        return w * self.factor


class NoScale(ScaleStage):
    """BDHW -> BDHW identity."""

    def __init__(self, in_channels: int = 1, conv_downsampling: float = 1.0) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Interp(ScaleStage):
    """BDHW -> BDHW: interpolate the width up by an integer factor (no parameters)."""

    def __init__(
        self,
        in_channels: int,
        conv_downsampling: float,
        downsampling: float = 2.0,
        mode: str = "bilinear",
    ) -> None:
        super().__init__()
        if mode not in ("nearest", "bilinear", "bicubic"):
            raise ValueError(f"scale.mode must be nearest, bilinear or bicubic, got {mode!r}")
        self.factor = upsampling_factor(conv_downsampling, downsampling)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.factor == 1:
            return x
        size = (x.shape[2], x.shape[3] * self.factor)
        if self.mode == "nearest":
            return F.interpolate(x, size=size, mode="nearest")
        return F.interpolate(x, size=size, mode=self.mode, align_corners=False)


class Transposed(ScaleStage):
    """BDHW -> BDHW: learned upsampling of the width, ConvTranspose2d with kernel
    (3, factor) and stride (1, factor), then BN + ReLU."""

    def __init__(
        self, in_channels: int, conv_downsampling: float, downsampling: float = 2.0
    ) -> None:
        super().__init__()
        self.factor = upsampling_factor(conv_downsampling, downsampling)
        self.body: nn.Module = nn.Identity()
        if self.factor > 1:
            self.body = nn.Sequential(
                nn.ConvTranspose2d(
                    in_channels,
                    in_channels,
                    kernel_size=(3, self.factor),
                    stride=(1, self.factor),
                    padding=(1, 0),
                    bias=False,
                ),
                nn.BatchNorm2d(in_channels),
                nn.ReLU(inplace=True),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
