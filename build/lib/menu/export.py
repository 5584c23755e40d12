"""Export a checkpoint's recognizer to TorchScript and ONNX, verified against the original.

Exported signature: ``(images B x 1 x H x W float32, widths B int64) -> (scores B x C x L,
lengths B)``; greedy decoding of ``scores`` with ``model.json`` (codec, norm) reproduces the
checkpoint's text. The exported graph does not pack sequences, so lines padded in a batch
see their padding in the backward LSTM direction; batch size 1 is exact.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import nn

from menu.lit import LitRecognizer

FORMATS = ("torchscript", "onnx")


class Exportable(nn.Module):
    """(images, widths) -> (scores BDL, output lengths), without sequence packing."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, widths: torch.Tensor):
        return self.model(images), self.model.output_lengths(widths)


def _examples(lit: LitRecognizer) -> list[tuple[torch.Tensor, torch.Tensor]]:
    h = lit.model.input_height or 48
    g = torch.Generator().manual_seed(0)
    sizes = [(1, 160), (3, 97), (2, 301)]
    return [
        (torch.rand(b, 1, h, w, generator=g), torch.full((b,), w, dtype=torch.long))
        for b, w in sizes
    ]


def _check(run, reference: nn.Module, examples) -> None:
    """Raise unless the exported model matches eager outputs on other shapes."""
    for images, widths in examples:
        want_scores, want_lengths = reference(images, widths)
        got_scores, got_lengths = run(images, widths)
        got_scores = torch.as_tensor(got_scores)
        if got_scores.shape != want_scores.shape:
            raise RuntimeError(
                f"output shape {tuple(got_scores.shape)} != {tuple(want_scores.shape)} at "
                f"input {tuple(images.shape)}: the graph baked in input-dependent sizes"
            )
        if not torch.allclose(got_scores, want_scores, atol=1e-4, rtol=1e-4):
            raise RuntimeError("exported scores differ from the checkpoint's")
        if not torch.equal(torch.as_tensor(got_lengths), want_lengths):
            raise RuntimeError("exported output lengths differ from the checkpoint's")


def export_torchscript(module: Exportable, path: Path, examples) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, examples[0], check_trace=False)
    _check(traced, module, examples[1:])
    traced.save(str(path))


def export_onnx(module: Exportable, path: Path, examples) -> None:
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise RuntimeError(
            "ONNX export needs onnx and onnxruntime: pip install 'menu[export]'"
        ) from e
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            examples[0],
            str(path),
            input_names=["images", "widths"],
            output_names=["scores", "lengths"],
            dynamic_axes={
                "images": {0: "batch", 3: "width"},
                "widths": {0: "batch"},
                "scores": {0: "batch", 2: "frames"},
                "lengths": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(images, widths):
        return session.run(None, {"images": images.numpy(), "widths": widths.numpy()})

    _check(run, module, examples[1:])


def export(
    lit: LitRecognizer, out_dir: str | Path, formats: tuple[str, ...] = FORMATS
) -> dict[str, str]:
    """Write ``model.pt`` (TorchScript), ``model.onnx`` and ``model.json`` (codec, norm).

    Returns format -> path, or ``"not exportable: reason"`` for a combination that cannot
    be exported to that format (e.g. fractional max pooling has no ONNX operator).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    module = Exportable(lit.model.cpu().eval()).eval()
    examples = _examples(lit)
    writers = {"torchscript": (export_torchscript, "model.pt"), "onnx": (export_onnx, "model.onnx")}
    status: dict[str, str] = {}
    with torch.no_grad():
        for fmt in formats:
            writer, name = writers[fmt]
            path = out / name
            try:
                writer(module, path, examples)
                status[fmt] = str(path)
            except Exception as e:  # any failure means: this combination does not export
                path.unlink(missing_ok=True)
                status[fmt] = f"not exportable: {type(e).__name__}: {str(e).splitlines()[0]}"
    meta = {
        "codec": lit.codec.to_dict(),
        "blank": 0,
        "norm": OmegaConf.to_container(lit.cfg.norm, resolve=True),
        "choices": OmegaConf.to_container(lit.cfg.get("choices", {}), resolve=True),
        "input_height": lit.model.input_height,
        "downsampling": lit.model.downsampling,
        "exports": status,
    }
    (out / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return status
