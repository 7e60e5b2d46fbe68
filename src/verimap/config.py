"""``verimap.toml``: defaults for every CLI command; command-line flags override it.

The file is ``--config PATH`` if given, else ``./verimap.toml`` if it exists, else built-in defaults. All keys are
optional and top-level; docs/cli.md shows them with their defaults (generated from :class:`Config` by
``scripts/docs_samples.py``). Unknown keys are an error (a typo should not be silently ignored).

This module only reads and checks values; the command line is :mod:`verimap.cli`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from verimap.errors import ConfigError
from verimap.policy import DEFAULT_MODE, MODES

__all__ = ["CONFIG_NAME", "DATA_ENV", "Config", "ConfigError", "check", "data_dir", "load_config"]

CONFIG_NAME = "verimap.toml"
DATA_ENV = "VERIMAP_DATA_DIR"


@dataclass(frozen=True)
class Config:
    """Every ``verimap.toml`` key with its default (:data:`KEY_DOCS` says what each means)."""

    store: str = "./verimap-index"
    collection: str = "verimap"
    host: str | None = None
    port: int | None = None
    encoder: str | None = None
    weights: str | None = None
    device: str = "cpu"
    recall_k: int = 50
    k: int = 10
    mode: str = DEFAULT_MODE
    threshold: float | None = None
    passage_tokens: int | None = None
    passage_overlap: int = 32
    data: str | None = None
    source: str | None = None  # the file these values came from, if any (not a config key)


KEY_DOCS = {
    "store": "local index directory; relative paths are relative to this file",
    "collection": "collection name in the store",
    "host": "a Chroma server to use instead of the local directory",
    "port": "that server's port (absent: 8000)",
    "encoder": 'local transformers model directory; "" or absent: the bundled MiniLM',
    "weights": 'verifier .safetensors (with its .json card); "" or absent: the shipped weights',
    "device": "torch device",
    "recall_k": "candidates recalled per search",
    "k": "results shown per search",
    "mode": "fuse | rerank | filter (docs: verimap.policy)",
    "threshold": "drops candidates under it in every mode; absent: the weights card's, and fuse drops nothing",
    "passage_tokens": "`index`: longest passage in word pieces; absent: what the encoder reads (254)",
    "passage_overlap": "`index`: word pieces repeated between a long document's passages, at most",
    "data": "the shared data folder for eval, train and bench (or --data, or $VERIMAP_DATA_DIR)",
}
"""What each key means, one line each: the comments of :func:`example_toml`."""

EXAMPLES = {"host": "chroma.internal", "port": 8000, "passage_tokens": 200, "data": "../shared/data"}
"""Values shown (commented out) for keys whose default is "absent"."""


KEYS = {f.name for f in fields(Config)} - {"source"}
PATH_KEYS = ("store", "encoder", "weights", "data")


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError as exc:
            raise ConfigError(f"reading {path} needs Python 3.11+ or the 'tomli' package (pip install tomli)") from exc
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:  # tomllib decodes the bytes first: a binary or non-UTF-8 file lands here
        raise ConfigError(
            f"config {path} is not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc


def check(cfg: Config) -> Config:
    """Validate values, whatever their origin; raises :class:`ConfigError` naming the key."""
    where = f" (from {cfg.source})" if cfg.source else ""
    for key in ("store", "collection", "device"):
        if not isinstance(getattr(cfg, key), str) or not getattr(cfg, key):
            raise ConfigError(f"{key} must be a non-empty string{where}")
    for key in ("host", "encoder", "weights", "data"):
        value = getattr(cfg, key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{key} must be a string{where}")
    for key in ("recall_k", "k"):
        value = getattr(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key} must be a positive integer, got {value!r}{where}")
    if cfg.passage_tokens is not None and (
        isinstance(cfg.passage_tokens, bool) or not isinstance(cfg.passage_tokens, int) or cfg.passage_tokens < 8
    ):
        raise ConfigError(f"passage_tokens must be an integer of at least 8, got {cfg.passage_tokens!r}{where}")
    ov = cfg.passage_overlap
    if isinstance(ov, bool) or not isinstance(ov, int) or ov < 0:
        raise ConfigError(f"passage_overlap must be a non-negative integer, got {ov!r}{where}")
    if cfg.port is not None and (
        isinstance(cfg.port, bool) or not isinstance(cfg.port, int) or not 0 < cfg.port < 65536
    ):
        raise ConfigError(f"port must be an integer in 1..65535, got {cfg.port!r}{where}")
    if cfg.mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {cfg.mode!r}{where}")
    t = cfg.threshold
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0):
        raise ConfigError(f"threshold must be a number in [0, 1], got {t!r}{where}")
    return cfg


def load_config(path: str | Path | None = None) -> Config:
    """Read ``path`` (must exist), or ``./verimap.toml`` if present, else defaults.

    Relative paths in the file (``store``, ``encoder``, ``weights``, ``data``) are resolved against the file's directory;
    empty strings mean "default".
    """
    if path is None:
        found = Path(CONFIG_NAME)
        if not found.is_file():
            return Config()
        path = found
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    data = _load_toml(path)
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) in {path}: {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if value == "" and key in (*PATH_KEYS, "host"):
            continue  # "" = default
        if key in PATH_KEYS and isinstance(value, str):
            p = Path(value).expanduser()
            value = str(p if p.is_absolute() else path.parent / p)
        if key == "threshold" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        values[key] = value
    return check(Config(**values, source=str(path)))


def data_dir(flag: str | os.PathLike | None = None, cfg: Config | None = None, *, required: bool = True) -> Path | None:
    """The shared data folder (training and evaluation data): ``flag`` (``--data``), else the config's ``data``
    key, else ``$VERIMAP_DATA_DIR``. The one used must exist (:class:`ConfigError` naming it otherwise); when none
    is given, a :class:`ConfigError` naming all three, or ``None`` if not ``required``."""
    where = f"data in {cfg.source}" if cfg is not None and cfg.source else f"data in {CONFIG_NAME}"
    for value, origin in (
        (flag, "--data"),
        (cfg.data if cfg else None, where),
        (os.environ.get(DATA_ENV), f"${DATA_ENV}"),
    ):
        if value:
            path = Path(value).expanduser()
            if not path.is_dir():
                raise ConfigError(f"data folder not found: {path} (from {origin})")
            return path
    if not required:
        return None
    raise ConfigError(
        f'no data folder given: pass --data DIR, set data = "DIR" in {CONFIG_NAME}, or set ${DATA_ENV} '
        "(the folder holding paws_dev/, scifact/, ...)"
    )


def example_toml(card_threshold: float | None = None) -> str:
    """A ``verimap.toml`` holding every key at its default, one comment each (:data:`KEY_DOCS`): what docs/cli.md
    shows. Keys that default to "absent" are commented out with an example value; ``threshold`` shows
    ``card_threshold`` (the shipped weights' default)."""
    examples = {**EXAMPLES, "threshold": 0.5 if card_threshold is None else card_threshold}
    lines = []
    for f in fields(Config):
        if f.name not in KEY_DOCS:
            continue
        if f.default is not None:
            assignment = f"{f.name} = {json.dumps(f.default)}"
        elif f.name in ("encoder", "weights"):  # "" means the default too, and reads better than a comment
            assignment = f'{f.name} = ""'
        else:
            assignment = f"# {f.name} = {json.dumps(examples[f.name])}"
        lines.append((assignment, KEY_DOCS[f.name]))
    width = max(len(a) for a, _ in lines) + 2
    return "\n".join(f"{a:<{width}}# {doc}" for a, doc in lines)
