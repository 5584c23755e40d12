"""Data layer: WebDataset line shards, normalizations, codec, synthetic lines, converters.

Main entry points (imported lazily, so ``import menu.data`` stays cheap):

- :func:`menu.data.loader.make_loader` - streaming, padded batches for CTC
- :mod:`menu.data.normalize` - ``NoNorm``, ``HeightNorm``, ``WordNorm``, ``LineNorm``,
  ``CenterNorm``
- :class:`menu.data.codec.Codec`, :func:`menu.data.codec.scan_texts`
- :func:`menu.data.synth.generate`, :func:`menu.data.synth.prepare`
- :func:`menu.data.shards.convert_folder`, :func:`menu.data.shards.export_shards`
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CenterNorm": "normalize",
    "HeightNorm": "normalize",
    "LineNorm": "normalize",
    "NoNorm": "normalize",
    "WordNorm": "normalize",
    "Codec": "codec",
    "UnknownCharReport": "codec",
    "codec_from_shards": "codec",
    "scan_texts": "codec",
    "make_loader": "loader",
    "generate": "synth",
    "prepare": "synth",
    "convert_folder": "shards",
    "export_shards": "shards",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"menu.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'menu.data' has no attribute {name!r}")
