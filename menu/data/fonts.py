"""Fonts for generated lines: families by name (matplotlib's DejaVu and STIX, Debian's
font packages), font files or folders, and which characters a font covers."""

from __future__ import annotations

import glob
import logging
import os
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

log = logging.getLogger(__name__)

_FAMILIES = {
    "dejavu": [
        "DejaVuSans.ttf",
        "DejaVuSans-Bold.ttf",
        "DejaVuSans-Oblique.ttf",
        "DejaVuSans-BoldOblique.ttf",
        "DejaVuSerif.ttf",
        "DejaVuSerif-Bold.ttf",
        "DejaVuSerif-Italic.ttf",
        "DejaVuSerif-BoldItalic.ttf",
        "DejaVuSansMono.ttf",
        "DejaVuSansMono-Bold.ttf",
        "DejaVuSansMono-Oblique.ttf",
        "DejaVuSansMono-BoldOblique.ttf",
    ],
    "stix": [
        "STIXGeneral.ttf",
        "STIXGeneralBol.ttf",
        "STIXGeneralItalic.ttf",
        "STIXGeneralBolIta.ttf",
    ],
}
_FONT_EXTS = (".ttf", ".otf", ".ttc")


def _mpl_font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def resolve_fonts(spec: str | Sequence[str] | None) -> list[str]:
    """Font file paths from a spec (or list of specs).

    A spec is ``"dejavu"`` / ``"stix"`` (families shipped with matplotlib), a font
    file name in matplotlib's font folder (``"DejaVuSerif.ttf"`` or ``"DejaVuSerif"``),
    a path to a ``.ttf``/``.otf``/``.ttc`` file, a folder (searched recursively) or a
    glob. ``None`` means ``["dejavu", "stix"]``. Raises if nothing is found.
    """
    if spec is None:
        spec = ["dejavu", "stix"]
    specs = [spec] if isinstance(spec, str | os.PathLike) else list(spec)
    mpl = _mpl_font_dir()
    out: list[str] = []
    for s in specs:
        s = os.path.expanduser(os.fspath(s))
        if s.lower() in _FAMILIES:
            found = [str(mpl / f) for f in _FAMILIES[s.lower()] if (mpl / f).exists()]
        elif os.path.isdir(s):
            found = sorted(
                str(p) for p in Path(s).rglob("*") if p.suffix.lower() in _FONT_EXTS and p.is_file()
            )
        elif os.path.isfile(s):
            found = [s]
        elif any(c in s for c in "*?["):
            found = sorted(
                p for p in glob.glob(s, recursive=True) if p.lower().endswith(_FONT_EXTS)
            )
        else:
            name = s if s.lower().endswith(_FONT_EXTS) else s + ".ttf"
            found = [str(mpl / name)] if (mpl / name).exists() else []
        if not found:
            raise FileNotFoundError(f"no fonts found for {s!r} (families: {sorted(_FAMILIES)})")
        out.extend(f for f in found if f not in out)
    return out


@lru_cache(maxsize=64)
def font_chars(path: str) -> frozenset[str]:
    """Characters with a glyph in the font's character map."""
    try:
        from matplotlib.ft2font import FT2Font

        return frozenset(chr(c) for c in FT2Font(path).get_charmap())
    except Exception:  # pragma: no cover - exotic font formats: assume everything renders
        log.warning("cannot read the character map of %s; assuming full coverage", path)
        return frozenset()


def _covers(path: str, text: str) -> bool:
    chars = font_chars(path)
    if not chars:
        return True
    return all(c in chars or c.isspace() or unicodedata.category(c) in ("Cf", "Mn") for c in text)


@lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)
