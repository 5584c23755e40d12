"""``menu-data``: data utilities (synthetic lines, folder <-> shard conversion, inspection).

Thin argparse front-end over :mod:`menu.data`; every subcommand calls a library function.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence

EPILOG = """examples:
  menu-data synth data/mysynth -n 2000 --prefix train
  menu-data convert path/to/lines data/myshards --split train=0.9,val=0.05,test=0.05
  menu-data export 'data/myshards/train-{000000..000001}.tar' /tmp/look
  menu-data show 'data/myshards/val-*.tar' -o sheet.png
  menu-data stats 'data/myshards/train-*.tar'
"""


def _parse_value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _add_shard_output(p: argparse.ArgumentParser, what: str, seed_help: str) -> None:
    """Options of the commands that write shards: name prefix, shard size, seed, progress."""
    p.add_argument("--prefix", default="train", help="shard name prefix / split (default train)")
    p.add_argument("--shard-size", type=int, default=1000, help=f"{what} per shard (default 1000)")
    p.add_argument("--seed", type=int, default=0, help=seed_help)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_shard_input(p: argparse.ArgumentParser, limit_help: str) -> None:
    """Arguments of the commands that read shards: the URLs and a sample limit."""
    p.add_argument("urls", nargs="+", help="shard paths, brace patterns, globs or URLs")
    p.add_argument("--limit", type=int, default=None, help=limit_help)


def _default(name: str, what: str = "") -> str:
    """Help text naming generate()'s default for ``name``."""
    import inspect

    from menu.data.synth import generate

    value = inspect.signature(generate).parameters[name].default
    return f"{what + ' ' if what else ''}(default {value})"


