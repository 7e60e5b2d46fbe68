"""verimap.store over a real local Chroma, embedding with the real bundled encoder."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("chromadb")

from verimap import PooledCosine  # noqa: E402
from verimap.store import ENCODER_KEY, Hit, StoreError, VerimapStore, clean_meta, stable_id  # noqa: E402

PASSAGES = [
    "Flights from Paris to Rome leave every two hours from Terminal 2.",
    "Flights from Rome to Paris leave every two hours from Terminal 3.",
    "Each passenger may check one bag of up to 23 kg.",
    "Online check-in opens 30 hours before departure.",
    "Small pets may travel in the cabin in a closed carrier.",
]


@pytest.fixture
def store(tmp_path, encoder):
    return VerimapStore(tmp_path / "index", encoder=encoder)


def test_add_query_count(store, encoder):
    assert store.count() == 0
    assert store.add(PASSAGES) == len(PASSAGES)
    assert store.count() == len(PASSAGES)
    hits = store.query("flights from Paris to Rome", k=3)
    assert len(hits) == 3 and all(isinstance(h, Hit) for h in hits)
    assert {hits[0].text, hits[1].text} == set(PASSAGES[:2])
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # the recall score is the cosine of pooled vectors, i.e. what PooledCosine computes
    expected = PooledCosine(encoder).score("flights from Paris to Rome", [h.text for h in hits])
    assert [h.score for h in hits] == pytest.approx(expected, abs=1e-4)
    assert hits[0].id == stable_id(hits[0].text)


def test_upsert_is_idempotent(store):
    store.add(PASSAGES)
    store.add(PASSAGES)
    store.add(list(reversed(PASSAGES)))
    assert store.count() == len(PASSAGES)


def test_given_ids_and_metadata_round_trip(store):
    store.add(PASSAGES[:2], ids=["p2r", "r2p"], metas=[{"lang": "en", "n": 3, "tags": ["a", "b"], "gone": None}, None])
    hits = {h.id: h for h in store.query("flights", k=5)}
    assert set(hits) == {"p2r", "r2p"}
    assert hits["p2r"].meta == {"lang": "en", "n": 3, "tags": json.dumps(["a", "b"])}
    assert hits["r2p"].meta == {}
    # upserting an id again replaces the record
    store.add(["Trains from Paris to Rome run at night."], ids=["p2r"])
    assert store.count() == 2
    assert {h.id: h.text for h in store.query("trains", k=2)}["p2r"] == "Trains from Paris to Rome run at night."


def test_repeated_ids_in_one_call_are_written_once(store):
    assert store.add(["one text", "another text", "one text"]) == 2
    assert store.count() == 2


def test_each_batch_is_stored_before_it_is_reported(store):
    seen = []

    def on_batch(n):
        seen.append((n, store.count()))

    store.add(PASSAGES, batch_size=2, on_batch=on_batch)
    assert [n for n, _ in seen] == [2, 2, 1]
    assert [c for _, c in seen] == [2, 4, 5]


def test_reopen_persists(tmp_path, encoder):
    VerimapStore(tmp_path / "index", encoder=encoder).add(PASSAGES)
    again = VerimapStore(tmp_path / "index", encoder=encoder, create=False)
    assert again.count() == len(PASSAGES)
    assert again.encoder_id == encoder.encoder_id
    assert again.query("pets in the cabin", k=1)[0].text == PASSAGES[4]


def test_missing_store_or_collection_is_an_error(tmp_path, encoder):
    with pytest.raises(StoreError, match="no index"):
        VerimapStore(tmp_path / "nowhere", encoder=encoder, create=False)
    VerimapStore(tmp_path / "index", encoder=encoder).add(PASSAGES[:1])
    with pytest.raises(StoreError, match="no collection 'other'"):
        VerimapStore(tmp_path / "index", collection="other", encoder=encoder, create=False)


def test_collection_uses_cosine_space(store):
    assert store.collection.configuration["hnsw"]["space"] == "cosine"


def test_vectors_from_another_encoder_are_refused(store):
    store.add(PASSAGES[:1])
    store.collection.modify(metadata={ENCODER_KEY: "some/other-encoder"})
    with pytest.raises(StoreError, match="other-encoder"):
        store.query("flights", k=1)
    with pytest.raises(StoreError, match="other-encoder"):
        store.add(PASSAGES[1:2])


def test_query_edges(store):
    assert store.query("anything", k=5) == []
    store.add(PASSAGES[:2])
    assert len(store.query("anything", k=50)) == 2
    with pytest.raises(ValueError):
        store.query("anything", k=0)
    with pytest.raises(ValueError):
        store.query("   ", k=1)


def test_bad_input(store):
    with pytest.raises(StoreError, match="empty"):
        store.add(["fine", "  "])
    with pytest.raises(StoreError, match="ids"):
        store.add(["a", "b"], ids=["x"])
    with pytest.raises(TypeError):
        store.add("a single string")
    assert store.add([]) == 0


def test_reset(store):
    store.add(PASSAGES)
    store.reset()
    assert store.count() == 0


def test_clean_meta():
    assert clean_meta(None) is None
    assert clean_meta({}) is None
    assert clean_meta({"a": None}) is None
    assert clean_meta({"a": 1.5, "b": True, "c": {"d": 1}}) == {"a": 1.5, "b": True, "c": '{"d": 1}'}


@pytest.mark.slow
def test_http_client_against_a_chroma_server(encoder, chroma_server):
    """The scale-out path: the same API over chromadb.HttpClient, against a real `chroma run` server."""
    port = chroma_server
    remote = VerimapStore(host="127.0.0.1", port=port, collection="remote-test", encoder=encoder)
    assert remote.where == f"http://127.0.0.1:{port}"
    assert remote.add(PASSAGES) == len(PASSAGES)
    assert remote.add(PASSAGES) == len(PASSAGES) and remote.count() == len(PASSAGES)
    again = VerimapStore(host="127.0.0.1", port=port, collection="remote-test", encoder=encoder, create=False)
    assert again.query("pets in the cabin", k=1)[0].text == PASSAGES[4]
    assert again.collection.configuration["hnsw"]["space"] == "cosine"
