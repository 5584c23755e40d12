"""Faster inference of a trained recognizer: batch norm folded into the convolutions (the
same function, fewer passes over memory) and, optionally, bfloat16 weights and activations
or int8 dynamic quantization of the LSTM and linear layers (slightly different functions:
measure their CER, as ``scripts/bench.py`` section infer does)."""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every ``BatchNorm2d`` that directly follows a ``Conv2d`` in an ``nn.Sequential``
    into that convolution (eval mode only: the running statistics become the conv's weight
    and bias; the norm becomes an identity). Returns how many were folded. Convolutions
    outside a Sequential (ResNet blocks' ``conv1``/``bn1``) are left as they are."""
    if model.training:
        raise ValueError("fold batch norm only into a model in eval mode (model.eval())")
    folded = 0
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i in range(len(module) - 1):
            conv, bn = module[i], module[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                module[i] = fuse_conv_bn_eval(conv, bn)
                module[i + 1] = nn.Identity()
                folded += 1
    return folded


def pool_before_relu(model: nn.Module) -> int:
    """Swap every ``ReLU`` directly followed by a ``MaxPool2d`` in an ``nn.Sequential``
    (identities between them skipped): the same function, since a maximum commutes with a
    non-decreasing map, and the ReLU then touches a quarter of the values (a 2 x 2 pool).
    Returns how many were swapped."""
    swapped = 0
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        layers = [i for i, m in enumerate(module) if not isinstance(m, nn.Identity)]
        for i, j in itertools.pairwise(layers):
            if type(module[i]) is nn.ReLU and isinstance(module[j], nn.MaxPool2d):
                module[i], module[j] = module[j], nn.ReLU(inplace=True)
                swapped += 1
    return swapped


def quantize_dynamic(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with int8 weights in its LSTM and linear layers (activations
    quantized on the fly, CPU only); the convolutions stay float. torch 2.13 warns that
    its quantized tensor functions are deprecated (torchao takes over): a measurement aid."""
    return torch.ao.quantization.quantize_dynamic(model, {nn.LSTM, nn.Linear}, dtype=torch.qint8)


#: Lines per convolution call in bfloat16 (``Recognizer.conv_chunk``): 8 gave 1.3x the
#: lines/s of 1 at batch 64 on a trained conv_bilstm (2 cores, AVX512-BF16; float32: 1.0x).
BF16_CONV_CHUNK = 8

#: ``precision`` names for inference and their dtypes.
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def for_inference(
    model: nn.Module, quantize: bool = False, precision: str = "float32"
) -> nn.Module:
    """``model`` in eval mode with batch norm folded, ReLUs after their max-pooling and,
    with ``quantize``, int8 LSTM and linear layers (a copy then; otherwise the same module,
    changed in place); ``precision`` ``bfloat16``: weights and activations in bfloat16
    (``Recognizer.use_dtype``)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    if quantize and precision != "float32":
        raise ValueError("int8 quantization applies to a float32 model; pick one of the two")
    model.eval()
    fold_batchnorm(model)
    pool_before_relu(model)
    if precision != "float32":
        model.use_dtype(PRECISIONS[precision])
        if precision == "bfloat16" and getattr(model, "conv_chunk", None) == 1:
            model.conv_chunk = BF16_CONV_CHUNK
    return quantize_dynamic(model) if quantize else model