def _add_synth(sub: argparse._SubParsersAction) -> None:
    from menu.data.synth import Degrade
    from menu.data.text import MIX_CAPS

    p = sub.add_parser(
        "synth",
        help="render synthetic text lines into shards (offline)",
        description="Render synthetic text lines into OUT/PREFIX-NNNNNN.tar shards, offline: "
        "fonts shipped with matplotlib (DejaVu, STIX) or your own, text from the built-in "
        "public-domain corpus or your own file. Deterministic for a given --seed.",
    )
    p.add_argument("out", help="output folder")
    p.add_argument("-n", "--n", type=int, default=2000, help="number of lines (default 2000)")
    _add_shard_output(p, "lines", "seed of fonts, text and degradations (default 0)")
    p.add_argument(
        "--corpus", default=None, help="UTF-8 text file or folder of .txt (default: built-in)"
    )
    p.add_argument(
        "--corpus-part",
        choices=("all", "train", "heldout"),
        default="all",
        help="use all corpus lines, or the train / held-out part (every 1/holdout-th line)",
    )
    p.add_argument("--holdout-text", type=float, help=_default("holdout_text", "held-out fraction"))
    p.add_argument(
        "--fonts",
        nargs="+",
        default=None,
        help="font specs: dejavu, stix, .ttf/.otf files, folders or globs (default: dejavu stix)",
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--min-chars", type=int, help=_default("min_chars"))
    p.add_argument("--max-chars", type=int, help=_default("max_chars"))
    p.add_argument("--mix", type=float, help=_default("mix", "random word/number/symbol lines"))
    p.add_argument("--words", type=float, help=_default("words", "prose by word frequency"))
    p.add_argument("--language", help=_default("language", "language of those lines"))
    p.add_argument(
        "--mix-caps",
        type=float,
        nargs=2,
        metavar=("UPPER", "CAPITALIZED"),
        help="fractions of the random mixes' words in all capitals and capitalized "
        f"(default {' '.join(map(str, MIX_CAPS))})",
    )
    p.add_argument("--caps-lines", type=float, help=_default("caps_lines", "lines in capitals"))
    p.add_argument("--slashes", type=float, help=_default("slashes", "prose tokens with a slash"))
    g = p.add_argument_group("degradations (see menu.data.synth.Degrade)")
    for f in dataclasses.fields(Degrade):
        flag = "--" + f.name.replace("_", "-")
        g.add_argument(
            flag,
            dest=f"degrade_{f.name}",
            type=type(f.default),
            default=None,
            metavar="X",
            help=f"default {f.default}",
        )
    p.set_defaults(func=_cmd_synth)


def _cmd_synth(args: argparse.Namespace) -> int:
    from menu.data.shards import brace_pattern
    from menu.data.synth import generate

    degrade = {
        k.removeprefix("degrade_"): v
        for k, v in vars(args).items()
        if k.startswith("degrade_") and v is not None
    }
    text_keys = ("holdout_text", "min_chars", "max_chars", "mix", "words", "language",
                 "mix_caps", "caps_lines", "slashes")  # fmt: skip
    given = {  # the rest: generate()'s own defaults, the one source of them
        k: getattr(args, k) for k in text_keys if getattr(args, k) is not None
    }
    paths = generate(
        args.out,
        args.n,
        seed=args.seed,
        prefix=args.prefix,
        shard_size=args.shard_size,
        corpus=args.corpus,
        corpus_part=args.corpus_part,
        fonts=args.fonts,
        workers=args.workers,
        progress=not args.no_progress,
        **given,
        **degrade,
    )
    print(f"wrote {args.n} lines to {len(paths)} shard(s): {brace_pattern(paths)}")
    return 0


def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="folder of NAME.png + NAME.gt.txt -> shards (or --reverse)",
        description="Convert a folder of NAME.png + NAME.gt.txt pairs "
        "(OCRopus / kraken / tesseract convention; .bin.png, .nrm.png, .jpg, .tif also "
        "accepted; nested folders allowed) into "
        "WebDataset shards OUT/PREFIX-NNNNNN.tar. Unreadable images and missing, empty or "
        "non-UTF-8 transcripts are skipped, counted and listed in OUT/convert-report.json; the "
        "run still succeeds. With --reverse, SRC is a shard URL/pattern and OUT a folder.",
    )
    p.add_argument(
        "src",
        help="a folder of NAME.png + NAME.gt.txt pairs, of PAGE-XML/ALTO files with their page "
        "images, one such XML file, or a path<TAB>label list (shard URLs with --reverse)",
    )
    p.add_argument("out", help="output folder for the shards (or the exported files)")
    _add_shard_output(p, "samples", "seed of the shuffle/split (default 0)")
    p.add_argument(
        "--split",
        default=None,
        help="random split into several shard sets, e.g. train=0.9,val=0.05,test=0.05",
    )
    p.add_argument("--no-shuffle", action="store_true", help="keep sorted file order in the shards")
    p.add_argument(
        "--report", default="auto", help="JSON report path (default OUT/convert-report.json)"
    )
    p.add_argument("--reverse", action="store_true", help="shards -> folder (same as `export`)")
    p.set_defaults(func=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    if args.reverse:
        return _export(args.src, args.out, None, not args.no_progress)
    from menu.data.convert import convert_folder

    rep = convert_folder(
        args.src,
        args.out,
        prefix=args.prefix,
        shard_size=args.shard_size,
        split=args.split,
        shuffle=not args.no_shuffle,
        seed=args.seed,
        report=args.report,
        progress=not args.no_progress,
    )
    print(rep.summary())
    if args.report:
        print(
            f"report: {args.out + '/convert-report.json' if args.report == 'auto' else args.report}"
        )
    return 0 if rep.total_written > 0 else 1


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="shards -> folder of KEY.png + KEY.gt.txt (for inspection)",
        description="Write the samples of shards back to a folder as KEY.png + KEY.gt.txt.",
    )
    _add_shard_input(p, "stop after this many samples")
    p.add_argument("out", help="output folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=lambda a: _export(a.urls, a.out, a.limit, not a.no_progress))


def _export(urls: str | Sequence[str], out: str, limit: int | None, progress: bool) -> int:
    from menu.data.convert import export_shards

    res = export_shards(urls, out, limit=limit, progress=progress)
    skipped = ", ".join(f"{k}={v}" for k, v in sorted(res["skipped"].items())) or "none"
    print(f"exported {res['written']} samples to {out}; skipped: {skipped}")
    return 0


def _add_show(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show",
        help="PNG contact sheet of raw vs normalized lines",
        description="Render a contact sheet: each line raw and after each normalization "
        "(conf/norm/*.yaml), with the h/2 line in red and the output box framed.",
    )
    p.add_argument(
        "urls", nargs="*", help="shards to read lines from (default: render --synth lines)"
    )
    p.add_argument(
        "-o", "--out", default="contact-sheet.png", help="output PNG (default contact-sheet.png)"
    )
    p.add_argument("-n", "--n", type=int, default=6, help="number of lines (default 6)")
    p.add_argument("--skip", type=int, default=0, help="skip this many lines first")
    p.add_argument("--norm", nargs="+", default=None, help="norm names (default: all in conf/norm)")
    p.add_argument("--height", type=int, default=None, help="override the norms' output height")
    p.add_argument(
        "--seed", type=int, default=0, help="seed for --synth lines when no URLs are given"
    )
    p.set_defaults(func=_cmd_show)


def _cmd_show(args: argparse.Namespace) -> int:
    from menu.data.viz import contact_sheet, load_norms, read_lines

    if args.urls:
        lines = read_lines(args.urls, args.n, skip=args.skip)
    else:
        import numpy as np

        from menu.data.fonts import resolve_fonts
        from menu.data.synth import render_line
        from menu.data.text import TextSource, load_corpus

        fonts, src = resolve_fonts(None), TextSource(load_corpus(None))
        rng = np.random.default_rng(args.seed)
        lines = []
        for i in range(args.n):
            text = src.sample(rng)
            lines.append((f"synth{i}", render_line(text, fonts[i % len(fonts)], rng), text))
    if not lines:
        print("no readable lines found", file=sys.stderr)
        return 1
    out = contact_sheet(lines, load_norms(args.norm, args.height), args.out)
    print(f"wrote {out} ({len(lines)} lines)")
    return 0


def _add_stats(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stats",
        help="sample counts, bad samples, character set, width histogram",
        description="Scan shards: good/skipped sample counts by reason, character set, sizes.",
    )
    _add_shard_input(p, "stop after this many good samples")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--codec-out", default=None, help="also write the codec (JSON) built from these texts"
    )
    p.set_defaults(func=_cmd_stats)


