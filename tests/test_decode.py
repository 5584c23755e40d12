"""CTC decoding: the batched best path against a line-by-line reference."""

from __future__ import annotations

import torch

from menu.decode import greedy, greedy_path


def reference(scores: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best path one line at a time, one frame at a time: the definition."""
    out = []
    for line, n in zip(scores.argmax(dim=1).tolist(), lengths.tolist(), strict=True):
        ids, prev = [], 0
        for c in line[: max(0, n)]:
            if c != 0 and c != prev:
                ids.append(c)
            prev = c
        out.append(ids)
    return out


def test_greedy_matches_the_line_by_line_definition() -> None:
    gen = torch.Generator().manual_seed(0)
    for _ in range(100):
        b = int(torch.randint(1, 9, (), generator=gen))
        frames = int(torch.randint(1, 30, (), generator=gen))
        scores = torch.randn(b, 4, frames, generator=gen) * 3  # few classes: many repeats
        lengths = torch.randint(0, frames + 1, (b,), generator=gen)
        assert greedy(scores, lengths) == reference(scores, lengths)


def test_greedy_collapses_repeats_and_keeps_a_letter_repeated_across_a_blank() -> None:
    path = torch.tensor([[0, 2, 2, 0, 2, 3, 3, 1, 0, 0]])  # "a a b c" as classes 2 2 3 1
    scores = torch.nn.functional.one_hot(path, 4).permute(0, 2, 1).float()
    assert greedy(scores, torch.tensor([10])) == [[2, 2, 3, 1]]
    assert greedy(scores, torch.tensor([5])) == [[2, 2]]  # frames past the length ignored
    assert [[e.cls for e in line] for line in greedy_path(scores, torch.tensor([10]))] == [
        [2, 2, 3, 1]
    ]


def test_greedy_on_bfloat16_scores_and_an_empty_batch() -> None:
    scores = torch.randn(3, 5, 12).to(torch.bfloat16)
    lengths = torch.tensor([12, 7, 0])
    assert greedy(scores, lengths) == reference(scores.float(), lengths)
    assert greedy(torch.zeros(0, 5, 4), torch.zeros(0, dtype=torch.long)) == []
