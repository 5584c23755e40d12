"""Text lines from page layouts: PAGE-XML (any version) and ALTO files, each line cropped
from its page image by its box, with its transcript; and ``path<TAB>label`` lists.

What ``menu-data convert`` reads besides folders of ``NAME.png`` + ``NAME.gt.txt``. A line
without a transcript, or whose box falls outside its page, is reported, not guessed.
"""

from __future__ import annotations

import io
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from menu.data.image import encode_png, open_image, pil_to_gray

#: A line: (key stem, PNG bytes of its image or None, transcript or None, where it came from).
Line = tuple[str, bytes | None, str | None, str]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in node if _local(c.tag) == name]


def _first(node: ET.Element, name: str) -> ET.Element | None:
    return next(iter(_children(node, name)), None)


def _page_image(xml_path: Path, name: str | None) -> np.ndarray:
    if not name:
        raise ValueError("the layout names no page image")
    path = Path(name) if os.path.isabs(name) else xml_path.parent / name
    with open_image(path) as im:
        im.load()
        return pil_to_gray(im)


def _crop(page: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> bytes | None:
    h, w = page.shape
    a, b = max(0, int(np.floor(x0))), min(w, int(np.ceil(x1)))
    c, d = max(0, int(np.floor(y0))), min(h, int(np.ceil(y1)))
    if b - a < 1 or d - c < 1:
        return None
    return encode_png(np.ascontiguousarray(page[c:d, a:b]), level=6)


def _points(coords: ET.Element) -> list[tuple[float, float]]:
    """PAGE ``Coords``: ``points="x,y x,y ..."`` (2013+) or ``Point`` children (2010)."""
    if coords.get("points"):
        pairs = re.findall(r"(-?[\d.]+),(-?[\d.]+)", coords.get("points", ""))
        return [(float(x), float(y)) for x, y in pairs]
    return [(float(p.get("x", 0)), float(p.get("y", 0))) for p in _children(coords, "Point")]


def page_lines(xml_path: str | os.PathLike) -> Iterator[Line]:
    """The text lines of a PAGE-XML file: each ``TextLine``'s box (its ``Coords``) cropped
    from the page image, and its own ``TextEquiv`` (the first ``Unicode``)."""
    xml_path = Path(xml_path)
    root = ET.parse(xml_path).getroot()
    page = next((e for e in root.iter() if _local(e.tag) == "Page"), None)
    if page is None:
        raise ValueError(f"{xml_path}: no Page element (not PAGE-XML?)")
    image = _page_image(xml_path, page.get("imageFilename"))
    for i, line in enumerate(e for e in page.iter() if _local(e.tag) == "TextLine"):
        lid = line.get("id") or f"l{i}"
        where = f"{xml_path}#{lid}"
        equiv = _first(line, "TextEquiv")
        unicode = _first(equiv, "Unicode") if equiv is not None else None
        text = unicode.text if unicode is not None else None
        coords = _first(line, "Coords")
        pts = _points(coords) if coords is not None else []
        crop = None
        if pts:
            xs, ys = zip(*pts, strict=True)
            crop = _crop(image, min(xs), min(ys), max(xs), max(ys))
        yield f"{xml_path.stem}/{lid}", crop, text, where


def alto_lines(xml_path: str | os.PathLike) -> Iterator[Line]:
    """The text lines of an ALTO file (pixel units): each ``TextLine``'s box cropped from
    the page image, its text the ``String`` contents joined by spaces (``SP``)."""
    xml_path = Path(xml_path)
    root = ET.parse(xml_path).getroot()
    unit = next((e.text for e in root.iter() if _local(e.tag) == "MeasurementUnit"), "pixel")
    if (unit or "pixel").strip() != "pixel":
        raise ValueError(f"{xml_path}: MeasurementUnit {unit!r}: only pixel is supported")
    name = next((e.text for e in root.iter() if _local(e.tag) == "fileName"), None)
    image = _page_image(xml_path, name)
    for i, line in enumerate(e for e in root.iter() if _local(e.tag) == "TextLine"):
        lid = line.get("ID") or f"l{i}"
        words = [s.get("CONTENT", "") for s in _children(line, "String")]
        text = " ".join(w for w in words if w) or None
        x, y = float(line.get("HPOS", 0)), float(line.get("VPOS", 0))
        w, h = float(line.get("WIDTH", 0)), float(line.get("HEIGHT", 0))
        yield f"{xml_path.stem}/{lid}", _crop(image, x, y, x + w, y + h), text, f"{xml_path}#{lid}"


def layout_lines(xml_path: str | os.PathLike) -> Iterator[Line]:
    """:func:`page_lines` or :func:`alto_lines`, by the file's root element."""
    root = _local(next(ET.iterparse(xml_path, events=("start",)))[1].tag)
    if root == "PcGts":
        return page_lines(xml_path)
    if root == "alto":
        return alto_lines(xml_path)
    raise ValueError(f"{xml_path}: neither PAGE-XML (PcGts) nor ALTO (alto): <{root}>")


def list_lines(list_path: str | os.PathLike) -> Iterator[Line]:
    """``path<TAB>label`` lines (paths relative to the list's folder); blank lines and
    ``#`` comments are ignored."""
    list_path = Path(list_path)
    for n, raw in enumerate(list_path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        path, sep, label = raw.partition("\t")
        where = f"{list_path}:{n}"
        image = Path(path) if os.path.isabs(path) else list_path.parent / path
        try:
            data = image.read_bytes()
            with open_image(io.BytesIO(data)) as im:
                im.load()
                data = encode_png(pil_to_gray(im), level=6)
        except (OSError, ValueError, Image.DecompressionBombError):
            data = None
        yield os.path.splitext(path)[0], data, label if sep else None, where
