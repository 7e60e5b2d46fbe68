"""docs/haystack.md's splitter example runs as written: Haystack's own DocumentSplitter feeds the embedder, the
chunks fit the encoder, and VerifiedRetriever verifies them."""

from __future__ import annotations

from pathlib import Path

from verimap.testing import run_docs_example

DOC = Path(__file__).resolve().parents[3] / "docs" / "haystack.md"


def test_the_docs_splitter_example_keeps_chunks_within_the_encoder(encoder):
    scope = run_docs_example(DOC, "splitters")
    chunks, found = scope["store"].filter_documents(), scope["found"]
    assert len(chunks) > 3  # the report was longer than one chunk
    assert all(len(encoder.tokenize(c.content)) <= encoder.max_length - 2 for c in chunks)  # nothing cut
    assert all(c.meta["source"] == "incidents.txt" and c.embedding is not None for c in chunks)
    assert len(found) == 3 and "hall 7 failed" in found[0].content
