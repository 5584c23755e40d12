"""What the commands that use a checkpoint share: its arguments and a one-line error."""

from __future__ import annotations

import argparse
import sys

from menu.infer import CheckpointError, load_checkpoint, set_decode
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


def add_decode_args(p: argparse.ArgumentParser) -> None:
    """How to decode, when not as trained: CTC beam search, with a language model."""
    p.add_argument("--beam", type=int, default=None, help="beam width (default: as trained)")
    p.add_argument("--lm", metavar="LM", help="beam search with this language model (menu-data lm)")
    p.add_argument("--lm-weight", type=float, default=None, help="its weight (default: as trained)")
    p.add_argument("--lm-bonus", type=float, default=None, help="per character (as trained)")


def apply_decode_args(args: argparse.Namespace, lit: LitRecognizer) -> None:
    """The ``--beam``/``--lm`` arguments given, into the checkpoint's ``decode`` config."""
    keys = ("beam", "lm", "lm_weight", "lm_bonus")
    set_decode(lit, {k: getattr(args, k) for k in keys if getattr(args, k) is not None})


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


def add_upright_arg(p: argparse.ArgumentParser) -> None:
    """``--upright RATIO``: how tall a line image must be to be read turned."""
    from menu.data.upright import TALL

    p.add_argument(
        "--upright",
        type=float,
        default=TALL,
        metavar="RATIO",
        help="read an image at least RATIO times taller than wide turned a quarter, the way "
        "the model is surer of (a vertical line; %(default)s; 0: never)",
    )
