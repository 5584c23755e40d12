"""Converters: folder -> shards -> loader round trip, bad files reported, shards -> folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import GT_TEXTS, png_bytes

from menu.data.convert import convert_folder, export_shards, find_pairs
from menu.data.image import decode_image
from menu.data.loader import make_loader
from menu.data.normalize import HeightNorm
from menu.data.shards import sanitize_key


def test_round_trip_folder_shards_loader_byte_exact(gt_folder, tmp_path: Path) -> None:
    src = gt_folder()
    rep = convert_folder(src, tmp_path / "shards", prefix="train", shard_size=3)
    assert rep.total_written == len(GT_TEXTS)
    assert rep.skip_counts() == {}
    assert len(rep.shards["train"]) == 3  # 8 samples, 3 per shard
    loader = make_loader(rep.shards["train"], HeightNorm(32), batch_size=4, shuffle=0, workers=0)
    got = {k: t for b in loader for k, t in zip(b["keys"], b["texts"], strict=True)}
    assert sorted(got.values()) == sorted(GT_TEXTS)
    gt_of = {sanitize_key(stem): gt for stem, _, gt in find_pairs(src)[0]}
    assert set(got) == set(gt_of)  # every sample back, under its (sanitized) relative name
    for key, text in got.items():  # byte-exact: the gt.txt content minus its final newline
        assert gt_of[key].read_bytes() == text.encode("utf-8") + b"\n"
    assert "book/0002/line_1" in got and "book/0001/010000" in got


def test_export_reverse_round_trip(gt_folder, tmp_path: Path) -> None:
    src = gt_folder()
    rep = convert_folder(src, tmp_path / "shards", shuffle=False)
    res = export_shards(rep.shards["train"], tmp_path / "back")
    assert res == {"written": len(GT_TEXTS), "skipped": {}}
    pairs_in, _ = find_pairs(src)
    pairs_out, problems = find_pairs(tmp_path / "back")
    assert not any(problems.values())
    by_key = {sanitize_key(stem): (img, gt) for stem, img, gt in pairs_in}
    assert len(pairs_out) == len(pairs_in)
    for stem, img, gt in pairs_out:
        src_img, src_gt = by_key[stem]
        assert img.read_bytes() == src_img.read_bytes()  # grayscale PNGs are stored unchanged
        assert gt.read_bytes() == src_gt.read_bytes()


def test_bad_files_are_skipped_counted_and_listed(tmp_path: Path, render) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    good = png_bytes(render("good"))
    for i in range(3):
        (src / f"ok{i}.png").write_bytes(good)
        (src / f"ok{i}.gt.txt").write_text(f"good line {i}\n", encoding="utf-8")
    (src / "sub" / "broken.png").write_bytes(b"not a png at all")
    (src / "sub" / "broken.gt.txt").write_text("broken image\n", encoding="utf-8")
    (src / "notext.png").write_bytes(good)
    (src / "empty.png").write_bytes(good)
    (src / "empty.gt.txt").write_text(" \n", encoding="utf-8")
    (src / "latin1.png").write_bytes(good)
    (src / "latin1.gt.txt").write_bytes(b"caf\xe9\n")
    (src / "orphan.gt.txt").write_text("no image\n", encoding="utf-8")
    (src / "rgb.png").write_bytes(png_bytes(np.dstack([render("rgb")] * 3), mode="RGB"))
    (src / "rgb.gt.txt").write_text("rgb image\n", encoding="utf-8")
    (src / "photo.jpg").write_bytes(png_bytes(render("jpeg"), fmt="JPEG"))
    (src / "photo.gt.txt").write_text("jpeg image\n", encoding="utf-8")
    rep = convert_folder(src, tmp_path / "out", prefix="mine")
    assert rep.written == {"mine": 5}
    assert rep.skip_counts() == {
        "corrupt_image": 1,
        "missing_text": 1,
        "empty_text": 1,
        "bad_utf8": 1,
        "missing_image": 1,
    }
    report = json.loads((tmp_path / "out" / "convert-report.json").read_text(encoding="utf-8"))
    assert report["skipped_counts"] == rep.skip_counts()
    assert any("broken.png" in item for item in report["skipped"]["corrupt_image"])
    assert report["skipped"]["missing_text"] == [str(src / "notext.png")]
    assert "mine" in report["patterns"]
    summary = rep.summary()
    assert "corrupt_image=1" in summary and "wrote 5 samples" in summary
    texts = sorted(
        t
        for b in make_loader(rep.shards["mine"], HeightNorm(24), batch_size=8, shuffle=0, workers=0)
        for t in b["texts"]
    )
    assert texts == ["good line 0", "good line 1", "good line 2", "jpeg image", "rgb image"]


def test_split_into_train_val_test(gt_folder, tmp_path: Path) -> None:
    texts = [f"line number {i}" for i in range(20)]
    rep = convert_folder(
        gt_folder(texts), tmp_path / "out", split="train=0.8,val=0.1,test=0.1", seed=1
    )
    assert rep.written == {"train": 16, "val": 2, "test": 2}
    assert sorted(rep.shards) == ["test", "train", "val"]
    seen = []
    for split in ("train", "val", "test"):
        loader = make_loader(rep.shards[split], HeightNorm(24), batch_size=32, shuffle=0, workers=0)
        seen += [t for b in loader for t in b["texts"]]
    assert sorted(seen) == sorted(texts)


def test_sanitize_key() -> None:
    assert sanitize_key("a/b.c/d.e f") == "a/b_c/d_e_f"
    assert sanitize_key("../../etc/passwd") == "etc/passwd"
    assert sanitize_key("010001") == "010001"


@pytest.fixture
def page(tmp_path, render):
    """A page image of three rendered lines and where each one is: (folder, boxes, texts)."""
    from PIL import Image

    texts = ["first line 12", "the second one", "3rd and last"]
    lines = [render(t, seed=i) for i, t in enumerate(texts)]
    width = max(x.shape[1] for x in lines) + 40
    page = np.full((sum(x.shape[0] + 10 for x in lines) + 20, width), 255, np.uint8)
    boxes, y = [], 15
    for x in lines:
        page[y : y + x.shape[0], 20 : 20 + x.shape[1]] = x
        boxes.append((20, y, 20 + x.shape[1], y + x.shape[0]))
        y += x.shape[0] + 10
    folder = tmp_path / "pages"
    folder.mkdir()
    Image.fromarray(page).save(folder / "p1.png")
    return folder, boxes, texts


def test_convert_reads_page_xml_alto_and_lists(page, tmp_path):
    from menu.data.shards import iter_members

    folder, boxes, texts = page
    ns = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
    lines = "".join(
        f'<TextLine id="l{i}"><Coords points="{a},{b} {c},{b} {c},{d} {a},{d}"/>'
        f"<TextEquiv><Unicode>{t}</Unicode></TextEquiv></TextLine>"
        for i, ((a, b, c, d), t) in enumerate(zip(boxes, texts, strict=True))
    )
    (folder / "p1.xml").write_text(
        f'<PcGts xmlns="{ns}"><Page imageFilename="p1.png"><TextRegion id="r">{lines}'
        f'<TextLine id="empty"><Coords points="1,1 5,1 5,5 1,5"/></TextLine>'
        "</TextRegion></Page></PcGts>"
    )
    alto_lines = "".join(
        f'<TextLine ID="a{i}" HPOS="{a}" VPOS="{b}" WIDTH="{c - a}" HEIGHT="{d - b}">'
        + "<SP/>".join(f'<String CONTENT="{w}"/>' for w in t.split())
        + "</TextLine>"
        for i, ((a, b, c, d), t) in enumerate(zip(boxes, texts, strict=True))
    )
    alto = tmp_path / "alto"
    alto.mkdir()
    (alto / "p1.png").write_bytes((folder / "p1.png").read_bytes())
    (alto / "p1.xml").write_text(
        '<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Description>'
        "<MeasurementUnit>pixel</MeasurementUnit><sourceImageInformation>"
        "<fileName>p1.png</fileName></sourceImageInformation></Description><Layout><Page>"
        f"<PrintSpace><TextBlock>{alto_lines}</TextBlock></PrintSpace></Page></Layout></alto>"
    )
    for src, skipped in ((folder, {"missing_text": 1}), (alto / "p1.xml", {})):
        report = convert_folder(src, tmp_path / f"out-{src.name}", shuffle=False)
        assert report.total_written == 3 and report.skip_counts() == skipped
        samples = list(iter_members(report.shards["train"]))
        assert [s["txt"].decode() for s in samples] == texts
        a, b, c, d = boxes[0]
        assert decode_image(samples[0]["png"]).shape == (d - b, c - a)
    listing = tmp_path / "list.tsv"
    listing.write_text("# image<TAB>label\npages/p1.png\tthe whole page\nmissing.png\tgone\n")
    report = convert_folder(listing, tmp_path / "out-list")
    assert report.total_written == 1 and report.skip_counts() == {"missing_image": 1}
