from __future__ import annotations

import json

import pytest

from verimap import Verifier, WeightsError
from verimap.weights import SHIPPED, card_path, load


def test_shipped_weights_load_with_a_complete_card():
    net, card, adapter = load()
    assert card.encoder == "sentence-transformers/all-MiniLM-L6-v2"
    assert 0.0 < card.threshold < 1.0
    assert SHIPPED.stat().st_size <= 10 * 1024 * 1024
    for key in ("data", "metrics", "seed", "train_config", "license", "command"):
        assert key in card.extra, key
    assert "random" not in json.dumps(card.extra).lower()


def test_truncated_file_is_refused(copy):
    copy.write_bytes(copy.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="sha256 does not match"):
        load(copy)


def test_tampered_file_without_hash_is_refused_as_unreadable(copy):
    card = json.loads(card_path(copy).read_text())
    card["sha256"] = None
    card_path(copy).write_text(json.dumps(card))
    copy.write_bytes(b"garbage" * 100)
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load(copy)


def test_missing_files_are_named(copy, tmp_path):
    with pytest.raises(WeightsError, match="weights not found"):
        load(tmp_path / "nope.safetensors")
    card_path(copy).unlink()
    with pytest.raises(WeightsError, match="card not found"):
        load(copy)


def test_corrupted_card_is_refused(copy):
    card_path(copy).write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        load(copy)


def test_other_encoder_is_refused(copy, encoder):
    card = json.loads(card_path(copy).read_text())
    card["encoder"] = "some/other-encoder"
    card_path(copy).write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="trained for encoder 'some/other-encoder'"):
        Verifier(copy, encoder=encoder)


def test_other_geometry_is_refused(copy):
    card = json.loads(card_path(copy).read_text())
    card["network"]["map_rows"] = card["network"]["map_rows"] * 2
    card_path(copy).write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="do not fit the card's network geometry"):
        load(copy)


def test_save_leaves_the_card_it_is_given_alone(tmp_path):
    import copy
    import dataclasses

    from verimap.weights import save

    network, card, adapter = load()
    card = dataclasses.replace(card, sha256=None)  # a card not written yet, as the trainer builds it
    before = copy.deepcopy(card)
    out = save(network, card, tmp_path / "w.safetensors", adapter)
    assert card == before  # used to get the network and the file's sha256 written into it
    _, written, _ = load(out)
    assert written.sha256 is not None and written.threshold == card.threshold
