"""Issue 8, bad input to the CLI: every mistake is one line, ``verimap: error: …``, exit status 2 (never a
traceback); odd but valid text is scored like any other."""

from __future__ import annotations

import json
import math
import warnings

import pytest

from verimap import TruncationWarning
from verimap.cli import main

QUERY = "Did the dog bite the man?"
ODD = [
    "🐶 bit 👨‍👩‍👧",
    "الكلب عض الرجل",
    "הכלב נשך את האיש",
    "狗咬了人",
    "zero\u200bwidth\u200djoin\ufeff",
    "nul\x00byte",
    "e\u0301\u0308 ①",
    "\u202eoverride",
]
HUGE = ("The dog bit the man near the old harbour wall. " * 2200)[:100_000]


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("verimap: note:")]


def one_error_line(err: str, needle: str) -> None:
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines and lines[-1].startswith("verimap: error: ") and needle in lines[-1], err
    assert "Traceback" not in err


# -- arguments -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, needle",
    [
        # undecodable bytes in argv reach Python as lone surrogates (PEP 383)
        (["verify", "q \udcff", "candidate"], "query is not valid Unicode"),
        (["verify", QUERY, "ok", "bad \udcfe"], "candidate 2 is not valid Unicode"),
        (["explain", QUERY, "bad \udcfe"], "the candidate is not valid Unicode"),
        (["search", "q \udcff", "--store", "nowhere"], "query is not valid Unicode"),
        (["verify", "\u200b\u200d", "candidate"], "query must be a non-empty string"),
        (["explain", "\x01\x00", "candidate"], "query must be a non-empty string"),
        (["search", "   ", "--store", "nowhere"], "the query is empty"),
        (["verify", QUERY, "candidate", "--threshold", "1.5"], "threshold must be a number in [0, 1]"),
        (["verify", QUERY, "candidate", "--threshold", "-0.1"], "threshold must be a number in [0, 1]"),
        (["verify", QUERY, "candidate", "--threshold", "nan"], "threshold must be a number in [0, 1]"),
        (["explain", QUERY, "candidate", "--threshold", "inf"], "threshold must be a number in [0, 1]"),
        (["search", QUERY, "--store", "nowhere", "--k", "0"], "k must be a positive integer"),
        (["search", QUERY, "--store", "nowhere", "--recall-k", "-3"], "recall_k must be a positive integer"),
        (["search", QUERY, "--store", "nowhere", "--threshold", "2"], "threshold must be a number in [0, 1]"),
    ],
)
def test_bad_arguments_are_one_line_errors(capsys, argv, needle):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == ""
    one_error_line(err, needle)


@pytest.mark.parametrize("flag", ["0", "-1"])
def test_batch_sizes_below_one_are_refused(capsys, tmp_path, flag):
    pairs = tmp_path / "p.jsonl"
    pairs.write_text(json.dumps({"a": QUERY, "b": "The dog bit the man."}) + "\n", encoding="utf-8")
    rc, out, err = run(capsys, "score-pairs", "--input", pairs, "--batch-size", flag, "--quiet")
    assert rc == 2 and out == ""  # -1 used to exit 0 having written nothing
    one_error_line(err, "--batch-size must be at least 1")
    rc, out, err = run(capsys, "index", pairs, "--store", tmp_path / "idx", "--batch-size", flag, "--quiet")
    assert rc == 2
    one_error_line(err, "--batch-size must be at least 1")


def test_unreadable_config_is_a_one_line_error(capsys, tmp_path):
    cfg = tmp_path / "verimap.toml"
    for body in (b"\xff\xfe\x00\x01 binary garbage", b'store = "unterminated', b"k = 3\nk = 4\n"):
        cfg.write_bytes(body)
        rc, out, err = run(capsys, "verify", QUERY, "candidate", "--config", cfg)
        assert rc == 2
        one_error_line(err, "is not valid TOML")
        assert str(cfg) in err


# -- score-pairs -------------------------------------------------------------------------------------------------------
def test_score_pairs_scores_odd_unicode_empty_and_huge_lines_in_order(capsys, tmp_path):
    rows = [{"a": QUERY, "b": t} for t in ODD] + [
        {"a": "", "b": ""},
        {"a": QUERY, "b": HUGE},
        {"a": HUGE, "b": QUERY},
        {"a": QUERY, "b": ODD[0]},
        {"a": ODD[3], "b": ODD[3], "id": 7},
    ]
    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc, out, err = run(capsys, "score-pairs", "--input", src, "--batch-size", "2")
    assert rc == 0, err
    got = [json.loads(line) for line in out.splitlines()]
    assert [{k: v for k, v in g.items() if k != "score"} for g in got] == rows  # order and fields kept
    assert all(math.isfinite(g["score"]) and 0.0 <= g["score"] <= 1.0 for g in got)
    assert got[len(ODD)]["score"] == 0.0  # empty texts: documented pass-through, score 0
    assert got[-2]["score"] == pytest.approx(got[0]["score"], abs=1e-6)  # a repeated pair, the same score
    # The huge text, met in two batches: one note for the command, not a warning per batch.
    assert not [w for w in caught if issubclass(w.category, TruncationWarning)]
    assert notes(err) == [
        "verimap: note: 2 text(s) were longer than the encoder's 256 tokens and were cut; the "
        "encoder reads the start of each text: split longer texts to score all of them"
    ]