def _cmd_stats(args: argparse.Namespace) -> int:
    from menu.data.viz import format_stats, shard_stats

    st = shard_stats(args.urls, limit=args.limit)
    print(json.dumps(st, ensure_ascii=False, indent=1) if args.json else format_stats(st))
    if args.codec_out:
        from menu.data.codec import Codec

        with open(args.codec_out, "w", encoding="utf-8") as f:
            json.dump(Codec(st["chars"]).to_dict(), f, ensure_ascii=False)
        print(f"codec ({len(st['chars'])} chars) -> {args.codec_out}")
    return 0


def _add_lm(sub: argparse._SubParsersAction) -> None:
    import inspect

    from menu.lm import generated_text

    # the generated text's defaults are generated_text's own
    d = {k: v.default for k, v in inspect.signature(generated_text).parameters.items()}
    p = sub.add_parser(
        "lm",
        help="build a character language model for beam search (menu-eval --lm)",
        description="Count a character n-gram language model (menu.lm) from the generator's "
        "text without its random mixes (prose by word frequency and the corpus's training "
        "part), or from your own text (a file, one line per line, or a folder of .txt), "
        "into OUT (.json.gz).",
    )
    p.add_argument("out", help="output file, e.g. lm.json.gz")
    p.add_argument("--text", help="UTF-8 text file or folder to count instead of generated text")
    p.add_argument("-n", "--n", type=int, default=200_000, help="generated lines (%(default)s)")
    p.add_argument(
        "--order", type=int, default=6, help="characters per n-gram, at most (%(default)s)"
    )
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--corpus", help="corpus file or folder (default: built-in)")
    p.add_argument(
        "--holdout-text",
        type=float,
        default=d["holdout_text"],
        help="corpus part left out (%(default)s)",
    )
    p.add_argument(
        "--words", type=float, default=d["words"], help="fraction of prose lines (%(default)s)"
    )
    p.add_argument("--language", default=d["language"], help="language of the prose (%(default)s)")
    p.add_argument(
        "--max-chars", type=int, default=d["max_chars"], help="longest line (%(default)s)"
    )
    p.set_defaults(func=_cmd_lm)


def _cmd_lm(args: argparse.Namespace) -> int:
    from menu.data.text import load_corpus
    from menu.lm import CharNgram, generated_text

    if args.text:
        lines = load_corpus(args.text)  # a clear error for a missing file or one without text
        source = {"text": args.text}
    else:
        keys = ("n", "seed", "corpus", "holdout_text", "words", "language", "max_chars")
        source = {k: getattr(args, k) for k in keys}
        lines = generated_text(**source)
    lm = CharNgram.fit(lines, order=args.order, source=source)
    lm.save(args.out)
    print(f"{len(lm.counts)} n-grams (order {args.order}) of {len(lines)} lines -> {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``menu-data`` argument parser."""
    ap = argparse.ArgumentParser(
        prog="menu-data",
        description="menu data utilities: synthetic lines, folder <-> shard conversion, "
        "inspection.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_synth, _add_convert, _add_export, _add_show, _add_stats, _add_lm):
        add(sub)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``menu-data``."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, NotADirectoryError, ValueError) as exn:
        print(f"menu-data {args.command}: error: {exn}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` & co.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
