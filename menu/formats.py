"""What ``menu-predict`` writes for a line image read with positions (``--format``): JSON,
hOCR, ALTO or PAGE-XML, with words and characters boxed by their columns on the CTC best
path and their confidences. A line image is one line: boxes span its whole height.
"""

from __future__ import annotations

import html
import json
import os
import xml.etree.ElementTree as ET
from typing import Any

FORMATS = ("text", "json", "hocr", "alto", "page")
SUFFIX = {"hocr": ".hocr", "alto": ".alto.xml", "page": ".page.xml"}
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"


def words(line: dict[str, Any]) -> list[dict[str, Any]]:
    """The line's words (runs of characters without a space): text, x0, x1, confidence
    (the lowest of its characters')."""
    out: list[dict[str, Any]] = []
    current: list[dict] = []
    for c in [*line["chars"], {"char": " "}]:
        if c["char"].isspace():
            if current:
                out.append(
                    {
                        "text": "".join(x["char"] for x in current),
                        "x0": current[0]["x0"],
                        "x1": current[-1]["x1"],
                        "confidence": min(x["confidence"] for x in current),
                        "chars": current,
                    }
                )
            current = []
        else:
            current.append(c)
    return out


def to_json(path: str, line: dict[str, Any]) -> str:
    return json.dumps({"path": path, **line}, ensure_ascii=False)


def hocr(path: str, line: dict[str, Any]) -> str:
    """An hOCR page with one line, its words (``ocrx_word``, ``x_wconf``) and characters
    (``ocrx_cinfo``, ``x_confs``)."""
    w, h = line["width"], line["height"]
    name = html.escape(os.path.basename(path))

    def box(x0: float, x1: float) -> str:
        return f"bbox {round(x0)} 0 {round(x1)} {h}"

    spans = []
    for i, word in enumerate(words(line), 1):
        chars = "".join(
            f'<span class="ocrx_cinfo" title="{box(c["x0"], c["x1"])}; '
            f'x_confs {100 * c["confidence"]:.1f}">{html.escape(c["char"])}</span>'
            for c in word["chars"]
        )
        spans.append(
            f'<span class="ocrx_word" id="word_1_{i}" title="{box(word["x0"], word["x1"])}; '
            f'x_wconf {round(100 * word["confidence"])}">{chars}</span>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>menu</title>'
        '<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>'
        '<meta name="ocr-system" content="menu"/>'
        '<meta name="ocr-capabilities" content="ocr_page ocr_line ocrx_word ocrx_cinfo"/>'
        f'</head><body><div class="ocr_page" id="page_1" title="image {name}; '
        f'bbox 0 0 {w} {h}"><span class="ocr_line" id="line_1" title="bbox 0 0 {w} {h}">'
        + " ".join(spans)
        + "</span></div></body></html>\n"
    )


def alto(path: str, line: dict[str, Any]) -> str:
    """An ALTO v4 page with one text line, its words (``String`` with ``WC``) and their
    spaces."""
    ET.register_namespace("", ALTO_NS)
    q = lambda tag: f"{{{ALTO_NS}}}{tag}"  # noqa: E731
    w, h = line["width"], line["height"]
    root = ET.Element(q("alto"))
    desc = ET.SubElement(root, q("Description"))
    ET.SubElement(desc, q("MeasurementUnit")).text = "pixel"
    src = ET.SubElement(desc, q("sourceImageInformation"))
    ET.SubElement(src, q("fileName")).text = os.path.basename(path)
    page = ET.SubElement(ET.SubElement(root, q("Layout")), q("Page"), ID="page_1",
                         WIDTH=str(w), HEIGHT=str(h), PHYSICAL_IMG_NR="1")  # fmt: skip
    space = ET.SubElement(page, q("PrintSpace"), HPOS="0", VPOS="0", WIDTH=str(w), HEIGHT=str(h))
    block = ET.SubElement(space, q("TextBlock"), ID="block_1", HPOS="0", VPOS="0",
                          WIDTH=str(w), HEIGHT=str(h))  # fmt: skip
    text_line = ET.SubElement(block, q("TextLine"), ID="line_1", HPOS="0", VPOS="0",
                              WIDTH=str(w), HEIGHT=str(h))  # fmt: skip
    for i, word in enumerate(words(line), 1):
        if i > 1:
            ET.SubElement(text_line, q("SP"))
        ET.SubElement(
            text_line, q("String"), ID=f"string_{i}", CONTENT=word["text"],
            HPOS=str(round(word["x0"])), VPOS="0", WIDTH=str(round(word["x1"] - word["x0"])),
            HEIGHT=str(h), WC=f"{word['confidence']:.4f}",
        )  # fmt: skip
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def page(path: str, line: dict[str, Any]) -> str:
    """A PAGE-XML (2019) page with one region, one line, its words and glyphs, each with
    its polygon and ``TextEquiv`` confidence."""
    ET.register_namespace("", PAGE_NS)
    q = lambda tag: f"{{{PAGE_NS}}}{tag}"  # noqa: E731
    w, h = line["width"], line["height"]

    def coords(parent: ET.Element, x0: float, x1: float) -> None:
        a, b = round(x0), round(x1)
        ET.SubElement(parent, q("Coords"), points=f"{a},0 {b},0 {b},{h} {a},{h}")

    def equiv(parent: ET.Element, text: str, conf: float | None) -> None:
        attrs = {"conf": f"{conf:.4f}"} if conf is not None else {}
        ET.SubElement(ET.SubElement(parent, q("TextEquiv"), **attrs), q("Unicode")).text = text

    root = ET.Element(q("PcGts"))
    meta = ET.SubElement(root, q("Metadata"))
    ET.SubElement(meta, q("Creator")).text = "menu"
    pg = ET.SubElement(root, q("Page"), imageFilename=os.path.basename(path),
                       imageWidth=str(w), imageHeight=str(h))  # fmt: skip
    region = ET.SubElement(pg, q("TextRegion"), id="region_1")
    coords(region, 0, w)
    text_line = ET.SubElement(region, q("TextLine"), id="line_1")
    coords(text_line, 0, w)
    for i, word in enumerate(words(line), 1):
        wd = ET.SubElement(text_line, q("Word"), id=f"word_{i}")
        coords(wd, word["x0"], word["x1"])
        for j, c in enumerate(word["chars"], 1):
            glyph = ET.SubElement(wd, q("Glyph"), id=f"glyph_{i}_{j}")
            coords(glyph, c["x0"], c["x1"])
            equiv(glyph, c["char"], c["confidence"])
        equiv(wd, word["text"], word["confidence"])
    equiv(text_line, line["text"], line["confidence"])
    equiv(region, line["text"], None)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


WRITERS = {"hocr": hocr, "alto": alto, "page": page}
