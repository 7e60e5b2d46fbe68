"""Passages that fit the encoder: sentence-aware windows measured in its own word pieces, each a substring of its
document, covering all of it, overlapping by at most the given pieces, never longer than the limit."""

from __future__ import annotations

import pytest

from verimap.passages import Document, split_documents

SENTENCES = [
    f"Sentence {i} says that the {w} was seen near the harbour at dawn." for i, w in enumerate("abcdefghij" * 4)
]


def pieces(encoder, text: str) -> int:
    return len(encoder.tokenize(text))


def check(encoder, doc: Document, max_tokens: int, overlap: int):
    got = split_documents([doc], encoder.tokenizer, max_tokens, overlap)
    assert got, doc
    assert [p.index for p in got] == list(range(len(got))) and all(p.count == len(got) for p in got)
    assert got[0].start == 0 and got[-1].end == len(doc.text)
    for p in got:
        assert p.text == doc.text[p.start : p.end] and p.parent_id == doc.id
        assert pieces(encoder, p.text) <= max_tokens  # the encoder never has to cut one
    for a, b in zip(got, got[1:]):
        assert b.start <= a.end + 1 and b.start > a.start  # no gap (one space at most), always moving on
        shared = doc.text[b.start : a.end]
        assert pieces(encoder, shared) <= overlap if b.start < a.end else True
    return got


def test_a_document_that_fits_is_one_passage_under_its_own_id(encoder):
    doc = Document("d1", " ".join(SENTENCES[:3]), {"year": 2020})
    (p,) = split_documents([doc], encoder.tokenizer, 254)
    assert (p.id, p.text, p.start, p.end, p.count) == ("d1", doc.text, 0, len(doc.text), 1)
    assert p.store_meta == {
        "year": 2020,
        "verimap_parent": "d1",
        "verimap_passage": 0,
        "verimap_passages": 1,
        "verimap_start": 0,
        "verimap_end": len(doc.text),
    }


@pytest.mark.parametrize("max_tokens, overlap", [(254, 32), (64, 16), (40, 0), (16, 8)])
def test_long_documents_become_sentence_windows(encoder, max_tokens, overlap):
    doc = Document("long", " ".join(SENTENCES))
    got = check(encoder, doc, max_tokens, overlap)
    assert [p.id for p in got] == [f"long#{i}" for i in range(len(got))]
    if max_tokens >= 40:  # each sentence is ~15 pieces: windows end at sentence ends
        assert all(p.text.endswith(".") for p in got)
    assert got == split_documents([doc], encoder.tokenizer, max_tokens, overlap)  # same ids every run


def test_sentences_and_words_longer_than_a_passage_are_cut_too(encoder):
    run_on = " ".join(f"word{i}" for i in range(600))  # one sentence of ~1,800 pieces
    check(encoder, Document("a", run_on), 100, 20)
    giant = "x" * 5000 + " tail."  # one "word" of hundreds of pieces: cut inside it, re-checked
    check(encoder, Document("b", giant), 50, 10)
    mixed = "Short one. " + "y" * 3000 + " and then " + " ".join(SENTENCES[:6])
    check(encoder, Document("c", mixed), 64, 16)


def test_bad_sizes_and_empty_documents(encoder):
    with pytest.raises(ValueError, match="max_tokens"):
        split_documents([Document("a", "x")], encoder.tokenizer, 4)
    with pytest.raises(ValueError, match="overlap"):
        split_documents([Document("a", "x")], encoder.tokenizer, 64, 40)
    assert split_documents([Document("a", "   ")], encoder.tokenizer, 64) == []
    assert split_documents([], encoder.tokenizer, 64) == []
