"""The `seq` group: sequence models, all BDL (features) -> BDL (class scores)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def reverse_index(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """B x T index that reverses each line within its own length (padding stays put)."""
    t = torch.arange(total, device=lengths.device).unsqueeze(0)
    n = lengths.to(t.device).clamp(1, total).unsqueeze(1)
    return torch.where(t < n, n - 1 - t, t)


def _take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """BLD rows reordered along L by a B x L index."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def lstm_by_length(lstm: nn.LSTM, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """BLD -> BL(D'): ``lstm`` (batch_first) on padded lines, each line read as if alone.

    The forward direction reads the padded batch (padding comes after a line's end, so it
    never reaches its outputs); the backward direction reads each line reversed within its
    length (:func:`reverse_index`), so it starts at the line's own end. The same outputs
    as a packed sequence (to float rounding), but on CPU about 6x faster to train: the
    packed LSTM's backward pass zero-fills and accumulates the whole packed input at every
    time step. Each layer and direction is one call of ``nn.LSTM``'s own kernel
    (``torch._VF.lstm``) with the module's weights, so checkpoints are unchanged.
    """
    assert lstm.batch_first and lstm.proj_size == 0, "batch_first LSTM without projection"
    b, total, _ = seq.shape
    index = reverse_index(lengths, total) if lstm.bidirectional else None
    names = ["weight_ih", "weight_hh", *(["bias_ih", "bias_hh"] if lstm.bias else [])]
    x = seq
    for layer in range(lstm.num_layers):
        outs = []
        for suffix in ["", "_reverse"] if lstm.bidirectional else [""]:
            weights = [getattr(lstm, f"{n}_l{layer}{suffix}") for n in names]
            h0 = x.new_zeros(1, b, lstm.hidden_size)
            inp = x if not suffix else _take(x, index)
            y = torch._VF.lstm(inp, (h0, h0), weights, lstm.bias, 1, 0.0, lstm.training,
                               False, True)[0]  # fmt: skip
            outs.append(y if not suffix else _take(y, index))
        x = torch.cat(outs, -1) if len(outs) > 1 else outs[0]
        if lstm.dropout and layer + 1 < lstm.num_layers:
            x = nn.functional.dropout(x, lstm.dropout, lstm.training)
    return x


class ConvHead(nn.Module):
    """BDL -> BDL: 1D convolutions only (no recurrence), then a conv to the classes.

    With ``shortcut`` the last conv reads the hidden layers' outputs and the input
    features side by side (concatenated), as :class:`LSTM`'s head does.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: int = 128,
        layers: int = 1,
        kernel: int = 3,
        head_kernel: int = 1,
        shortcut: bool = False,
    ) -> None:
        super().__init__()
        if shortcut and layers < 1:
            raise ValueError("seq.shortcut needs seq.layers >= 1 (with 0 the head reads the input)")
        self.shortcut = shortcut
        for name, k in (("kernel", kernel), ("head_kernel", head_kernel)):
            if k % 2 == 0:
                raise ValueError(f"seq.{name} must be odd to keep the length, got {k}")
        body: list[nn.Module] = []
        d = in_features
        for _ in range(layers):
            body += [nn.Conv1d(d, hidden, kernel, padding=kernel // 2), nn.ReLU(inplace=True)]
            d = hidden
        d += in_features if shortcut else 0
        body.append(nn.Conv1d(d, num_classes, head_kernel, padding=head_kernel // 2))
        self.body = nn.Sequential(*body)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if not self.shortcut:
            return self.body(x)
        return self.body[-1](torch.cat([self.body[:-1](x), x], 1))


class LSTM(nn.Module):
    """BDL -> BDL: a stacked (by default bidirectional) LSTM along L, then a 1D conv head.

    With ``shortcut`` the head reads the LSTM's outputs and its input features side by side
    (concatenated), so the model learns from the features' local evidence from the first
    step while the LSTM is still on CTC's plateau (experiments/search, the plateau).

    With ``lengths`` padding never leaks into a line's outputs (the backward direction
    starts at each line's own end): :func:`lstm_by_length`, or a packed batch where the
    LSTM is not a plain ``nn.LSTM`` (int8 dynamic quantization).
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
        shortcut: bool = False,
    ) -> None:
        super().__init__()
        self.shortcut = shortcut
        self.lstm = nn.LSTM(
            in_features,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        out = hidden * (2 if bidirectional else 1) + (in_features if shortcut else 0)
        self.head = nn.Conv1d(out, num_classes, head_kernel, padding=head_kernel // 2)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        seq = x.permute(0, 2, 1)  # BDL -> BLD, batch_first
        total = seq.shape[1]
        if lengths is not None and bool((lengths < total).any()) and type(self.lstm) is nn.LSTM:
            out = lstm_by_length(self.lstm, seq, lengths)
        elif lengths is not None and bool((lengths < total).any()):
            packed = pack_padded_sequence(
                seq, lengths.clamp(1, total).cpu(), batch_first=True, enforce_sorted=False
            )
            out, _ = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=total)
        else:
            out, _ = self.lstm(seq)
        if self.shortcut:
            out = torch.cat([out, seq], -1)
        return self.head(out.permute(0, 2, 1))
