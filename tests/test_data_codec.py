"""Codec: NFC, spaces and non-Latin characters kept, unknown characters reported."""

from __future__ import annotations

import json
import unicodedata

import pytest

from menu.data.codec import (
    Codec,
    UnknownCharError,
    UnknownCharReport,
    clean_text,
)
from menu.data.shards import codec_from_shards, scan_texts


def test_from_texts_keeps_spaces_and_scripts_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "café")
    assert len(decomposed) == 5
    codec = Codec.from_texts(["a b", decomposed, "Ελλάδα", "日本", "a  b"])
    assert " " in codec
    assert "é" in codec and "\u0301" not in codec  # composed by NFC
    for c in "Ελάδα日本":
        assert c in codec
    assert codec.num_classes == len(codec.chars) + 1
    assert codec.chars == sorted(codec.chars)


def test_encode_decode_roundtrip_and_blank() -> None:
    codec = Codec.from_texts(["hello world", "Ωμέγα"])
    text = "hello Ωμέγα"
    ids = codec.encode(text)
    assert 0 not in ids and max(ids) <= len(codec.chars)
    assert codec.decode(ids) == text
    assert codec.decode([0, *ids, 0]) == text  # blank maps to nothing, no collapsing
    assert codec.decode([ids[0], ids[0]]) == text[0] * 2
    with pytest.raises(ValueError, match="out of range"):
        codec.decode([codec.num_classes])


def test_nfd_input_encodes_like_nfc() -> None:
    codec = Codec("café ")
    assert codec.encode(unicodedata.normalize("NFD", "café")) == codec.encode("café")
    raw = Codec("e\u0301", nfc=False)
    assert raw.chars == ["e", "\u0301"]


def test_unknown_chars_raise_with_list() -> None:
    codec = Codec("abc ")
    with pytest.raises(UnknownCharError) as info:
        codec.encode("abc xyz ä")
    assert info.value.unknown == ["x", "y", "z", "ä"]
    assert "U+00E4" in str(info.value)
    assert codec.unknown("abxx") == ["x"]
    assert codec.encode("axb", errors="skip") == codec.encode("ab")
    with pytest.raises(ValueError):
        codec.encode("a", errors="ignore")


def test_dict_roundtrip_is_json_safe() -> None:
    codec = Codec.from_texts(["zebra ÄÖÜ 123", "日本"])
    d = json.loads(json.dumps(codec.to_dict()))
    assert Codec.from_dict(d) == codec
    assert Codec.from_dict(d).encode("zebra") == codec.encode("zebra")


def test_explicit_chars_dedup_and_validation() -> None:
    assert Codec("abca").chars == ["a", "b", "c"]
    assert Codec(["x", "y", "x"]).chars == ["x", "y"]
    with pytest.raises(ValueError):
        Codec(["ab"])
    with pytest.raises(ValueError):
        Codec("")
    with pytest.raises(ValueError):
        Codec("a\n")


def test_unknown_char_report_counts_lines_and_chars() -> None:
    report = UnknownCharReport(Codec("abc "))
    assert report.add("abc") == []
    assert report.add("abxx", key="k1") == ["x"]
    assert report.add("ä a", key="k2") == ["ä"]
    d = report.to_dict()
    assert d["lines_total"] == 3
    assert d["lines_affected"] == 2
    assert d["unknown_chars"] == {"x": 2, "ä": 1}
    assert d["unknown_char_total"] == 3
    assert [e["key"] for e in d["examples"]] == ["k1", "k2"]
    assert "2/3 lines" in report.summary()


def test_clean_text_only_strips_line_breaks() -> None:
    assert clean_text(b"  two  spaces \r\n") == "  two  spaces "
    assert clean_text("\ufeffbom\n".encode()) == "bom"
    with pytest.raises(UnicodeDecodeError):
        clean_text(b"\xff\xfe bad")


def test_scan_texts_and_codec_from_shards(synth_shards: dict) -> None:
    texts = list(scan_texts(synth_shards["pattern"]))
    assert len(texts) == synth_shards["n"]
    assert all(t and t == t.rstrip("\n") for t in texts)
    codec = codec_from_shards(synth_shards["paths"])
    for t in texts:
        codec.encode(t)  # every training character is covered
    assert len(list(scan_texts(synth_shards["pattern"], limit=5))) == 5
