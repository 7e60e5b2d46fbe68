"""``verimap index PATH…``: split files into passages, embed them with the encoder, upsert them into the store.

Inputs (a directory is walked recursively for these):

- ``.txt`` / ``.md``: split by :mod:`verimap.splitter` (blank-line paragraphs; long ones cut at sentence ends);
  each passage's id is the sha256 of its text, its metadata ``{"source", "passage"}``.
- ``.jsonl`` (or ``.jsonl.gz``): one ``{"id", "text", "meta"}`` object per line (``id`` and ``meta`` optional),
  or BEIR ``corpus.jsonl`` rows ``{"_id", "title", "text"}`` (title and text joined). A bad line is reported with
  its line number and left out; the file's other lines are indexed.

Re-indexing is idempotent: records are upserted by id. Exit status: 0 all indexed; 1 some files or JSONL lines
skipped (each named with the reason, the rest indexed); 2 nothing indexable or a path that does not exist.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from verimap.cli.options import (
    add_config_argument,
    add_store_arguments,
    help_text,
    make_encoder,
    open_store,
    resolve,
)
from verimap.errors import CLIError
from verimap.inputs import check_unicode
from verimap.splitter import MAX_WORDS, split_text
from verimap.store import stable_id

TRUNCATION_HINT = (
    "split them into shorter passages: a smaller --max-words for .txt/.md files; JSONL records are "
    "indexed whole, so split those before indexing"
)

TEXT_SUFFIXES = (".txt", ".md")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")


class Skip(Exception):
    """This file cannot be indexed; the message says why."""


@dataclass
class Passage:
    id: str
    text: str
    meta: dict


def supported(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(TEXT_SUFFIXES + JSONL_SUFFIXES)


def collect(paths: list[str]) -> tuple[list[Path], list[tuple[Path, str]], int]:
    """``(files to read, explicitly named files skipped with reason, files ignored in directories)``."""
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    ignored = 0
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise CLIError(f"no such file or directory: {', '.join(missing)}")
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            for p in found:
                if supported(p):
                    files.append(p)
                else:
                    ignored += 1
        elif supported(path):
            files.append(path)
        else:
            skipped.append((path, "unsupported file type (expected .txt, .md, .jsonl or .jsonl.gz)"))
    return list(dict.fromkeys(files)), skipped, ignored


def read_text_file(path: Path, max_words: int) -> list[Passage]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise Skip("not UTF-8 text") from None
    except OSError as exc:
        raise Skip(f"cannot read ({exc.strerror})") from None
    if not text.strip():
        raise Skip("empty file")
    return [
        Passage(stable_id(p), p, {"source": str(path), "passage": i}) for i, p in enumerate(split_text(text, max_words))
    ]


def jsonl_record(obj: object, path: Path) -> Passage | None:
    """The passage of one JSONL record (``None`` when it has no text); a bad record raises :class:`Skip`."""
    if not isinstance(obj, dict):
        raise Skip("expected a JSON object")
    text = obj.get("text")
    title = obj.get("title") or ""
    if not isinstance(text, str) or not isinstance(title, str):
        raise Skip("'text' (and 'title', if present) must be strings")
    ident = obj.get("id", obj.get("_id"))
    if isinstance(ident, int) and not isinstance(ident, bool):
        ident = str(ident)
    if ident is not None and (not isinstance(ident, str) or not ident):
        raise Skip("'id' must be a non-empty string")
    meta = obj.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise Skip("'meta' must be an object")
    body = " ".join(part for part in (title.strip(), text.strip()) if part)
    try:  # JSON may escape lone surrogates ("\\ud800"): no store or tokenizer takes them
        check_unicode(body, "'text' (with 'title')")
        if ident is not None:
            check_unicode(ident, "'id'")
    except ValueError as exc:
        raise Skip(str(exc)) from None
    if not body:
        return None
    meta = dict(meta or {})
    if title:
        meta.setdefault("title", title)
    meta.setdefault("source", str(path))
    return Passage(ident or stable_id(body), body, meta)


def read_jsonl_file(path: Path) -> tuple[list[Passage], int, list[tuple[int, str]]]:
    """Passages of a JSONL file, how many of its records had no text, and its bad lines ``(number, why)``.

    Each line stands alone: a bad one (not UTF-8, not JSON, a bad field) is reported and the others are read. A file
    that cannot be read at all, or holds no record, raises :class:`Skip`."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    passages: list[Passage] = []
    bad: list[tuple[int, str]] = []
    blank = lines = 0
    try:
        with opener(path, "rb") as f:
            for n, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                lines += 1
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    bad.append((n, "not UTF-8 text"))
                    continue
                try:
                    passage = jsonl_record(json.loads(line), path)
                except json.JSONDecodeError as exc:
                    bad.append((n, f"not valid JSON ({exc.msg})"))
                    continue
                except Skip as exc:
                    bad.append((n, str(exc)))
                    continue
                if passage is None:
                    blank += 1
                else:
                    passages.append(passage)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise Skip(f"cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if not lines:
        raise Skip("empty file")
    return passages, blank, bad


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    cfg = resolve(args)
    if args.max_words < 1:
        raise CLIError("--max-words must be at least 1")
    if args.batch_size < 1:
        raise CLIError("--batch-size must be at least 1")
    files, skipped, ignored = collect(args.paths)

    passages: list[Passage] = []
    per_file: list[tuple[Path, int]] = []
    bad_lines: list[tuple[Path, int, str]] = []
    blank_records = 0
    for path in files:
        try:
            if path.name.lower().endswith(JSONL_SUFFIXES):
                got, blank, bad = read_jsonl_file(path)
                blank_records += blank
                bad_lines += [(path, n, why) for n, why in bad]
                if (
                    bad and not got
                ):  # every record was bad: the lines are named below, the file needs no line of its own
                    continue
            else:
                got = read_text_file(path, args.max_words)
        except Skip as exc:
            skipped.append((path, str(exc)))
            continue
        if not got:
            skipped.append((path, "no text in it"))
            continue
        passages.extend(got)
        per_file.append((path, len(got)))

    for path, why in skipped:
        print(f"verimap: skipped {path}: {why}", file=sys.stderr)
    for path, n, why in bad_lines:
        print(f"verimap: skipped {path}: line {n}: {why}", file=sys.stderr)
    if not passages:
        raise CLIError(
            "nothing to index"
            + (
                " (see the skipped files and lines above)"
                if skipped or bad_lines
                else " (no .txt, .md, .jsonl or .jsonl.gz files found)"
            )
        )

    encoder = make_encoder(cfg)
    store = open_store(cfg, encoder, create=True)
    if args.reset:
        store.reset()
    unique = len({p.id for p in passages})
    try:
        with tqdm(total=unique, desc="index", unit="passage", file=sys.stderr, disable=args.quiet) as bar:
            written = store.add(
                [p.text for p in passages],
                ids=[p.id for p in passages],
                metas=[p.meta for p in passages],
                batch_size=args.batch_size,
                on_batch=bar.update,
            )
    except Exception as exc:  # a store or server failure mid-way: what was reported is stored
        raise CLIError(f"indexing failed after {bar.n} of {unique} passages: {exc}") from exc

    dupes = len(passages) - unique
    print(
        f"indexed {written} passage(s) from {len(per_file)} file(s) into {store.where} "
        f"(collection {cfg.collection!r}); the store now holds {store.count()}"
    )
    if dupes:
        print(f"  {dupes} repeated passage(s) (same id) were written once")
    if blank_records:
        print(f"  {blank_records} JSONL record(s) without text were left out")
    if ignored:
        print(f"  {ignored} file(s) in directories ignored (not .txt, .md, .jsonl or .jsonl.gz)")
    if bad_lines:
        print(f"  {len(bad_lines)} JSONL line(s) skipped (see messages above)")
    if skipped:
        print(f"  {len(skipped)} file(s) skipped (see messages above)")
    return 1 if skipped or bad_lines else 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="split, embed and store passages from .txt/.md/.jsonl files or directories",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories to index")
    add_config_argument(p)
    add_store_arguments(p)
    p.add_argument("--encoder", help="local encoder model directory (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--device", help="torch device (default: cpu)")
    p.add_argument("--max-words", type=int, default=MAX_WORDS, help=f"longest passage in words (default {MAX_WORDS})")
    p.add_argument("--batch-size", type=int, default=128, help="passages embedded and upserted per step")
    p.add_argument("--reset", action="store_true", help="empty the collection before indexing")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no notes")
    p.set_defaults(func=cmd_index, truncation_hint=TRUNCATION_HINT)
