"""What every command shares: its flags, the one way to turn ``verimap.toml`` plus flags into an encoder, a
verifier, a scorer or a store, the checks of text arguments, and the small file helpers.

Every builder turns the core's errors into one-line :class:`~verimap.errors.CLIError`\\ s.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from verimap.config import CONFIG_NAME, KEYS, Config, check, data_dir, load_config
from verimap.errors import CLIError, ConfigError, StoreError, WeightsError
from verimap.inputs import check_query, check_unicode

if TYPE_CHECKING:  # imported lazily: torch and chromadb are slow to load
    from verimap.cache import TokenCache
    from verimap.encoder import TokenEncoder
    from verimap.scorers import Scorer
    from verimap.store import VerimapStore
    from verimap.verifier import Verifier

SCORERS = ("verifier", "maxsim", "pooled")


# -- flags --------------------------------------------------------------------------------------------------------
def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="TOML", help=f"config file (default: ./{CONFIG_NAME} if present)")


def add_model_arguments(parser: argparse.ArgumentParser, *, threshold: bool = True) -> None:
    parser.add_argument("--encoder", help="local encoder model directory (default: bundled all-MiniLM-L6-v2)")
    parser.add_argument("--weights", help="verifier .safetensors with its .json card (default: shipped weights)")
    parser.add_argument("--device", help="torch device (default: cpu)")
    if threshold:
        parser.add_argument("--threshold", type=float, help="accept threshold in [0, 1] (default: the weights card's)")


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="DIR", help="local index directory (default: ./verimap-index)")
    parser.add_argument("--collection", help="collection name (default: verimap)")
    parser.add_argument("--host", help="Chroma server host: use it instead of the local directory")
    parser.add_argument("--port", type=int, help="Chroma server port (default: 8000)")


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", metavar="DIR", help=f"shared data folder (default: `data` in {CONFIG_NAME}, else $VERIMAP_DATA_DIR)"
    )


def help_text(doc: str) -> str:
    """A command module's docstring, minus its first paragraph and reST markup, for ``--help``."""
    body = doc.split("\n\n", 1)[1] if "\n\n" in doc else doc
    body = re.sub(r":\w+:`~?([^`]+)`", r"\1", body)
    return body.replace("``", "").strip()


# -- config -------------------------------------------------------------------------------------------------------
def resolve(args: argparse.Namespace, *, config_flag: bool = True) -> Config:
    """The config file's values with every flag the user gave on top; errors become one-line CLI errors.

    :param config_flag: whether ``--config`` names the ``verimap.toml`` (``train``'s names its training recipe;
        there only ``./verimap.toml`` is read)."""
    try:
        cfg = load_config(getattr(args, "config", None) if config_flag else None)
        overrides = {k: getattr(args, k) for k in KEYS if getattr(args, k, None) is not None}
        return check(replace(cfg, **overrides))
    except ConfigError as exc:
        raise CLIError(str(exc)) from exc


def data_folder(args: argparse.Namespace, cfg: Config, *, required: bool = True) -> Path | None:
    """The shared data folder: ``--data``, else the config's ``data``, else ``$VERIMAP_DATA_DIR``
    (:func:`verimap.config.data_dir`; ``None`` when none is given and it is not ``required``)."""
    try:
        return data_dir(getattr(args, "data", None), cfg, required=required)
    except ConfigError as exc:
        raise CLIError(str(exc)) from exc


# -- builders: the one way every command gets its models and store -------------------------------------------------
def make_encoder(cfg: Config, *, cache: TokenCache | bool | None = None) -> TokenEncoder:
    """The encoder ``cfg`` names (:func:`verimap.build.build_encoder`: the process-wide one, or with ``cache`` a new
    one behind it); a failure is a one-line CLI error."""
    from verimap.build import build_encoder

    try:
        return build_encoder(cfg, cache=cache)
    except ConfigError as exc:
        raise CLIError(str(exc)) from exc


