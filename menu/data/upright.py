"""Lines set vertically: a landscape table's line or a rotated caption, cropped from a page
as an image much taller than wide. A line recognizer reads rows left to right, so such a
crop comes out as nothing (uw3_500's ``book/1150/010008``, 35 x 916 pixels).

A crop at least ``ratio`` times taller than wide (3 by default: a single upright glyph in a
real crop is at most about 1.5 times taller than wide) is turned a quarter both ways; the
recognizer reads both and keeps the turn whose best path it is surer of
(:func:`menu.decode.best_path_score`: the mean log-probability of each frame's most likely
class, blanks included, so an upside-down reading's unsure frames lose). Nothing is
learned or tuned on the lines read: the rule is the crop's shape and the model's own
confidence.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TALL", "TURNS", "is_tall", "turned"]

TALL = 3.0  #: default height / width from which a crop is read turned
TURNS = ("clockwise", "counterclockwise")  #: the two readings, in the order of turned()


def is_tall(shape: tuple[int, ...], ratio: float) -> bool:
    """Whether an image of ``shape`` (H, W, ...) is read turned (``ratio`` 0: never)."""
    return ratio > 0 and shape[0] >= ratio * max(shape[1], 1)


def turned(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image turned a quarter clockwise (text that ran bottom to top now runs left to
    right) and counterclockwise (text that ran top to bottom), H x W -> W x H each."""
    return np.ascontiguousarray(np.rot90(pixels, -1)), np.ascontiguousarray(np.rot90(pixels, 1))
