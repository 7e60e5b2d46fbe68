"""docs/langchain.md's splitter example runs as written: LangChain's own splitter, measured in the encoder's word
pieces, feeds the store, and the retriever verifies the chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from verimap.testing import run_docs_example

DOC = Path(__file__).resolve().parents[3] / "docs" / "langchain.md"


def test_the_docs_splitter_example_keeps_chunks_within_the_encoder(encoder):
    scope = run_docs_example(DOC, "splitters")
    chunks, found, report = scope["chunks"], scope["found"], scope["report"]
    assert len(chunks) > 3  # the report was longer than one chunk
    assert all(len(encoder.tokenize(c.page_content)) <= encoder.max_length - 2 for c in chunks)  # nothing cut
    assert all(c.page_content in report for c in chunks)  # pieces of the document, nothing rewritten
    assert all(c.metadata["source"] == "incidents.txt" for c in chunks)
    assert len(found) == 3 and any("hall 7 failed" in d.page_content for d in found)


@pytest.mark.xfail(
    strict=True,
    reason="shipped weights: in long chunks that differ only in their numbers, the chunk with hall 7 is found but "
    "ranked third (docs/model-card.md)",
)
def test_the_docs_splitter_example_ranks_the_answer_first():
    found = run_docs_example(DOC, "splitters")["found"]
    assert "hall 7 failed" in found[0].page_content
