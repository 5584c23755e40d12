"""A data config's splits resolved to shard locations: generated once (cached by the
generator config, safe for concurrent jobs) when a ``synth`` block asks for them."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from menu.config import NEUTRAL
from menu.data.fonts import resolve_fonts
from menu.data.synth import GENERATOR_VERSION, generate

# --------------------------------------------------------------------------- prepare

_SPLITS = ("train", "val", "test")


def _base_dir() -> str:
    """Original working directory (Hydra changes cwd in jobs), else the current one."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.utils import get_original_cwd

        if HydraConfig.initialized():
            return get_original_cwd()
    except Exception:  # pragma: no cover - hydra missing or not configured
        pass
    return os.getcwd()


def _file_digest(spec: Any) -> Any:
    """Content digest of corpus files (so an edited corpus regenerates)."""
    if spec is None or spec in ("", "builtin"):
        return spec
    if isinstance(spec, list | tuple):
        return [_file_digest(s) for s in spec]
    p = Path(os.path.expanduser(str(spec)))
    files = sorted(p.rglob("*.txt")) if p.is_dir() else [p]
    h = hashlib.sha1()
    for f in files:
        h.update(f.read_bytes() if f.exists() else b"<missing>")
    return [str(spec), h.hexdigest()]


def _plain(cfg: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, DictConfig | ListConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return cfg


def _abs(path: str, base: str) -> str:
    path = os.path.expanduser(str(path))
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def synth_cache_dir(synth: Mapping[str, Any], base: str | None = None) -> str:
    """Absolute cache folder ``{dir}/synth-{hash}`` for a ``synth`` config block."""
    synth = dict(_plain(synth))
    base = base or _base_dir()
    key = {k: v for k, v in synth.items() if k not in ("dir", "workers", "progress")}
    for name, value in NEUTRAL.items():  # added later: at that value, the lines drawn before
        if not name.startswith("data.synth."):
            continue
        *parents, leaf = name.removeprefix("data.synth.").split(".")
        block = key
        for p in parents:  # nested keys (degrade.fade): a copy of each block on the way
            if not isinstance(block.get(p), dict):
                break
            block[p] = dict(block[p])
            block = block[p]
        else:
            if leaf in block and block[leaf] == value:
                del block[leaf]
    key["corpus"] = _file_digest(key.get("corpus"))
    key["test_corpus"] = _file_digest(key.get("test_corpus"))
    for k in ("fonts", "test_fonts"):
        if key.get(k) is not None or k == "fonts":
            key[k] = [[os.path.basename(f), os.path.getsize(f)] for f in resolve_fonts(key.get(k))]
    key["version"] = GENERATOR_VERSION
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return os.path.join(_abs(synth.get("dir") or "data", base), f"synth-{digest}")


#: ``data.synth`` keys that are not passed on to every split as they are.
_PER_SPLIT = ("dir", "cache_dir", "n_train", "n_val", "n_test", "fonts", "test_fonts", "corpus",
              "test_corpus", "degrade")  # fmt: skip


def generate_splits(synth: dict[str, Any], out: str, splits: Sequence[str]) -> dict[str, list[str]]:
    """Generate ``splits`` of a plain ``data.synth`` block into ``out`` (no cache): each
    split's corpus part and fonts, the block's text and degradation settings; the shard
    paths per split."""
    keys = ("seed", "shard_size", "workers", "min_chars", "max_chars", "mix", "words",
            "language", "mix_caps", "caps_lines", "slashes", "holdout_text",
            "progress")  # fmt: skip
    unknown = set(synth) - set(keys) - set(_PER_SPLIT)
    if unknown:  # a knob that would be hashed into the folder name but never reach the lines
        raise ValueError(f"data.synth has keys the generator does not know: {sorted(unknown)}")
    # what the block leaves out takes generate()'s defaults: one source for each of them
    common = {k: synth[k] for k in keys if k in synth} | dict(synth.get("degrade") or {})
    holdout = common.get("holdout_text", inspect.signature(generate).parameters["holdout_text"])
    held_out_corpus = (
        synth.get("test_corpus") is None and float(getattr(holdout, "default", holdout)) > 0
    )
    shards: dict[str, list[str]] = {}
    for split in splits:
        n = int(synth.get(f"n_{split}", 0))
        if n <= 0:
            raise ValueError(f"data.synth.n_{split} must be > 0 to generate the {split} split")
        if split == "test":
            corpus = synth.get("test_corpus") or synth.get("corpus")
            part = "heldout" if held_out_corpus else "all"
            fonts = synth.get("test_fonts") or synth.get("fonts")
        else:
            corpus = synth.get("corpus")
            part = "train" if held_out_corpus else "all"
            fonts = synth.get("fonts")
        shards[split] = generate(
            out, n, prefix=split, corpus=corpus, corpus_part=part, fonts=fonts, **common
        )
    return shards


@contextmanager
def _file_lock(path: str) -> Iterator[None]:
    """Exclusive advisory lock (POSIX flock); a no-op where fcntl is unavailable."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _ensure_synth(synth: dict[str, Any], out: str) -> None:
    """Generate all splits into ``out`` unless a complete copy (manifest.json) exists.

    Concurrent callers serialize on a lock file; each generates into a private temp
    folder renamed into place at the end, so a crash never leaves a partial cache.
    """
    manifest = os.path.join(out, "manifest.json")
    if os.path.exists(manifest):
        return
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    with _file_lock(os.path.join(parent, f".{os.path.basename(out)}.lock")):
        if os.path.exists(manifest):  # another job finished it while we waited
            return
        tmp = tempfile.mkdtemp(prefix=f".tmp-{os.path.basename(out)}-", dir=parent)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared
        try:
            shards = generate_splits(synth, tmp, _SPLITS)
            rel = {k: [os.path.basename(p) for p in v] for k, v in shards.items()}
            with open(os.path.join(tmp, "manifest.json"), "w", encoding="utf-8") as f:
                json.dump(
                    {"synth": synth, "version": GENERATOR_VERSION, "shards": rel}, f, indent=1
                )
            try:
                os.rename(tmp, out)
            except OSError:
                if not os.path.exists(manifest):  # not a lost race: a real error
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def prepare(data_cfg: Any) -> Any:
    """Resolve the data config's ``train``/``val``/``test`` to real shard locations.

    Returns an updated copy (a ``DictConfig`` if given one, else a dict); the input is
    not modified. Relative local paths are made absolute against the original working
    directory (Hydra's, if running inside Hydra). Splits that are ``null`` while a
    ``synth`` block is present are generated (once) into ``{synth.dir}/synth-{hash}``,
    where the hash covers the generator config: a different config uses a different
    folder, an existing complete folder is reused, and generation happens in a
    temporary folder renamed into place, so concurrent jobs never see partial data.
    The chosen folder is stored as ``synth.cache_dir``.
    """
    from omegaconf import DictConfig, OmegaConf

    from menu.data.shards import brace_pattern, expand_urls

    was_omega = isinstance(data_cfg, DictConfig)
    d = OmegaConf.to_container(data_cfg, resolve=True) if was_omega else dict(data_cfg)
    base = _base_dir()
    unset = [s for s in _SPLITS if d.get(s) == "???"]
    if unset:
        raise ValueError(
            f"data.{unset[0]} is mandatory: give shard URL(s), e.g. "
            f"data.{unset[0]}='data/mine/{unset[0]}-{{000000..000009}}.tar'"
        )
    missing = [s for s in _SPLITS if d.get(s) is None]
    synth = d.get("synth")
    if missing and synth:
        out = synth_cache_dir(synth, base)
        manifest = os.path.join(out, "manifest.json")
        _ensure_synth(synth, out)
        with open(manifest, encoding="utf-8") as f:
            rel = json.load(f)["shards"]
        for s in missing:
            d[s] = brace_pattern([os.path.join(out, p) for p in rel[s]])
        d["synth"] = {**synth, "cache_dir": out}
    elif missing:
        raise ValueError(
            f"data.{missing[0]} is not set and there is no data.synth block to generate it; "
            "set data.train/val/test to shard URLs (e.g. data=shards data.train=...)"
        )
    for s in _SPLITS:
        v = d[s]
        if isinstance(v, str):
            d[s] = v if _is_url(v) else _abs(v, base)
        else:
            d[s] = [u if _is_url(u) else _abs(u, base) for u in v]
        expand_urls(d[s])  # fail early with a clear message if local shards are missing
    return OmegaConf.create(d) if was_omega else d


def _is_url(u: str) -> bool:
    from menu.data.shards import is_remote

    return is_remote(str(u))
