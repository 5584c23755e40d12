"""The `seq` group: sequence models, all BDL (features) -> BDL (class scores)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class ConvHead(nn.Module):
    """BDL -> BDL: 1D convolutions only (no recurrence), then a conv to the classes."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: int = 128,
        layers: int = 1,
        kernel: int = 3,
        head_kernel: int = 1,
    ) -> None:
        super().__init__()
        for name, k in (("kernel", kernel), ("head_kernel", head_kernel)):
            if k % 2 == 0:
                raise ValueError(f"seq.{name} must be odd to keep the length, got {k}")
        body: list[nn.Module] = []
        d = in_features
        for _ in range(layers):
            body += [nn.Conv1d(d, hidden, kernel, padding=kernel // 2), nn.ReLU(inplace=True)]
            d = hidden
        body.append(nn.Conv1d(d, num_classes, head_kernel, padding=head_kernel // 2))
        self.body = nn.Sequential(*body)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(x)


class LSTM(nn.Module):
    """BDL -> BDL: a stacked (by default bidirectional) LSTM along L, then a 1D conv head.

    With ``lengths`` the batch is packed, so padding never leaks into a line's outputs
    (the backward direction starts at each line's own end).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: int = 128,
        layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.0,
        head_kernel: int = 1,
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            in_features,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        out = hidden * (2 if bidirectional else 1)
        self.head = nn.Conv1d(out, num_classes, head_kernel, padding=head_kernel // 2)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        seq = x.permute(0, 2, 1)  # BDL -> BLD, batch_first
        total = seq.shape[1]
        if lengths is not None and bool((lengths < total).any()):
            packed = pack_padded_sequence(
                seq, lengths.clamp(1, total).cpu(), batch_first=True, enforce_sorted=False
            )
            out, _ = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=total)
        else:
            out, _ = self.lstm(seq)
        return self.head(out.permute(0, 2, 1))
