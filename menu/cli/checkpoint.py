"""What the commands that use a checkpoint share: its arguments and a one-line error."""

from __future__ import annotations

import argparse
import sys

from menu.infer import CheckpointError, load_checkpoint
from menu.lit import LitRecognizer
from menu.models.inference import PRECISIONS


def add_checkpoint_args(p: argparse.ArgumentParser, device: bool = True) -> None:
    p.add_argument("checkpoint", help="a menu checkpoint (.ckpt); nothing else is needed")
    if device:
        p.add_argument("--device", default="cpu")
        p.add_argument(
            "--precision",
            choices=sorted(PRECISIONS),
            default=None,
            help="prepare the model for inference: batch norm folded, weights and "
            "activations in this dtype (bfloat16: 1.7-2.3x lines/s measured on a CPU with "
            "bfloat16 instructions, CER within 0.02 points; scripts/bench.py); "
            "default: the model as trained",
        )
    p.add_argument(
        "--config-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a config folder of your own options that the checkpoint uses (repeatable; "
        "or MENU_CONFIG_PATH)",
    )


def open_checkpoint(args: argparse.Namespace, prog: str) -> LitRecognizer:
    """The checkpoint of ``args``, or exit with ``prog: error: ...`` (one line)."""
    from menu.registry import add_config_dirs

    add_config_dirs(args.config_dir)
    try:
        return load_checkpoint(
            args.checkpoint,
            device=getattr(args, "device", "cpu"),
            precision=getattr(args, "precision", None),
        )
    except CheckpointError as e:
        sys.exit(f"{prog}: error: {e}")
