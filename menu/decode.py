"""CTC decoding of B x classes x L scores: greedy (best path), beam search, and beam search
with a character language model (:mod:`menu.lm`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from menu.lm import BOS, EOS, CharNgram


def greedy(scores: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best-path decoding: argmax per frame, collapse repeats, drop blanks (class 0).

    Vectorized over the batch (one argmax, one mask, one ``tolist``): half the time of
    per-line tensor indexing, though either is about 1% of inference on CPU."""
    best = scores.argmax(dim=1).cpu()  # B x L
    n = lengths.cpu().clamp(max=best.shape[1])
    keep = best != 0
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    keep &= torch.arange(best.shape[1]) < n[:, None]
    flat, counts = best[keep].tolist(), keep.sum(dim=1).tolist()
    out, start = [], 0
    for c in counts:
        out.append(flat[start : start + c])
        start += c
    return out


@dataclass(frozen=True)
class Emission:
    """One character of a best path: its class, the frames ``start``..``end`` (inclusive)
    where it was the most likely class, and its confidence (highest probability there)."""

    cls: int
    start: int
    end: int
    confidence: float


def greedy_path(scores: torch.Tensor, lengths: torch.Tensor) -> list[list[Emission]]:
    """:func:`greedy` with where and how sure: one :class:`Emission` per decoded character
    (the same characters as :func:`greedy`)."""
    probs, best = scores.float().softmax(dim=1).max(dim=1)
    out = []
    for p, b, n in zip(probs.cpu(), best.cpu(), lengths.tolist(), strict=True):
        line: list[Emission] = []
        for t in range(n):
            c = int(b[t])
            if c != 0 and t > 0 and int(b[t - 1]) == c:
                last = line[-1]
                line[-1] = Emission(c, last.start, t, max(last.confidence, float(p[t])))
            elif c != 0:
                line.append(Emission(c, t, t, float(p[t])))
        out.append(line)
    return out


def best_path_score(scores: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """B: the mean over each line's frames of the log-probability of its most likely class
    (blank included): how sure the model is of its best path, comparable between readings
    of one line with the same number of frames."""
    best = scores.float().log_softmax(dim=1).max(dim=1).values  # B x L
    n = lengths.to(best.device).clamp(min=1, max=best.shape[1])
    mask = torch.arange(best.shape[1], device=best.device) < n[:, None]
    return (best * mask).sum(dim=1) / n


def beam(scores: torch.Tensor, lengths: torch.Tensor, alphabet: str, width: int) -> list[str]:
    """Prefix beam search (fast-ctc-decode); ``alphabet`` has one char per class after blank."""
    try:
        from fast_ctc_decode import beam_search
    except ImportError as e:  # pragma: no cover - depends on the optional extra
        raise ImportError(
            "decode.beam > 0 needs fast-ctc-decode: pip install 'menu-ocr[beam]'"
        ) from e
    probs = scores.float().softmax(dim=1).permute(0, 2, 1).cpu().numpy()
    labels = "\0" + alphabet  # position 0 is the blank
    return [
        beam_search(p[:n].copy(), labels, beam_size=width, beam_cut_threshold=0.0)[0]
        for p, n in zip(probs, lengths.tolist(), strict=True)
    ]


def beam_lm(
    scores: torch.Tensor,
    lengths: torch.Tensor,
    alphabet: str,
    lm: CharNgram,
    width: int,
    weight: float,
    bonus: float,
    prune: float = 1e-3,
) -> list[str]:
    """CTC prefix beam search with a character language model (shallow fusion, as in
    Hannun et al. 2014): a prefix scores log P_ctc + ``weight`` * log P_lm + ``bonus`` per
    character, and the line's end is scored by the model too. Per frame only classes with
    probability above ``prune`` are extended; ``alphabet`` has one char per class after
    the blank."""
    logp = scores.float().log_softmax(dim=1).permute(0, 2, 1).cpu()  # B x L x C
    cut = math.log(prune)
    return [
        _beam_line(lp[:n], alphabet, lm, width, weight, bonus, cut)
        for lp, n in zip(logp, lengths.tolist(), strict=True)
    ]


def _beam_line(
    logp: torch.Tensor,
    alphabet: str,
    lm: CharNgram,
    width: int,
    weight: float,
    bonus: float,
    cut: float,
) -> str:
    # prefix -> [log P(ending in blank), log P(ending in a character)], LM scores included
    beams: dict[str, list[float]] = {"": [0.0, -math.inf]}
    for frame in logp:
        top = (frame > cut).nonzero().flatten().tolist()
        lp = frame.tolist()
        nxt: dict[str, list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            total = _add(pb, pnb)
            entry = nxt.setdefault(prefix, [-math.inf, -math.inf])
            entry[0] = _add(entry[0], total + lp[0])
            for c in top:
                if c == 0:
                    continue
                ch = alphabet[c - 1]
                if prefix and prefix[-1] == ch:  # the same character again: a blank between
                    entry[1] = _add(entry[1], pnb + lp[c])
                    base = pb
                else:
                    base = total
                if base == -math.inf:
                    continue
                ext = nxt.setdefault(prefix + ch, [-math.inf, -math.inf])
                fused = base + lp[c] + weight * lm.logprob(BOS + prefix, ch) + bonus
                ext[1] = _add(ext[1], fused)
        beams = dict(sorted(nxt.items(), key=lambda kv: -_add(*kv[1]))[:width])
    end = {p: _add(*s) + weight * lm.logprob(BOS + p, EOS) for p, s in beams.items()}
    return max(end, key=end.__getitem__)


def _add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) for log probabilities (-inf for none)."""
    if a < b:
        a, b = b, a
    return a if b == -math.inf else a + math.log1p(math.exp(b - a))
