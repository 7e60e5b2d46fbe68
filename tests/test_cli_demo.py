"""`verimap demo` and the quality of its bundled near-miss corpus."""

from __future__ import annotations

import pytest

pytest.importorskip("chromadb")

from verimap import PooledCosine  # noqa: E402
from verimap.cli import main  # noqa: E402
from verimap.demo import demo_data  # noqa: E402

CORPUS, QUERIES = demo_data()
BY_ID = {p["id"]: p["text"] for p in CORPUS}


def test_demo_data_is_consistent():
    assert 40 <= len(CORPUS) <= 60
    assert len(BY_ID) == len(CORPUS)
    assert 5 <= len(QUERIES) <= 8
    for q in QUERIES:
        assert q["answer"] in BY_ID and q["near_misses"]
        assert all(n in BY_ID for n in q["near_misses"])


@pytest.mark.parametrize("q", QUERIES, ids=[q["kind"] + ":" + q["answer"] for q in QUERIES])
def test_demo_near_misses_look_close_to_pooled_cosine(q, encoder):
    """The point of the demo: pooled cosine puts each near-miss close to the answer (within 0.15)."""
    cos = PooledCosine(encoder).score(q["query"], [BY_ID[q["answer"]], *(BY_ID[n] for n in q["near_misses"])])
    assert max(cos[1:]) > cos[0] - 0.15


# Demo queries the shipped weights get wrong at their default threshold, recorded rather than hidden (strict: a
# fix makes the test fail until this set is updated). The demo prints these verdicts as they are.
DEMO_WRONG = {
    "travel-paris-rome",
    "incident-dog-bit",
    "hr-vacation-5",
    "it-after-update",
    "bill-monthly-cancel",
}


@pytest.mark.parametrize(
    "q",
    [
        pytest.param(
            q,
            id=q["kind"] + ":" + q["answer"],
            marks=pytest.mark.xfail(
                q["answer"] in DEMO_WRONG,
                strict=True,
                reason="shipped weights misjudge this demo query (docs/benchmarks.md)",
            ),
        )
        for q in QUERIES
    ],
)
def test_demo_verifier_accepts_answer_and_rejects_near_misses(q, verifier):
    scores = verifier.score(q["query"], [BY_ID[q["answer"]], *(BY_ID[n] for n in q["near_misses"])])
    assert scores[0] >= verifier.threshold, f"answer rejected: {scores}"
    assert all(s < verifier.threshold for s in scores[1:]), f"near-miss accepted: {scores}"


def test_demo_runs(capsys, tmp_path):
    rc = main(["demo", "--quiet", "--show", "3", "--width", "120", "--store", str(tmp_path / "demo")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"Indexed {len(CORPUS)} demo passages" in out
    for q in QUERIES:
        assert q["query"] in out
    assert "near-miss" in out and "answer" in out and "Summary:" in out
    assert (tmp_path / "demo").is_dir()


def test_demo_cleans_up_its_temporary_store(capsys, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["demo", "--quiet", "--show", "1"]) == 0
    assert "Summary:" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
