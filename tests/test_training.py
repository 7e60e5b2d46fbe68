from __future__ import annotations

import json
import random

import pytest
import torch

from verimap import Verifier
from verimap.cli import main
from verimap.training.data import build, split_of
from verimap.training.rules import KINDS, perturb


def test_rules_make_real_near_misses():
    assert perturb("The man bit the dog.", "role_swap") == "The dog bit the man."
    assert perturb("The drug is effective.", "negation") == "The drug is not effective."
    assert perturb("The drug is not effective.", "negation") == "The drug is effective."
    assert perturb("Flights from Paris to Rome are cheap.", "direction") == "Flights from Rome to Paris are cheap."
    assert perturb("She arrived before the meeting.", "temporal") == "She arrived after the meeting."
    assert perturb("A sentence with nothing to swap", "direction") is None
    rng = random.Random(0)
    for kind in KINDS:
        out = perturb(
            "Alice gave the book to Bob before the 3 lectures from Paris to Rome, and it is larger.", kind, rng
        )
        assert (
            out is None
            or out != "Alice gave the book to Bob before the 3 lectures from Paris to Rome, and it is larger."
        )


def test_split_is_by_source_item_and_stable(shared_data):
    split = build(shared_data, ["breaking_nli"], seed=0)
    train_groups = {r.group for r in split["train"]}
    dev_groups = {r.group for r in split["dev"]}
    assert not train_groups & dev_groups
    assert all(split_of(g) == "dev" for g in dev_groups)
    # generated near-misses sit on the same side as their source sentence
    assert any(r.source.endswith("+rule") for r in split["dev"])