def test_score_pairs_names_the_line_with_a_lone_surrogate_escape(capsys, tmp_path):
    src = tmp_path / "pairs.jsonl"
    src.write_text('{"a": "fine", "b": "fine"}\n{"a": "x", "b": "bad \\ud800 escape"}\n', encoding="utf-8")
    rc, out, err = run(capsys, "score-pairs", "--input", src, "--quiet")
    assert rc == 2 and out == ""
    one_error_line(err, f"{src}:2: field 'b' is not valid Unicode text")


def test_verify_scores_a_100k_character_candidate(capsys):
    rc, out, err = run(capsys, "verify", QUERY, HUGE, "--json")
    assert rc == 0, err
    assert [n.split(";")[0] for n in notes(err)] == [
        "verimap: note: 1 text(s) were longer than the encoder's 256 tokens and were cut"
    ]
    (result,) = json.loads(out)["results"]
    assert 0.0 <= result["score"] <= 1.0


# -- index / search with odd text --------------------------------------------------------------------------------------
def test_index_and_search_odd_unicode_round_trip(capsys, tmp_path):
    src = tmp_path / "odd.jsonl"
    src.write_text(
        "".join(json.dumps({"id": f"odd{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(ODD)),
        encoding="utf-8",
    )
    rc, out, err = run(capsys, "index", src, "--store", tmp_path / "idx", "--quiet")
    assert rc == 0, err
    rc, out, err = run(
        capsys,
        "search",
        "狗 🐶 الكلب",
        "--store",
        tmp_path / "idx",
        "--json",
        "--recall-k",
        "50",
        "--k",
        "50",
        "--threshold",
        "0",
        "--show-rejected",
    )
    assert rc == 0, err
    res = json.loads(out)
    assert res["recalled"] == len(ODD)
    texts = {r["id"]: r["text"] for r in res["results"] + res.get("rejected", [])}
    assert texts == {f"odd{i}": t for i, t in enumerate(ODD)}  # NUL, ZWJ, RTL overrides stored byte for byte


def test_index_names_the_line_with_a_lone_surrogate_escape(capsys, tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"text": "The dog bit the man."}\n', encoding="utf-8")
    for name, line in (
        ("noid.jsonl", '{"text": "bad \\ud800 text"}'),
        ("withid.jsonl", '{"id": "x1", "text": "bad \\ud800 text"}'),
    ):
        bad = tmp_path / name
        bad.write_text('{"text": "A fine passage."}\n' + line + "\n", encoding="utf-8")
        rc, out, err = run(capsys, "index", good, bad, "--store", tmp_path / f"idx-{name}", "--quiet")
        assert rc == 1, err  # the bad file is skipped and named, the good one is indexed
        assert f"skipped {bad}: line 2" in err and "Traceback" not in err


def test_long_documents_are_split_into_passages_and_nothing_is_cut(capsys, tmp_path, encoder):
    """Indexing long JSONL records used to cut each at 256 tokens and print a note (issue 15: 70% of SciFact's
    abstracts were cut): now each becomes passages that fit the encoder, covering the whole text, with no note. A
    query longer than the encoder reads still gets one note per command."""
    from verimap.store import VerimapStore

    src = tmp_path / "long.jsonl"
    texts = {f"long{i}": f"Record {i}. " + HUGE[: 3000 + 500 * i] for i in range(3)}
    src.write_text("".join(json.dumps({"id": k, "text": t}) + "\n" for k, t in texts.items()), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc, out, err = run(capsys, "index", src, "--store", tmp_path / "idx", "--batch-size", "4")
        assert rc == 0, err
        assert notes(err) == [] and "3 long document(s) were split" in out
        store = VerimapStore(tmp_path / "idx", encoder=encoder, create=False)
        got = store.collection.get(include=["documents", "metadatas"])
        by_parent: dict[str, list] = {}
        for text, meta in zip(got["documents"], got["metadatas"]):
            assert len(encoder.tokenize(text)) <= encoder.max_length - 2  # never cut by the encoder
            by_parent.setdefault(meta["verimap_parent"], []).append(meta)
            assert texts[meta["verimap_parent"]][meta["verimap_start"] : meta["verimap_end"]] == text
        assert set(by_parent) == set(texts)
        for parent, metas in by_parent.items():
            metas.sort(key=lambda m: m["verimap_passage"])
            assert metas[0]["verimap_start"] == 0 and metas[-1]["verimap_end"] == len(texts[parent])
            assert all(b["verimap_start"] <= a["verimap_end"] for a, b in zip(metas, metas[1:]))  # no gap
        rc, out, err = run(capsys, "search", QUERY, "--store", tmp_path / "idx", "--json")
        assert rc == 0 and notes(err) == [], err
        assert {r["id"] for r in json.loads(out)["results"]} == set(texts)  # documents, each at its best passage
        rc, out, err = run(capsys, "search", HUGE[:5000], "--store", tmp_path / "idx", "--json")
        (note,) = notes(err)
        assert "queries are read up to that length" in note
    assert not [w for w in caught if issubclass(w.category, TruncationWarning)]
    assert "Traceback" not in err and "warnings.warn" not in err
