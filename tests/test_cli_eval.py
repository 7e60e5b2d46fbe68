from __future__ import annotations

import gzip
import json

import pytest

from verimap import MaxSim, Verifier
from verimap.cli import main
from verimap.evaluation.retrieval import scifact_rows


@pytest.fixture(scope="module")
def tuned_verifier(tmp_path_factory, shared_data, encoder, tiny_end_to_end):
    """A tiny verifier with a LoRA adapter: its encoder is a tuned copy of the stock one."""
    folder = tmp_path_factory.mktemp("e2e")
    config = folder / "e2e.toml"
    config.write_text(tiny_end_to_end)
    out = folder / "e2e.safetensors"
    assert main(["train", "--config", str(config), "--out", str(out), "--data", str(shared_data), "--no-cache"]) == 0
    return Verifier(out, encoder=encoder)


def tiny_scifact(root):
    """Six abstracts, two queries, one relevant abstract each: the SciFact file layout `verimap eval` reads."""
    folder = root / "scifact"
    folder.mkdir()
    docs = {
        "1": "Aspirin lowers the risk of heart attack in adults.",
        "2": "Aspirin raises the risk of bleeding.",
        "3": "Statins lower cholesterol.",
        "4": "Smoking causes lung cancer.",
        "5": "Lung cancer does not cause smoking.",
        "6": "Exercise improves sleep quality.",
    }
    with gzip.open(folder / "corpus.jsonl.gz", "wt") as f:
        f.writelines(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items())
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "Does aspirin reduce heart attacks?"})
        + "\n"
        + json.dumps({"_id": "q2", "text": "Does smoking cause lung cancer?"})
        + "\n"
    )
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t1\t1\nq2\t4\t1\n")
    return root


def test_scifact_rows_report_maxsim_on_the_tuned_encoder_beside_the_stock_one(tmp_path, encoder, tuned_verifier):
    rows = scifact_rows(tuned_verifier, MaxSim(encoder), encoder, tiny_scifact(tmp_path), 2)
    head = next(iter(rows.values()))
    assert set(head) == {"pooled cosine", "MaxSim", "MaxSim (tuned)", "verifier"}
    assert all(0.0 <= x <= 1.0 for row in rows.values() for x in row.values())
    assert any("fuse 0.3 rejected last" in k for k in rows)


def test_scifact_rows_have_a_tuned_column_only_for_a_verifier_reading_other_vectors(tmp_path, encoder, verifier):
    own = verifier.encoder  # the shipped weights' tower view: MaxSim over it is the "tuned" column
    rows = scifact_rows(verifier, MaxSim(own), own, tiny_scifact(tmp_path), 2)
    assert "MaxSim (tuned)" not in next(iter(rows.values()))
    (tmp_path / "stock").mkdir()
    rows = scifact_rows(verifier, MaxSim(encoder), encoder, tiny_scifact(tmp_path / "stock"), 2)
    assert ("MaxSim (tuned)" in next(iter(rows.values()))) == (own is not encoder)


def test_eval_outside_a_checkout_names_every_way_to_give_the_data_folder(capsys, tmp_path, monkeypatch):
    """An installed copy used to look for `…/lib/shared/data` (three folders up from the module) and fail with
    "data folder not found"; now the folder comes from --data, `data` in verimap.toml or $VERIMAP_DATA_DIR."""
    monkeypatch.delenv("VERIMAP_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no verimap.toml here
    assert main(["eval", "--limit", "2"]) == 2
    err = capsys.readouterr().err
    assert "no data folder given" in err and "--data" in err and "verimap.toml" in err and "$VERIMAP_DATA_DIR" in err
    assert "shared" not in err


@pytest.mark.parametrize("source", ["flag", "config", "env"])
def test_a_missing_data_folder_names_where_it_came_from(capsys, tmp_path, monkeypatch, source):
    missing = tmp_path / "no-data"
    monkeypatch.chdir(tmp_path)
    argv = ["bench", "cache", "--pairs", "4"]
    if source == "flag":
        argv += ["--data", str(missing)]
    elif source == "config":
        (tmp_path / "verimap.toml").write_text(f'data = "{missing.name}"\n', encoding="utf-8")
    else:
        monkeypatch.setenv("VERIMAP_DATA_DIR", str(missing))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "data folder not found: " in err and str(missing).endswith(err.split("not found: ")[1].split(" (")[0])
    assert {"flag": "(from --data)", "config": "(from data in verimap.toml)", "env": "(from $VERIMAP_DATA_DIR)"}[
        source
    ] in err


def test_the_data_folder_can_come_from_the_environment(tmp_path, monkeypatch, shared_data):
    from verimap.config import Config, data_dir

    monkeypatch.setenv("VERIMAP_DATA_DIR", str(shared_data))
    assert data_dir() == shared_data
    assert data_dir(None, Config(data=str(tmp_path))) == tmp_path  # the config key comes before the environment
    assert data_dir(str(shared_data), Config(data="elsewhere")) == shared_data  # and the flag before both
    monkeypatch.delenv("VERIMAP_DATA_DIR")
    assert data_dir(required=False) is None
