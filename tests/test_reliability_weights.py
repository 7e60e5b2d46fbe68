"""Issue 8, weights and config: a missing, truncated or tampered weights file or card, or weights for another
encoder or map size, is refused with a :class:`WeightsError` naming the file and the mismatch; loading reads
safetensors and JSON only (never pickle, never ``torch.load``).

tests/test_weights.py has the basic cases (truncated file, garbage without a hash, missing files, bad JSON, other
encoder, other geometry in the card); these add the rest of what a tampered or mismatched pair can look like.
"""

from __future__ import annotations

import ast
import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from verimap import Verifier, WeightsError
from verimap.config import ConfigError, load_config
from verimap.network import MapTransformer, NetworkConfig
from verimap.weights import SHIPPED, card_path, load, save, sha256_of

ROOT = Path(__file__).resolve().parents[1]


def edit_card(path: Path, **changes) -> None:
    card = json.loads(card_path(path).read_text())
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            card[outer][inner] = value
        elif value is ...:
            card.pop(key)
        else:
            card[key] = value
    card_path(path).write_text(json.dumps(card))


def refused(path: Path, *needles: str, names: Path | None = None) -> WeightsError:
    with pytest.raises(WeightsError) as info:
        load(path)
    message = str(info.value)
    assert str(names or path) in message, message  # the file is named
    for needle in needles:
        assert needle in message, message
    return info.value


# -- the card ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes, needle",
    [
        ({"encoder": ...}, "'encoder' must be a non-empty string"),
        ({"encoder": None}, "'encoder' must be a non-empty string"),
        ({"network.patch": 0}, "network.patch must be a positive integer, got 0"),
        ({"network.map_rows": "64"}, "network.map_rows must be a positive integer, got '64'"),
        ({"network.heads": 3}, "dim 64 must be divisible by heads 3"),
        ({"network.dropout": 1.5}, "network.dropout must be a number in [0, 1)"),
        ({"network.layers": 6}, "unknown network config keys"),
        ({"calibration.scale": float("nan")}, "calibration.scale must be a finite number, got nan"),
        ({"calibration": {"scale": 1.0}}, "'calibration' must be an object with 'scale' and 'bias'"),
        ({"threshold": 7}, "'threshold' must be a number in [0, 1], got 7"),
        ({"threshold": "0.5"}, "'threshold' must be a number in [0, 1], got '0.5'"),
        ({"fuse_weight": -1}, "'fuse_weight' must be a number in [0, 1], got -1"),
        ({"symmetric": "false"}, "'symmetric' must be true or false"),
        ({"adapter": {"rank": 0, "alpha": 8}}, "'adapter' must be null or an object"),
        ({"sha256": "not-a-hash"}, "'sha256' must be null or 64 lowercase hex digits"),
        ({"format": "verimap-verifier/0"}, "is not 'verimap-verifier/1'"),
    ],
)
def test_a_tampered_card_is_refused_naming_the_key(copy, changes, needle):
    edit_card(copy, **changes)
    refused(copy, needle, names=card_path(copy))


@pytest.mark.parametrize(
    "body, needle",
    [
        ("[1, 2, 3]", "expected a JSON object, got list"),
        ('"just a string"', "expected a JSON object, got str"),
        ("", "not valid JSON"),
    ],
)
def test_a_card_that_is_not_an_object_is_refused(copy, body, needle):
    card_path(copy).write_text(body)
    refused(copy, needle, names=card_path(copy))


