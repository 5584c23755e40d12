"""CTC decoding of B x classes x L scores: greedy (best path) and beam search."""

from __future__ import annotations

import torch


def greedy(scores: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best-path decoding: argmax per frame, collapse repeats, drop blanks (class 0)."""
    best = scores.argmax(dim=1).cpu()
    out = []
    for b, n in zip(best, lengths.tolist(), strict=True):
        path = b[:n]
        keep = torch.ones_like(path, dtype=torch.bool)
        keep[1:] = path[1:] != path[:-1]
        out.append([int(c) for c in path[keep & (path != 0)]])
    return out


def beam(scores: torch.Tensor, lengths: torch.Tensor, alphabet: str, width: int) -> list[str]:
    """Prefix beam search (fast-ctc-decode); ``alphabet`` has one char per class after blank."""
    try:
        from fast_ctc_decode import beam_search
    except ImportError as e:  # pragma: no cover - depends on the optional extra
        raise ImportError("decode.beam > 0 needs fast-ctc-decode: pip install 'menu[beam]'") from e
    probs = scores.float().softmax(dim=1).permute(0, 2, 1).cpu().numpy()
    labels = "\0" + alphabet  # position 0 is the blank
    return [
        beam_search(p[:n].copy(), labels, beam_size=width, beam_cut_threshold=0.0)[0]
        for p, n in zip(probs, lengths.tolist(), strict=True)
    ]