def make_verifier(cfg: Config, encoder: TokenEncoder | None = None) -> Verifier:
    """The verifier ``cfg`` names (:func:`verimap.build.build_verifier`), on ``encoder`` (default:
    :func:`make_encoder`); a failure is a one-line CLI error."""
    from verimap.build import build_verifier

    encoder = encoder if encoder is not None else make_encoder(cfg)
    try:
        return build_verifier(cfg, encoder)
    except WeightsError as exc:
        raise CLIError(str(exc)) from exc


def make_scorer(name: str, cfg: Config) -> Scorer:
    """``verifier`` (:func:`make_verifier`), ``maxsim`` or ``pooled``, on the encoder ``cfg`` names."""
    from verimap.scorers import MaxSim, PooledCosine

    if name == "verifier":
        return make_verifier(cfg)
    return {"maxsim": MaxSim, "pooled": PooledCosine}[name](make_encoder(cfg))


def open_store(cfg: Config, encoder: TokenEncoder | None = None, *, create: bool) -> VerimapStore:
    from verimap.store import VerimapStore

    try:
        return VerimapStore(
            cfg.store, collection=cfg.collection, host=cfg.host, port=cfg.port, encoder=encoder, create=create
        )
    except (StoreError, ImportError) as exc:
        raise CLIError(str(exc)) from exc
    except Exception as exc:  # chromadb: bad collection name, server unreachable, ...
        raise CLIError(f"cannot open store {cfg.host or cfg.store}: {exc}") from exc


# -- arguments ----------------------------------------------------------------------------------------------------
def text_argument(value: str, name: str, *, query: bool = False) -> str:
    """A text given on the command line, checked the same way by every command: empty is ``"{name} is empty"``; a
    query must also hold visible characters (:func:`verimap.inputs.check_query`); undecodable bytes from argv (lone
    surrogates) are named."""
    if not value.strip():
        raise CLIError(f"{name} is empty")
    try:
        return check_query(value) if query else check_unicode(value, name)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


# -- files --------------------------------------------------------------------------------------------------------
def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)``; a bad line is a CLIError naming file and line."""
    try:
        f = open(path, encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}") from exc
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CLIError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise CLIError(f"{path}:{n}: expected a JSON object")
            yield n, obj


def read_text_rows(path: str, fields: Sequence[str]) -> list[dict]:
    """The objects of a JSONL file (see :func:`read_jsonl`) whose ``fields`` all hold text; a missing or non-string
    field, or a lone surrogate (a ``"\\ud800"`` escape, which no tokenizer can read), is a CLIError naming file, line
    and field."""
    rows = []
    for n, obj in read_jsonl(Path(path)):
        for key in fields:
            if not isinstance(obj.get(key), str):
                raise CLIError(f"{path}:{n}: field {key!r} must be a string")
            try:
                check_unicode(obj[key], f"field {key!r}")
            except ValueError as exc:
                raise CLIError(f"{path}:{n}: {exc}") from None
        rows.append(obj)
    return rows


def write_annotated(
    args: argparse.Namespace, rows: list[dict], desc: str, annotate: Callable[[list[dict]], list[dict]]
) -> None:
    """Write each row with the fields ``annotate(batch)`` gives it added, in order, ``--batch-size`` rows at a time,
    to ``--output`` (default stdout), with a progress bar on stderr unless ``--quiet``: the JSONL contract of
    ``score-pairs`` and ``guard``."""
    from tqdm import tqdm

    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        with tqdm(total=len(rows), desc=desc, unit="pair", file=sys.stderr, disable=args.quiet) as bar:
            for start in range(0, len(rows), args.batch_size):
                chunk = rows[start : start + args.batch_size]
                for obj, added in zip(chunk, annotate(chunk)):
                    out.write(json.dumps({**obj, **added}, ensure_ascii=False) + "\n")
                bar.update(len(chunk))
    finally:
        if out is not sys.stdout:
            out.close()


def write_block(path: Path, name: str, body: str) -> None:
    """Replace the ``<!-- name:begin -->`` … ``<!-- name:end -->`` block of a markdown file (appended if absent)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
