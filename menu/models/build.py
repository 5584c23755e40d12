"""Assembly: a composed config (norm/conv/scale/reduce/seq) -> one CTC recognizer.

    B x 1 x H x W --conv--> BDHW --scale--> BDHW --reduce--> BDL --seq--> B x classes x L

The Hydra ``_target_`` of each group is the only registry: adding an option is one class
and one YAML file.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from menu.models.conv import Size
from menu.registry import instantiate_option


class ConfigConflict(ValueError):
    """Two config groups cannot work together; the message names both and the fix."""


def ctc_min_length(label: Sequence) -> int:
    """Frames CTC needs for a label: one per symbol plus a blank between repeated symbols."""
    repeats = sum(1 for a, b in itertools.pairwise(label) if a == b)
    return len(label) + repeats


class Recognizer(nn.Module):
    """B x 1 x H x W images (ink 1, background 0) -> B x classes x L scores (BDHW -> BDL).

    ``input_height`` is the fixed height the norm delivers, or None for variable heights.
    Inputs smaller than the convolutions' minimum are padded with background first.

    Inference on CPU (eval mode, no autograd) runs the convolutions ``conv_chunk`` lines at
    a time, each chunk cropped to its widest line, and the rest on the whole batch: a
    conv stack on a few lines keeps its activations in cache and runs several times faster
    per line than on 64 padded lines, while the LSTM gains from the big batch (measured
    by ``scripts/bench.py``, section infer). With ``conv_chunk = 1`` a line's output frames
    do not depend on the other lines of its batch. 0 or None: whole batch.
    """

    conv_chunk: int | None = 1
    #: The dtype of weights and activations (``use_dtype``); scores are float32 either way.
    compute_dtype: torch.dtype = torch.float32

    def __init__(
        self,
        conv: nn.Module,
        scale: nn.Module,
        reduce: nn.Module,
        seq: nn.Module,
        num_classes: int,
        input_height: int | None,
    ) -> None:
        super().__init__()
        self.conv, self.scale, self.reduce, self.seq = conv, scale, reduce, seq
        self.num_classes = num_classes
        self.input_height = input_height
        self.min_height = conv.min_height
        self.min_width = conv.min_width
        self.channels_last = False

    def use_channels_last(self, enabled: bool = True) -> Recognizer:
        """Run the convolutions in NHWC memory layout (faster CPU pooling and batch norm)."""
        self.channels_last = enabled
        fmt = torch.channels_last if enabled else torch.contiguous_format
        self.conv.to(memory_format=fmt)
        self.scale.to(memory_format=fmt)
        return self

    def use_dtype(self, dtype: torch.dtype) -> Recognizer:
        """Weights and activations in ``dtype`` (bfloat16: 1.7-2.3x the lines/s on a CPU
        with bfloat16 instructions, ``scripts/bench.py`` section infer); inference only.
        Images are cast on the way in and scores come back as float32."""
        if not dtype.is_floating_point:
            raise ValueError(f"a recognizer computes in a floating-point dtype, not {dtype}")
        self.to(dtype)
        self.compute_dtype = dtype
        return self

    def output_lengths(self, widths: Size) -> Size:
        """Exact number of output frames for input widths (int or int tensor)."""
        if isinstance(widths, torch.Tensor):
            widths = widths.clamp(min=self.min_width)
        else:
            widths = max(int(widths), self.min_width)
        return self.scale.out_width(self.conv.out_width(widths))

    @property
    def downsampling(self) -> float:
        """Input columns per output frame (horizontal downsampling factor)."""
        return 1024 / int(self.output_lengths(1024))

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def feasible(self, label: Sequence, width: int) -> bool:
        """Whether a line of this width gives enough frames for CTC to emit ``label``."""
        return int(self.output_lengths(width)) >= ctc_min_length(label)

    def _conv(self, x: torch.Tensor, widths: torch.Tensor | None) -> torch.Tensor:
        """BDHW -> BDHW: the conv stack, in chunks of lines at inference on CPU."""
        n = self.conv_chunk
        if (
            not n
            or widths is None
            or x.shape[0] <= n
            or x.device.type != "cpu"
            or self.training
            or torch.is_grad_enabled()
        ):
            return self.conv(x)
        full = int(self.conv.out_width(x.shape[-1]))
        parts = []
        for i in range(0, x.shape[0], n):
            w = max(int(widths[i : i + n].max()), self.min_width)
            y = self.conv(x[i : i + n, ..., :w])
            assert y.shape[-1] <= full, (y.shape, full)
            parts.append(F.pad(y, (0, full - y.shape[-1])))
        return torch.cat(parts)

    def forward(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(f"expected images B x 1 x H x W, got {tuple(images.shape)}")
        b, _, h, w = images.shape
        if self.input_height is not None and h != self.input_height:
            raise ValueError(
                f"the norm delivers height {self.input_height}, got images of height {h}"
            )
        if self.training and self.compute_dtype != torch.float32:
            raise RuntimeError(
                f"this recognizer computes in {self.compute_dtype} for inference; train in "
                "float32 (mixed precision: trainer.precision=bf16-mixed)"
            )
        x = images.to(self.compute_dtype)
        x = F.pad(x, (0, max(0, self.min_width - w), 0, max(0, self.min_height - h)))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self._conv(x, widths)  # BDHW
        assert x.ndim == 4 and x.shape[1] == self.conv.out_channels, x.shape
        x = self.scale(x)  # BDHW
        assert x.ndim == 4, x.shape
        x = self.reduce(x)  # BDL
        assert x.shape[:2] == (b, self.reduce.out_features), x.shape
        lengths = None if widths is None else self.output_lengths(widths)
        x = self.seq(x, lengths)  # BDL, D = classes
        assert x.shape[:2] == (b, self.num_classes), x.shape
        return x.float()


def _choice(cfg: DictConfig, group: str) -> str:
    """The option name of a group for error messages: the recorded choice, else the YAML
    file with the same ``_target_``."""
    from menu.registry import infer_choices

    choices = cfg.get("choices") or infer_choices(cfg)
    return str(choices.get(group, "?"))


def build_model(cfg: DictConfig, num_classes: int) -> Recognizer:
    """Compose the recognizer from ``cfg.norm`` (input height), ``cfg.conv``, ``cfg.scale``,
    ``cfg.reduce`` and ``cfg.seq``; refuse impossible combinations with a named error."""
    for group in ("norm", "conv", "scale", "reduce", "seq"):
        if cfg.get(group) is None:
            raise ConfigConflict(f"config group {group!r} is missing; pick one, e.g. {group}=...")
    height = cfg.norm.get("height")
    conv = instantiate_option("conv", cfg.conv, in_channels=1)
    conv_height = None
    if height is not None:
        if height < conv.min_height:
            raise ConfigConflict(
                f"norm={_choice(cfg, 'norm')} gives {height}-pixel lines but "
                f"conv={_choice(cfg, 'conv')} needs at least {conv.min_height}; "
                f"set norm.height>={conv.min_height} or use fewer height poolings"
            )
        conv_height = int(conv.out_height(height))
    conv_down = width_downsampling(conv)
    scale = instantiate_option(
        "scale", cfg.scale, in_channels=conv.out_channels, conv_downsampling=conv_down
    )
    reduce = instantiate_option(
        "reduce", cfg.reduce, in_channels=conv.out_channels, in_height=conv_height
    )
    seq = instantiate_option(
        "seq", cfg.seq, in_features=reduce.out_features, num_classes=num_classes
    )
    return Recognizer(conv, scale, reduce, seq, num_classes, height)


#: The scale option that builds no layer: what a scale layer with factor 1 is the same as.
NO_SCALE = {"_target_": "menu.models.scale.NoScale"}


def width_downsampling(conv: nn.Module) -> float:
    """Input columns per output column of a conv stage (what a scale layer upsamples)."""
    return 1024 / int(conv.out_width(1024))


def canonical(cfg: DictConfig, convs: dict[str, nn.Module] | None = None) -> DictConfig:
    """``cfg`` with a stage that builds the identity written as its group's identity option,
    so two configurations that train the same model are equal: a scale layer that upsamples
    by 1 (after ``conv=none`` or ``unet``, which keep the width) is ``scale=none``.
    ``convs``: a cache of the conv stage built for each conv node."""
    from omegaconf import OmegaConf, open_dict

    if cfg.scale.get("_target_") == NO_SCALE["_target_"]:
        return cfg
    cache = {} if convs is None else convs
    key = OmegaConf.to_yaml(cfg.conv, resolve=True)
    if key not in cache:
        cache[key] = instantiate_option("conv", cfg.conv, in_channels=1)
    conv = cache[key]
    down = width_downsampling(conv)
    scale = instantiate_option(
        "scale", cfg.scale, in_channels=conv.out_channels, conv_downsampling=down
    )
    if getattr(scale, "factor", None) != 1:
        return cfg
    out = cfg.copy()
    with open_dict(out):
        out.scale = OmegaConf.create(NO_SCALE)
    return out
