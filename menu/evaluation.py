"""Scoring one split, the same way everywhere: the test and validation passes of training
(``LitRecognizer``) and ``menu-eval`` (``menu.infer.evaluate``) feed their batches and the
recognized texts to one :class:`Evaluation`.

Every labelled line is scored: a line without a usable image (a batch's ``failed`` list)
counts as an empty hypothesis with its reason; characters outside the codec stay in the
references (they are errors) and are reported; the fonts come from each line's metadata
in the batch (``KEY.json`` of generated lines), so nothing reads the shards a second time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import repeat
from typing import Any

from menu.data.codec import Codec, UnknownCharReport
from menu.metrics import ErrorRates, group_table


class Evaluation:
    """The scores of one pass over one split (see the module docstring)."""

    def __init__(self, codec: Codec, keep_lines: bool = True) -> None:
        self.codec = codec
        self.rates = ErrorRates(keep_lines=keep_lines)
        self.unknown = UnknownCharReport(codec)
        self.skipped: Counter[str] = Counter()
        self.failed: list[dict[str, str]] = []
        self.fonts: dict[str, str] = {}
        self.recognized = 0  # lines the model read (for lines/s)
        self.turned: dict[str, str] = {}  # tall lines read turned: key -> direction

    def _add(self, key: str, text: str, hyp: str, meta: dict, reason: str = "") -> None:
        ref = self.codec.normalize(text)
        self.unknown.add(ref, key)  # unknown chars stay in the reference: they are errors
        self.rates.add(ref, hyp, key, reason=reason)
        if (font := (meta or {}).get("font")) is not None:
            self.fonts[str(key)] = str(font)

    def add(self, batch: dict[str, Any], hyps: Sequence[str] = ()) -> None:
        """A batch of the loader (``score_all``) and the texts recognized for its lines."""
        self.skipped.update({k: int(v) for k, v in (batch.get("skipped") or {}).items() if v})
        for line in batch.get("failed") or ():  # labelled, but no usable image
            self._add(line["key"], line["text"], "", line.get("meta") or {}, line["reason"])
            self.failed.append({"key": line["key"], "reason": line["reason"], "url": line["url"]})
        metas = batch.get("meta") or repeat({})
        for key, text, hyp, meta in zip(batch["keys"], batch["texts"], hyps, metas, strict=False):
            self._add(key, text, hyp, meta)
        self.recognized += len(hyps)

    @property
    def n(self) -> int:
        """Labelled lines scored."""
        return self.rates.n

    def records(self) -> list[dict]:
        """Every line's key, reference, hypothesis, edit counts, reason, and font when the
        data record fonts."""
        records = self.rates.line_records()
        if self.fonts:
            for r in records:
                r["font"] = self.fonts.get(str(r["key"]), "")
        return records

    def by_font(self) -> dict[str, dict]:
        """Corpus CER per font, worst first (empty when the data record no fonts)."""
        return group_table(self.rates.line_records(), self.fonts) if self.fonts else {}

    def summary(self, confusions: int = 10) -> dict[str, Any]:
        """What ``menu-eval`` prints (and the test record keeps)."""
        r = self.rates
        return {
            "n": r.n,
            "cer": r.cer,
            "wer": r.wer,
            "char_errors": r.char_errors,
            "ref_chars": r.ref_chars,
            "failed": dict(r.failed),
            "failed_lines": self.failed,
            "by_length": r.length_table(),
            "by_font": self.by_font(),
            "confusions": r.top_confusions(confusions),
            "unknown_char_lines": self.unknown.lines_affected,
            "unknown": self.unknown.to_dict(),
            "skipped": dict(self.skipped),
            "turned": dict(self.turned),
        }