def test_training_runs_end_to_end_and_weights_load(tmp_path, shared_data, encoder):
    out = tmp_path / "tiny.safetensors"
    assert main(["train", "--config", "tiny", "--out", str(out), "--data", str(shared_data), "--no-cache"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["metrics"]["dev_auc"] > 0.5
    v = Verifier(out, encoder=encoder)
    assert len(v.score("a query", ["a doc", "another doc"])) == 2


@pytest.mark.slow
def test_a_tower_trains_on_cached_lower_layers_and_ships_with_its_codec(tmp_path, shared_data, encoder):
    out = tmp_path / "tower.safetensors"
    args = ["train", "--config", "tiny_tower", "--out", str(out), "--data", str(shared_data)]
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["tower"] == {"layers": 1} and card["codec"]["texts"] == 300
    assert card["threshold_fit"]["rule"].startswith("Youden") and 0 <= card["threshold_fit"]["accept"] <= 1
    assert (tmp_path / "cache").is_dir()  # the lower layers' states, kept for the next run
    v = Verifier(out, encoder=encoder)
    assert v.encoder.tower is not None and v.encoder.codec is not None and v.encoder.parser is None
    stock = encoder.encode(["The dog bit the man."])[0]
    mine = v.encoder.encode(["The dog bit the man."])[0]
    assert torch.equal(stock.pooled, mine.pooled)  # recall untouched
    assert 0.0 <= v.score("Did the dog bite the man?", ["The dog bit the man."])[0] <= 1.0


def test_fine_tune_on_user_pairs(tmp_path, encoder):
    rows = []
    for i in range(60):
        a = f"Order {i} ships from Berlin to Paris"
        rows.append({"a": a, "b": f"Order {i} goes from Berlin to Paris", "label": 1})
        rows.append({"a": a, "b": f"Order {i} ships from Paris to Berlin", "label": 0})
    pairs = tmp_path / "mine.jsonl"
    pairs.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "mine.safetensors"
    assert main(["train", "--pairs", str(pairs), "--out", str(out), "--epochs", "1", "--no-cache"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["data"] == {"user_pairs": str(pairs)} and card["dev_rows"] > 0


def test_query_shaped_rows_pair_each_positive_with_a_near_miss_of_the_same_text():
    from verimap.training.data import Example, query_shaped
    from verimap.training.rules import question_form

    assert question_form("The drug is effective.") == "Is the drug effective?"
    assert question_form("Paris is, they say, large.") is not None
    assert question_form("No auxiliary here.") is None
    foil = Example(
        "A man is riding a red motorcycle on the road.",
        "A man is riding a blue motorcycle on the road.",
        0,
        "attribute",
        "test",
        "g",
    )
    rows = query_shaped([foil, Example("Two dogs are sleeping on a couch.", "x", 1, "paraphrase", "test", "h")], 0)
    by_source = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
    assert "Is a man riding a red motorcycle on the road?" in {r.a for r in by_source["test+question"]}
    for group in by_source.values():  # each generated positive comes with a near-miss on the same query
        positives = {r.a for r in group if r.label == 1}
        negatives = {r.a for r in group if r.label == 0}
        assert positives and positives <= negatives
    fragment = by_source["test+fragment"][0].a
    assert "red" in fragment and fragment != foil.a


def test_every_packaged_config_parses():
    from importlib import resources

    from verimap.training.trainer import TrainConfig

    folder = resources.files("verimap.training") / "configs"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".toml"))
    assert {"shipped.toml", "tiny.toml", "lora.toml", "lora_cpu.toml", "lora_gpu.toml"} <= set(names)
    for name in names:
        config = TrainConfig.from_toml_text((folder / name).read_text())
        assert config.epochs or (config.steps and (config.adapter_rank or config.tower_layers)), name


def test_end_to_end_lora_trains_and_its_encoder_id_names_the_adapter(tmp_path, shared_data, encoder, tiny_end_to_end):
    config = tmp_path / "e2e.toml"
    config.write_text(tiny_end_to_end)
    out = tmp_path / "e2e.safetensors"
    assert main(["train", "--config", str(config), "--out", str(out), "--data", str(shared_data), "--no-cache"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["adapter"] == {"rank": 2, "alpha": 4.0} and "end_to_end" in card["metrics"]["best"]
    v = Verifier(out, encoder=encoder)
    assert v.encoder is not encoder and v.encoder.encoder_id.startswith(encoder.encoder_id + "+lora-")
    # Token vectors are cached by encoder id, so another adapter's weights must give another id.
    from safetensors.torch import load_file

    from verimap.lora import PREFIX

    state = {k: v for k, v in load_file(str(out)).items() if k.startswith(PREFIX)}
    other = encoder.with_adapter(card["adapter"], {k: t + 0.01 for k, t in state.items()})
    assert other.encoder_id != v.encoder.encoder_id
    unmerged = encoder.with_adapter(card["adapter"], state)
    assert unmerged.encoder_id == v.encoder.encoder_id
    # The verifier folds the adapter into its encoder copy: same vectors as the LoRA layers give.
    text = ["The man bit the dog."]
    assert torch.allclose(
        unmerged.with_cache(None).encode(text)[0].vectors, v.encoder.with_cache(None).encode(text)[0].vectors, atol=1e-5
    )
    assert len(v.score("a query", ["a doc"])) == 1


def test_end_to_end_rejects_an_unknown_checkpoint_rule(tmp_path, shared_data, tiny_end_to_end):
    config = tmp_path / "bad.toml"
    config.write_text(tiny_end_to_end.replace('select_on = "human"', 'select_on = "best"'))
    assert (
        main(
            [
                "train",
                "--config",
                str(config),
                "--out",
                str(tmp_path / "x.safetensors"),
                "--data",
                str(shared_data),
                "--no-cache",
            ]
        )
        == 2
    )


@pytest.mark.slow
def test_fit_guard_writes_a_threshold_the_guard_then_uses(copy, shared_data, encoder):
    from verimap.guard import CacheGuard
    from verimap.training.guard_fit import fit_guard
    from verimap.weights import card_path

    section = fit_guard(copy, shared_data, encoder=encoder)
    assert 0.0 < section["threshold"] < 1.0 and 0.0 <= section["dev_false_hit"] <= 1.0
    assert json.loads(card_path(copy).read_text())["guard"] == section
    guard = CacheGuard(Verifier(copy, encoder=encoder))
    assert (guard.threshold, guard.threshold_source) == (section["threshold"], "guard card")
