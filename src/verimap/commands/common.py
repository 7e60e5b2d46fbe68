"""Helpers shared by CLI commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from verimap.cli import CLIError

SCORERS = ("verifier", "maxsim", "pooled")


def make_scorer(name: str, weights: str | None = None):
    from verimap import MaxSim, PooledCosine, WeightsError
    from verimap.shared import shared_encoder, shared_verifier

    if name == "verifier":
        try:
            return shared_verifier(weights)
        except WeightsError as exc:
            raise CLIError(str(exc)) from exc
    if weights:
        raise CLIError("--weights only applies to --scorer verifier")
    return {"maxsim": MaxSim, "pooled": PooledCosine}[name](shared_encoder())


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
