"""The `reduce` group: 2D to 1D, all BDHW -> BDL (L = width).

Each module knows its ``out_features`` from the input depth and (possibly unknown) height.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Sum(nn.Module):
    """BDHW -> BDL: sum over the height. Works on any height."""

    def __init__(self, in_channels: int, in_height: int | None = None) -> None:
        super().__init__()
        self.out_features = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=2)


class Max(nn.Module):
    """BDHW -> BDL: max over the height. Works on any height."""

    def __init__(self, in_channels: int, in_height: int | None = None) -> None:
        super().__init__()
        self.out_features = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=2)


class Concat(nn.Module):
    """BDHW -> B(D*H)L: reshape each column into one feature vector.

    Needs a fixed height. Rule: when ``height`` is set, or the input height is variable
    (``norm=none``), the height is first average-pooled to ``height`` rows
    (``pool_height`` when the input height is unknown and ``height`` is null).
    """

    def __init__(
        self,
        in_channels: int,
        in_height: int | None = None,
        height: int | None = None,
        pool_height: int = 8,
    ) -> None:
        super().__init__()
        self.rows = height if height is not None else (in_height or pool_height)
        self.pool = height is not None or in_height is None
        if self.rows < 1:
            raise ValueError(f"reduce=concat needs at least one row, got {self.rows}")
        self.out_features = in_channels * self.rows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool:
            x = F.adaptive_avg_pool2d(x, (self.rows, x.shape[3]))
        elif x.shape[2] != self.rows:
            raise ValueError(
                f"reduce=concat was built for height {self.rows}, got {x.shape[2]}; "
                "set reduce.height to pool to a fixed height"
            )
        b, d, h, w = x.shape
        return x.reshape(b, d * h, w)


class ColumnLSTM(nn.Module):
    """BDHW -> BDL: an LSTM reads each column top to bottom; its final hidden state (both
    directions when bidirectional) is the column's feature. Works on any height."""

    def __init__(
        self,
        in_channels: int,
        in_height: int | None = None,
        hidden: int = 64,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_channels, hidden, batch_first=True, bidirectional=bidirectional)
        self.out_features = hidden * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, d, h, w = x.shape
        columns = x.permute(0, 3, 2, 1).reshape(b * w, h, d)  # (B*W) x H x D, batch_first
        _, (hn, _) = self.lstm(columns)  # hn: directions x (B*W) x hidden
        feats = hn.permute(1, 0, 2).reshape(b, w, self.out_features)
        return feats.permute(0, 2, 1)