def test_a_truncated_card_is_refused(copy):
    text = card_path(copy).read_text()
    card_path(copy).write_text(text[: len(text) // 2])
    refused(copy, "not valid JSON", names=card_path(copy))


# -- the weights file ---------------------------------------------------------------------------------------------
def test_one_flipped_byte_is_refused(copy):
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    refused(copy, "sha256 does not match its card", "truncated or altered")


def test_an_empty_file_is_refused(copy):
    copy.write_bytes(b"")
    refused(copy, "sha256 does not match")
    edit_card(copy, sha256=None)
    refused(copy, "not a readable safetensors file")


def test_weights_of_another_map_size_are_refused(copy, tmp_path):
    """A genuine, self-consistent 32x32 weights file put under the shipped card (hash updated to match)."""
    other = save(MapTransformer(NetworkConfig(map_rows=32, map_cols=32)), _card(), tmp_path / "small.safetensors")
    shutil.copy(other, copy)
    edit_card(copy, sha256=sha256_of(copy), tower=None, codec=None)  # the small file has no tower
    refused(copy, "tensors do not fit the card's network geometry", "pos")


def test_weights_with_an_extra_or_missing_tensor_are_refused(copy, tmp_path):
    from safetensors.torch import load_file, save_file

    state = load_file(str(SHIPPED))
    for name, changed in (
        ("extra", {**state, "backdoor": torch.zeros(3)}),
        ("missing", {k: v for k, v in state.items() if k != "head.weight"}),
    ):
        path = tmp_path / f"{name}.safetensors"
        save_file(changed, str(path))
        shutil.copy(card_path(copy), card_path(path))
        edit_card(path, sha256=sha256_of(path))
        refused(path, "do not fit the card's network geometry", "backdoor" if name == "extra" else "head.weight")


def test_weights_holding_nan_are_refused(copy):
    from safetensors.torch import load_file, save_file

    state = load_file(str(SHIPPED))
    state["head.weight"] = torch.full_like(state["head.weight"], float("nan"))
    save_file(state, str(copy))
    edit_card(copy, sha256=sha256_of(copy))
    refused(copy, "NaN or infinite", "head.weight")


def test_weights_for_another_encoder_are_refused_naming_both(copy, verifier):
    edit_card(copy, encoder="intfloat/e5-small-v2")
    with pytest.raises(WeightsError) as info:
        Verifier(copy, encoder=verifier.encoder)
    assert str(copy) in str(info.value)
    # named by the stock encoder's id (the verifier's own encoder is a view of it reading the tower's vectors)
    assert "'intfloat/e5-small-v2'" in str(info.value) and repr(verifier.encoder.recall_id) in str(info.value)


# -- no pickle, no torch.load ----------------------------------------------------------------------------------------
def test_a_pickled_weights_file_is_refused_without_being_unpickled(copy, monkeypatch):
    """A ``torch.save`` file (a pickle) under a card whose hash matches it: refused as not safetensors, and
    neither ``torch.load`` nor the unpickler ever runs."""
    torch.save(MapTransformer(NetworkConfig()).state_dict(), copy)
    edit_card(copy, sha256=sha256_of(copy))
    calls = _forbid_unpickling(monkeypatch)
    refused(copy, "not a readable safetensors file")
    assert calls == []


def test_loading_shipped_weights_never_unpickles(monkeypatch, verifier):
    calls = _forbid_unpickling(monkeypatch)
    net, card, _ = load()
    Verifier(encoder=verifier.encoder)
    assert calls == []


FORBIDDEN_CALLS = {
    "torch.load",
    "torch.jit.load",
    "pickle.load",
    "pickle.loads",
    "pickle.Unpickler",
    "dill.load",
    "dill.loads",
    "joblib.load",
    "marshal.load",
    "marshal.loads",
    "shelve.open",
    "cloudpickle.load",
    "cloudpickle.loads",
}
FORBIDDEN_IMPORTS = {"pickle", "dill", "joblib", "marshal", "shelve", "cloudpickle", "_pickle"}


def test_no_code_path_can_unpickle():
    """A static scan of everything that ships (core, training, both adapters): no pickle module, no torch.load,
    no ``numpy.load(allow_pickle=True)``."""
    offences = []
    sources = [*(ROOT / "src" / "verimap").rglob("*.py"), *(ROOT / "integrations").rglob("*.py")]
    assert len(sources) > 20
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Import):
                offences += [
                    f"{where} import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_IMPORTS
                ]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_IMPORTS:
                offences.append(f"{where} from {node.module} import ...")
            elif isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name in FORBIDDEN_CALLS or name.endswith((".torch.load", "torch.serialization.load")):
                    offences.append(f"{where} {name}(...)")
                if name.endswith("load") and any(k.arg == "allow_pickle" for k in node.keywords):
                    offences.append(f"{where} {name}(allow_pickle=...)")
    assert offences == []


def test_an_encoder_directory_with_only_a_pickle_is_refused(tmp_path, monkeypatch, encoder):
    from safetensors.torch import load_file

    model_dir = tmp_path / "pickled-minilm"
    model_dir.mkdir()
    for item in encoder.model_path.iterdir():
        if item.name != "model.safetensors":
            (model_dir / item.name).symlink_to(item)
    torch.save(load_file(str(encoder.model_path / "model.safetensors")), model_dir / "pytorch_model.bin")
    calls = _forbid_unpickling(monkeypatch)
    from verimap.encoder import TokenEncoder

    with pytest.raises((ValueError, FileNotFoundError, OSError)) as info:
        TokenEncoder(model_dir)
    assert calls == [] and str(model_dir) in str(info.value) and "safetensors" in str(info.value)


# -- verimap.toml --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, needle",
    [
        (b"\xff\xfe\x00binary", "not valid TOML: not UTF-8 text"),
        (b'store = "unterminated', "not valid TOML"),
        (b"weights = 3\n", "weights must be a string"),
        (b"threshold = nan\n", "threshold must be a number in [0, 1]"),
        (b"port = 70000\n", "port must be an integer in 1..65535"),
        (b"[store]\npath = 'x'\n", "store must be a non-empty string"),
    ],
)
def test_a_damaged_config_file_is_refused_naming_the_file(tmp_path, body, needle):
    cfg = tmp_path / "verimap.toml"
    cfg.write_bytes(body)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert needle in str(info.value) and str(cfg) in str(info.value)


# -- helpers -------------------------------------------------------------------------------------------------------
def _card():
    from verimap.weights import Card

    return Card(encoder="sentence-transformers/all-MiniLM-L6-v2", network=NetworkConfig(map_rows=32, map_cols=32))


def _forbid_unpickling(monkeypatch) -> list[str]:
    calls: list[str] = []

    def refuse(name):
        def fn(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called")

        return fn

    monkeypatch.setattr(torch, "load", refuse("torch.load"))
    monkeypatch.setattr(pickle, "load", refuse("pickle.load"))
    monkeypatch.setattr(pickle, "loads", refuse("pickle.loads"))
    monkeypatch.setattr(pickle, "Unpickler", refuse("pickle.Unpickler"))
    return calls
