"""``verimap.toml``: defaults for every CLI command; command-line flags override it.

The file is ``--config PATH`` if given, else ``./verimap.toml`` if it exists, else built-in defaults. All keys are
optional and top-level::

    store = "./verimap-index"   # local Chroma directory (relative paths: relative to this file)
    collection = "verimap"
    # host = "chroma.internal"  # use a Chroma server instead of the local directory
    # port = 8000
    encoder = ""                # local transformers model directory; empty/absent: the bundled MiniLM
    weights = ""                # verifier .safetensors (with its .json card); empty/absent: the shipped weights
    device = "cpu"
    recall_k = 50               # candidates recalled from the store per search
    k = 10                      # results shown per search
    mode = "rerank"             # rerank | filter | fuse
    threshold = 0.5             # accept threshold; absent: the weights card's default

Unknown keys are an error (a typo should not be silently ignored).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from verimap.policy import MODES

CONFIG_NAME = "verimap.toml"


class ConfigError(ValueError):
    """The config file is missing, unreadable, or holds a bad value."""


@dataclass(frozen=True)
class Config:
    store: str = "./verimap-index"
    collection: str = "verimap"
    host: str | None = None
    port: int | None = None
    encoder: str | None = None
    weights: str | None = None
    device: str = "cpu"
    recall_k: int = 50
    k: int = 10
    mode: str = "rerank"
    threshold: float | None = None
    source: str | None = None  # the file these values came from, if any (not a config key)


KEYS = {f.name for f in fields(Config)} - {"source"}
PATH_KEYS = ("store", "encoder", "weights")


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
        raise ConfigError(f"config {path} is not valid TOML: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def check(cfg: Config) -> Config:
    """Validate values, whatever their origin; raises :class:`ConfigError` naming the key."""
    where = f" (from {cfg.source})" if cfg.source else ""
    for key in ("store", "collection", "device"):
        if not isinstance(getattr(cfg, key), str) or not getattr(cfg, key):
            raise ConfigError(f"{key} must be a non-empty string{where}")
    for key in ("host", "encoder", "weights"):
        value = getattr(cfg, key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{key} must be a string{where}")
    for key in ("recall_k", "k"):
        value = getattr(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key} must be a positive integer, got {value!r}{where}")
    if cfg.port is not None and (isinstance(cfg.port, bool) or not isinstance(cfg.port, int) or not 0 < cfg.port < 65536):
        raise ConfigError(f"port must be an integer in 1..65535, got {cfg.port!r}{where}")
    if cfg.mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {cfg.mode!r}{where}")
    t = cfg.threshold
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0):
        raise ConfigError(f"threshold must be a number in [0, 1], got {t!r}{where}")
    return cfg


def load_config(path: str | Path | None = None) -> Config:
    """Read ``path`` (must exist), or ``./verimap.toml`` if present, else defaults.

    Relative paths in the file (``store``, ``encoder``, ``weights``) are resolved against the file's directory;
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


# -- the CLI side --------------------------------------------------------------------------------------------------
def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="TOML", help=f"config file (default: ./{CONFIG_NAME} if present)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoder", help="local encoder model directory (default: bundled all-MiniLM-L6-v2)")
    parser.add_argument("--weights", help="verifier .safetensors with its .json card (default: shipped weights)")
    parser.add_argument("--device", help="torch device (default: cpu)")
    parser.add_argument("--threshold", type=float, help="accept threshold in [0, 1] (default: the weights card's)")


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="DIR", help="local index directory (default: ./verimap-index)")
    parser.add_argument("--collection", help="collection name (default: verimap)")
    parser.add_argument("--host", help="Chroma server host: use it instead of the local directory")
    parser.add_argument("--port", type=int, help="Chroma server port (default: 8000)")


def resolve(args: argparse.Namespace) -> Config:
    """The config file's values with every flag the user gave on top; errors become one-line CLI errors."""
    from verimap.cli import CLIError

    try:
        cfg = load_config(getattr(args, "config", None))
        overrides = {k: getattr(args, k) for k in KEYS if getattr(args, k, None) is not None}
        return check(replace(cfg, **overrides))
    except ConfigError as exc:
        raise CLIError(str(exc)) from exc


def make_encoder(cfg: Config):
    """The encoder a config names, loaded once per process (:func:`verimap.shared.shared_encoder`)."""
    from verimap.cli import CLIError
    from verimap.shared import shared_encoder

    try:
        return shared_encoder(cfg.encoder, cfg.device)
    except (FileNotFoundError, OSError, ValueError, RuntimeError) as exc:
        raise CLIError(f"cannot load encoder {cfg.encoder or '(bundled)'}: {exc}") from exc


def make_verifier(cfg: Config, encoder=None):
    from verimap.cli import CLIError
    from verimap.verifier import Verifier
    from verimap.weights import WeightsError

    encoder = encoder if encoder is not None else make_encoder(cfg)
    try:
        return Verifier(cfg.weights, encoder=encoder, device=cfg.device, threshold=cfg.threshold)
    except (WeightsError, FileNotFoundError, ValueError) as exc:
        raise CLIError(f"cannot load verifier weights {cfg.weights or '(shipped)'}: {exc}") from exc


def open_store(cfg: Config, encoder=None, *, create: bool):
    from verimap.cli import CLIError
    from verimap.store import StoreError, VerimapStore

    try:
        return VerimapStore(cfg.store, collection=cfg.collection, host=cfg.host, port=cfg.port,
                            encoder=encoder, create=create)
    except StoreError as exc:
        raise CLIError(str(exc)) from exc
    except ImportError as exc:
        raise CLIError(str(exc)) from exc
    except Exception as exc:  # chromadb: bad collection name, server unreachable, ...
        raise CLIError(f"cannot open store {cfg.host or cfg.store}: {exc}") from exc


def help_text(doc: str) -> str:
    """A command module's docstring, minus its first paragraph and reST markup, for ``--help``."""
    import re

    body = doc.split("\n\n", 1)[1] if "\n\n" in doc else doc
    body = re.sub(r":\w+:`~?([^`]+)`", r"\1", body)
    return body.replace("``", "").strip()
