"""`verimap eval-ir` on a small BEIR folder: the table, the JSON's fixed shape, both qrels layouts, clear errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("chromadb")

from verimap.cli import main  # noqa: E402

DOCS = {
    "fract": ("Vitamin D and fractures", "Vitamin D supplements lowered hip fractures in older women over five years."),
    "mood": ("Vitamin D and mood", "Vitamin D levels were not linked with depression in adults."),
    "aspirin": ("Aspirin", "Aspirin lowers the risk of heart attack but raises the risk of bleeding."),
    "statins": ("Statins", " ".join(f"Statins lowered cholesterol in trial {i} of many." for i in range(40))),
}
QUERIES = {"q1": "Does vitamin D prevent fractures?", "q2": "aspirin bleeding risk", "q3": "a query without qrels"}


def beir(tmp_path, layout="split"):
    root = tmp_path / "beir"
    root.mkdir()
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i, (title, text) in DOCS.items():
            f.write(json.dumps({"_id": i, "title": title, "text": text}) + "\n")
    with open(root / "queries.jsonl", "w", encoding="utf-8") as f:
        for i, text in QUERIES.items():
            f.write(json.dumps({"_id": i, "text": text, "metadata": {}}) + "\n")
    qrels = "query-id\tcorpus-id\tscore\nq1\tfract\t1\nq2\taspirin\t2\nq2\tstatins\t0\n"
    if layout == "split":
        (root / "qrels").mkdir()
        (root / "qrels" / "test.tsv").write_text(qrels)
    else:
        (root / "qrels.tsv").write_text(qrels)
    return root


@pytest.mark.parametrize("layout", ["split", "top-level qrels.tsv"])
def test_eval_ir_prints_the_table_and_writes_the_fixed_json_shape(tmp_path, capsys, layout):
    out = tmp_path / "ir.json"
    rc = main(["eval-ir", "--corpus", str(beir(tmp_path, layout)), "--json", str(out), "--quiet", "--recall-k", "10"])
    printed = capsys.readouterr().out
    assert rc == 0
    for row in ("dense (pooled cosine)", "dense → MaxSim", "dense → verifier alone", "dense → default policy"):
        assert f"| {row} |" in printed
    report = json.loads(out.read_text())
    assert set(report) == {"ndcg@10", "recall@k", "queries", "per_query"}
    assert set(report["ndcg@10"]) == set(report["recall@k"]) == {"dense", "maxsim", "verifier", "default"}
    assert report["queries"] == 2 and set(report["per_query"]) == {"q1", "q2"}  # q3 has no relevant document
    for q in report["per_query"].values():
        assert set(q) == {"ndcg@10", "recall@k"} and all(0 <= v <= 1 for m in q.values() for v in m.values())
    # Each query's relevant document is found by dense recall here; the means are the per-query means.
    assert report["recall@k"]["dense"] == 1.0
    assert report["ndcg@10"]["dense"] == pytest.approx(
        sum(q["ndcg@10"]["dense"] for q in report["per_query"].values()) / 2
    )


def test_eval_ir_reuses_a_store_and_names_bad_folders(tmp_path, capsys):
    root = beir(tmp_path)
    store = tmp_path / "index"
    assert main(["eval-ir", "--corpus", str(root), "--store", str(store), "--quiet", "--limit", "1"]) == 0
    assert (store / "verimap-tokens.sqlite").exists()
    assert main(["eval-ir", "--corpus", str(root), "--store", str(store), "--quiet", "--limit", "1"]) == 0
    assert "1 queries" in capsys.readouterr().out
    assert main(["eval-ir", "--corpus", str(tmp_path / "nowhere")]) == 2
    assert "is not a BEIR folder" in capsys.readouterr().err
    assert main(["eval-ir", "--corpus", str(root), "--split", "dev"]) == 2
    assert "no qrels for split 'dev'" in capsys.readouterr().err
