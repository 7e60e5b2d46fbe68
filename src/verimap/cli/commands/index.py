"""``verimap index PATH…``: read documents, split them into passages that fit the encoder, embed and store them.

Inputs (a directory is walked recursively for these):

- ``.txt`` / ``.md``: each paragraph (:func:`verimap.splitter.paragraphs`: blank-line separated, headings kept with
  the paragraph after them) is a document; its id is the sha256 of its text, its metadata ``{"source", "paragraph"}``.
- ``.jsonl`` (or ``.jsonl.gz``): one record per line: ``id`` (or BEIR's ``_id``; default: the sha256 of the text),
  ``text``, optional ``title`` (the document is ``title + " " + text``), optional ``meta`` (an object); every
  other field is kept as metadata too. A bad line is reported with its line number and left out; the file's other
  lines are indexed.
- A BEIR folder (``corpus.jsonl`` or ``corpus.jsonl.gz`` beside ``queries.jsonl`` and ``qrels/``): its corpus only.

Documents longer than ``--passage-tokens`` word pieces (default: what the encoder reads, 254) are cut into
sentence-aware passages overlapping by up to ``--passage-overlap`` pieces (:mod:`verimap.passages`), each stored
with its document's id and character offsets: nothing is truncated. Re-indexing is idempotent (passages are upserted
by id) and drops the passages a shorter new version of a document no longer has. Exit status: 0 all indexed; 1 some
files or JSONL lines skipped (each named with the reason, the rest indexed); 2 nothing indexable or a path that does
not exist.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

from verimap.cli.options import (
    add_config_argument,
    add_store_arguments,
    help_text,
    make_verifier,
    open_store,
    resolve,
)
from verimap.errors import CLIError
from verimap.inputs import check_unicode
from verimap.passages import Document
from verimap.splitter import paragraphs
from verimap.store import stable_id

TRUNCATION_HINT = "passages are cut to fit the encoder, so this should not happen: please report it"

TEXT_SUFFIXES = (".txt", ".md")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")
BEIR_CORPUS = ("corpus.jsonl", "corpus.jsonl.gz")


class Skip(Exception):
    """This file cannot be indexed; the message says why."""


def supported(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(TEXT_SUFFIXES + JSONL_SUFFIXES)


def beir_corpus(folder: Path) -> Path | None:
    """The corpus file of a BEIR folder (``corpus.jsonl`` or ``.jsonl.gz``), or ``None``."""
    return next((folder / n for n in BEIR_CORPUS if (folder / n).is_file()), None)


def collect(paths: list[str]) -> tuple[list[Path], list[tuple[Path, str]], int]:
    """``(files to read, explicitly named files skipped with reason, files ignored in directories)``. In a BEIR
    folder only the corpus is read (its queries and qrels are not documents)."""
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
            beir = {p.parent for p in found if p.name in BEIR_CORPUS}
            for p in found:
                if any(p.is_relative_to(b) for b in beir) and p.name not in BEIR_CORPUS:
                    continue  # queries, qrels, ... of a BEIR folder
                if supported(p):
                    files.append(p)
                else:
                    ignored += 1
        elif supported(path):
            files.append(path)
        else:
            skipped.append((path, "unsupported file type (expected .txt, .md, .jsonl or .jsonl.gz)"))
    return list(dict.fromkeys(files)), skipped, ignored


def read_text_file(path: Path) -> list[Document]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise Skip("not UTF-8 text") from None
    except OSError as exc:
        raise Skip(f"cannot read ({exc.strerror})") from None
    if not text.strip():
        raise Skip("empty file")
    return [Document(stable_id(p), p, {"source": str(path), "paragraph": i}) for i, p in enumerate(paragraphs(text))]


RECORD_FIELDS = ("id", "_id", "text", "title", "meta")


def jsonl_record(obj: object, path: Path) -> Document | None:
    """The document of one JSONL record (``None`` when it has no text); a bad record raises :class:`Skip`."""
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
    extra = {str(k): v for k, v in obj.items() if k not in RECORD_FIELDS}
    try:  # JSON may escape lone surrogates ("\\ud800"): no store or tokenizer takes them
        check_unicode(body, "'text' (with 'title')")
        if ident is not None:
            check_unicode(ident, "'id'")
        check_unicode(json.dumps({**extra, **(meta or {})}, ensure_ascii=False), "metadata")
    except ValueError as exc:
        raise Skip(str(exc)) from None
    if not body:
        return None
    meta = {**extra, **(meta or {})}  # the record's other fields, then its "meta" object
    if title:
        meta.setdefault("title", title)
    meta.setdefault("source", str(path))
    return Document(ident or stable_id(body), body, meta)


def read_jsonl_file(path: Path) -> tuple[list[Document], int, list[tuple[int, str]]]:
    """Documents of a JSONL file, how many of its records had no text, and its bad lines ``(number, why)``.

    Each line stands alone: a bad one (not UTF-8, not JSON, a bad field) is reported and the others are read. A file
    that cannot be read at all, or holds no record, raises :class:`Skip`."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    passages: list[Document] = []
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
    if args.batch_size < 1:
        raise CLIError("--batch-size must be at least 1")
    files, skipped, ignored = collect(args.paths)

    documents: list[Document] = []
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
                got = read_text_file(path)
        except Skip as exc:
            skipped.append((path, str(exc)))
            continue
        if not got:
            skipped.append((path, "no text in it"))
            continue
        documents.extend(got)
        per_file.append((path, len(got)))

    for path, why in skipped:
        print(f"verimap: skipped {path}: {why}", file=sys.stderr)
    for path, n, why in bad_lines:
        print(f"verimap: skipped {path}: line {n}: {why}", file=sys.stderr)
    if not documents:
        raise CLIError(
            "nothing to index"
            + (
                " (see the skipped files and lines above)"
                if skipped or bad_lines
                else " (no .txt, .md, .jsonl or .jsonl.gz files found)"
            )
        )

    # The verifier's view of the encoder: the stock recall vectors into Chroma, the verifier's own token vectors
    # (its tower's, with the codec shipped beside it) into the token file, both from one forward pass.
    encoder = make_verifier(cfg).encoder
    limit = encoder.max_length - 2
    size = limit if cfg.passage_tokens is None else cfg.passage_tokens
    if not 8 <= size <= limit:
        raise CLIError(f"--passage-tokens must be in 8..{limit} (the word pieces the encoder reads), got {size}")
    if not 0 <= cfg.passage_overlap <= size // 2:
        raise CLIError(f"--passage-overlap must be in 0..{size // 2} (half a passage), got {cfg.passage_overlap}")
    store = open_store(cfg, encoder, create=True)
    passages = store.passages(documents, max_tokens=size, overlap=cfg.passage_overlap)
    if args.reset:
        store.reset()
    unique_docs = len({d.id for d in documents})
    try:
        with tqdm(total=len(passages), desc="index", unit="passage", file=sys.stderr, disable=args.quiet) as bar:
            written = store.add_documents(documents, passages=passages, batch_size=args.batch_size, on_batch=bar.update)
    except Exception as exc:  # a store or server failure mid-way: what was reported is stored
        raise CLIError(f"indexing failed after {bar.n} of {len(passages)} passages: {exc}") from exc

    dupes = len(documents) - unique_docs
    split = unique_docs - sum(p.count == 1 for p in passages)
    print(
        f"indexed {written} passage(s) of {unique_docs} document(s) from {len(per_file)} file(s) into {store.where} "
        f"(collection {cfg.collection!r}); the store now holds {store.count()}"
    )
    if split:
        print(f"  {split} long document(s) were split into {written - (unique_docs - split)} passages")
    if dupes:
        print(f"  {dupes} repeated document(s) (same id) were written once")
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
        help="split, embed and store documents from .txt/.md/.jsonl files, BEIR folders or directories",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories to index")
    add_config_argument(p)
    add_store_arguments(p)
    p.add_argument("--encoder", help="local encoder model directory (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--weights", help="verifier weights whose token vectors the token file keeps (default: shipped)")
    p.add_argument("--device", help="torch device (default: cpu)")
    p.add_argument(
        "--passage-tokens",
        type=int,
        help="longest passage in word pieces (default: what the encoder reads, 254; `passage_tokens` in verimap.toml)",
    )
    p.add_argument(
        "--passage-overlap",
        type=int,
        help="word pieces repeated between a long document's passages, at most (default 32; `passage_overlap`)",
    )
    p.add_argument("--batch-size", type=int, default=128, help="most passages embedded and upserted per step")
    p.add_argument("--reset", action="store_true", help="empty the collection before indexing")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no notes")
    p.set_defaults(func=cmd_index, truncation_hint=TRUNCATION_HINT)
