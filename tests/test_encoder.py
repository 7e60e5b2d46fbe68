from __future__ import annotations

import pytest
import torch

from verimap import TokenEncoder, TruncationWarning


def test_tokens_vectors_and_pooled_are_normalised(encoder):
    out = encoder.encode(["The man bit the dog.", "Flights from Paris to Rome."])
    assert out[0].tokens == ["the", "man", "bit", "the", "dog", "."]
    for e in out:
        assert e.vectors.shape == (len(e.tokens), encoder.dim)
        assert torch.allclose(e.vectors.norm(dim=-1), torch.ones(len(e.tokens)), atol=1e-5)
        assert abs(float(e.pooled.norm()) - 1) < 1e-5


def test_pooled_matches_sentence_transformers(encoder):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(encoder.model_path), device="cpu")
    texts = ["A short sentence.", "Another, somewhat longer sentence about dogs biting men."]
    ours = encoder.pooled(texts)
    theirs = torch.tensor(st.encode(texts, normalize_embeddings=True))
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_order_is_kept_while_batching_by_length(encoder):
    texts = ["word " * n for n in (30, 1, 12, 5)]
    batched = encoder.encode(texts)
    single = [encoder.encode([t])[0] for t in texts]
    for b, s in zip(batched, single):
        assert b.tokens == s.tokens
        assert torch.allclose(b.vectors, s.vectors, atol=1e-5)


def test_truncation_is_reported_with_a_count(encoder):
    long = "word " * 20_000
    with pytest.warns(TruncationWarning, match=r"1 of 2 text\(s\) exceeded 256 tokens"):
        out = encoder.encode([long, "short"])
    assert out[0].truncated and not out[1].truncated
    assert len(out[0].tokens) == 254  # max_length minus [CLS] and [SEP]


def test_empty_text_has_no_tokens(encoder):
    out = encoder.encode(["", "   "])
    assert [len(e.tokens) for e in out] == [0, 0]
    assert out[0].vectors.shape == (0, encoder.dim)


def test_bad_inputs_name_the_problem(encoder):
    with pytest.raises(TypeError, match=r"texts\[1\] must be a string, got NoneType"):
        encoder.encode(["ok", None])
    with pytest.raises(TypeError, match="list of strings"):
        encoder.encode("a single string")
    assert encoder.encode([]) == []


def test_local_model_path_and_missing_path(encoder, tmp_path):
    other = TokenEncoder(encoder.model_path, max_length=32)
    assert other.encoder_id == str(encoder.model_path.resolve())
    with pytest.raises(FileNotFoundError, match="never downloads"):
        TokenEncoder(tmp_path / "nope")


def test_bundled_model_dir_can_be_pointed_at_a_copy(tmp_path, monkeypatch, encoder):
    """A machine without the model package (a GPU box given a carried folder) keeps the bundled encoder id."""
    from verimap.encoder import BUNDLED_DIR_ENV, bundled_model_path

    monkeypatch.setenv(BUNDLED_DIR_ENV, str(tmp_path / "minilm"))
    assert bundled_model_path() == tmp_path / "minilm"
    monkeypatch.setenv(BUNDLED_DIR_ENV, str(encoder.model_path))
    copy = TokenEncoder(cache=False)
    assert copy.encoder_id == encoder.encoder_id
    assert torch.equal(
        copy.encode(["The dog bit the man."])[0].vectors,
        encoder.with_cache(None).encode(["The dog bit the man."])[0].vectors,
    )


def test_importing_verimap_leaves_the_hub_settings_of_the_process_alone():
    """`import verimap` used to set HF_HUB_OFFLINE=1 (and TRANSFORMERS_OFFLINE) for the whole process, breaking the
    user's other Hugging Face downloads; local_files_only already keeps verimap itself offline."""
    import os
    import subprocess
    import sys

    code = (
        "import os, verimap; from verimap import TokenEncoder; enc = TokenEncoder(cache=False); "
        "enc.encode(['The dog bit the man.']); "
        "print(os.environ.get('HF_HUB_OFFLINE'), os.environ.get('TRANSFORMERS_OFFLINE'))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["None", "None"]
