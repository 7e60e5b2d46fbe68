"""The verifier tower: recall stays the stock MiniLM's, token vectors come from the shipped tower, and vectors of one
tower's weights are never read as another's."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from verimap import TokenEncoder, Verifier, WeightsError
from verimap.encoder import bundled_model_path
from verimap.tower import PREFIX, Tower, token_mean
from verimap.weights import SHIPPED, card_path, sha256_of

TEXTS = ["The dog bit the man.", "Did the dog bite the man?", "How do I turn on two-factor login for my account?"]


@pytest.fixture(scope="module")
def tuned(verifier) -> Verifier:
    if not verifier.card.tower:
        pytest.fail("the shipped weights have no tower")
    return verifier


def test_the_recall_vector_is_bit_for_bit_a_plain_transformers_forward(tuned):
    """What every user's vector store holds must not move: mean pooling of the stock model, as sentence-transformers
    computes it, on the same padded ids."""
    from transformers import AutoModel

    plain = AutoModel.from_pretrained(bundled_model_path(), local_files_only=True).float().eval()
    fresh = tuned.encoder.with_cache(None)  # full fp32, no cache rounding
    for text in TEXTS:
        batch = fresh._pad([fresh.tokenizer(text)["input_ids"]], fresh._width(len(fresh.tokenizer(text)["input_ids"])))
        with torch.inference_mode():
            hidden = plain(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)[0]
        got = fresh.encode([text])[0].pooled
        assert torch.equal(got, expected), text


def test_the_tower_changes_token_vectors_not_the_pooled_vector(tuned):
    stock = TokenEncoder(parser=False, cache=False)
    mine = tuned.encoder.with_cache(None)
    for a, b in zip(stock.encode(TEXTS), mine.encode(TEXTS)):
        assert torch.equal(a.pooled, b.pooled)
        assert a.vectors.shape == b.vectors.shape
        assert float((a.vectors * b.vectors).sum(1).mean()) < 0.999  # tuned: not the stock top layer's vectors


def test_the_pooled_cosine_the_network_reads_is_the_towers_own(tuned):
    assert tuned.card.network.pooled == "tokens"
    q, d = tuned.encoder.encode(TEXTS[:2])
    expected = float(token_mean(q.vectors) @ token_mean(d.vectors))
    assert tuned._windows(0, q, d)[0][1][4] == pytest.approx(expected)


def test_cached_vectors_are_keyed_by_the_towers_weights(tuned):
    stock = TokenEncoder(parser=False)
    other_tower = Tower.from_stock(stock.model, tuned.card.tower["layers"])
    mine, other = stock.with_tower(tuned.encoder.tower), stock.with_tower(other_tower)
    assert mine.encoder_id != other.encoder_id != stock.encoder_id
    first = other.encode(TEXTS)  # fills the shared cache with the untuned tower's vectors
    again = mine.encode(TEXTS)
    assert all(not torch.equal(x.vectors, y.vectors) for x, y in zip(first, again))
    assert all(torch.equal(x.pooled, y.pooled) for x, y in zip(first, again))


def test_a_weights_file_missing_its_tower_is_refused(tmp_path, tuned):
    from safetensors.torch import load_file, save_file

    state = {k: v for k, v in load_file(str(SHIPPED)).items() if not k.startswith(PREFIX)}
    path = tmp_path / "no-tower.safetensors"
    save_file(state, str(path))
    card = json.loads(card_path(SHIPPED).read_text())
    card["sha256"] = sha256_of(path)
    card_path(path).write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="tower"):
        Verifier(path, encoder=TokenEncoder(parser=False))


def test_a_tower_of_the_wrong_depth_is_refused(tmp_path, tuned):
    shutil.copy(SHIPPED, tmp_path / "v.safetensors")
    card = json.loads(card_path(SHIPPED).read_text())
    card["tower"]["layers"] = card["tower"]["layers"] + 1
    card_path(tmp_path / "v.safetensors").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="tower tensors do not fit"):
        Verifier(tmp_path / "v.safetensors", encoder=TokenEncoder(parser=False))
