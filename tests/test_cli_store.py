"""`verimap index` / `verimap search` in-process against a real Chroma index, plus config handling."""

from __future__ import annotations

import gzip
import json

import pytest

pytest.importorskip("chromadb")

from verimap.cli import main  # noqa: E402
from verimap.splitter import split_text  # noqa: E402

TRUE = "Flights from Paris to Rome leave every two hours from Terminal 2."
NEAR_MISS = "Flights from Rome to Paris leave every two hours from Terminal 3."
QUERY = "Flights from Paris to Rome: when do they leave?"

FAQ_MD = f"""# Travel FAQ

Answers to the questions travellers ask most.

{TRUE}

{NEAR_MISS}

Each passenger may check one bag of up to 23 kg.
A second bag costs 40 euros per flight.

Online check-in opens 30 hours before departure.
"""


@pytest.fixture
def kb(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "faq.md").write_text(FAQ_MD, encoding="utf-8")
    rows = [
        {"id": "pets", "text": "Small pets may travel in the cabin in a closed carrier.", "meta": {"topic": "pets"}},
        {"text": "Passengers delayed by more than three hours can claim compensation."},
    ]
    (docs / "more.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (docs / "notes.csv").write_text("a,b\n", encoding="utf-8")  # ignored: not a supported type
    return docs


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def index(capsys, tmp_path, *paths, extra=()):
    return run(capsys, "index", *paths, "--store", tmp_path / "index", "--quiet", *extra)


def search_json(capsys, tmp_path, query, *extra):
    rc, out, err = run(capsys, "search", query, "--store", tmp_path / "index", "--json", *extra)
    assert rc == 0, err
    return json.loads(out)


# -- index ---------------------------------------------------------------------------------------------------------
def test_index_reports_counts(capsys, tmp_path, kb):
    rc, out, err = index(capsys, tmp_path, kb)
    assert rc == 0, err
    # faq.md: heading + intro, true match, near-miss, bag paragraph, check-in = 5 passages; more.jsonl: 2
    assert "indexed 7 passage(s) of 7 document(s) from 2 file(s)" in out
    assert "the store now holds 7" in out
    assert "1 file(s) in directories ignored" in out


def test_reindex_is_idempotent(capsys, tmp_path, kb):
    index(capsys, tmp_path, kb)
    rc, out, err = index(capsys, tmp_path, kb)
    assert rc == 0, err
    assert "the store now holds 7" in out
    rc, out, _ = index(capsys, tmp_path, kb / "faq.md")
    assert "the store now holds 7" in out


def test_index_reset(capsys, tmp_path, kb):
    index(capsys, tmp_path, kb)
    rc, out, _ = index(capsys, tmp_path, kb / "more.jsonl", extra=["--reset"])
    assert rc == 0 and "the store now holds 2" in out


def test_index_bad_path(capsys, tmp_path):
    rc, out, err = index(capsys, tmp_path, tmp_path / "missing.txt")
    assert rc == 2
    assert "no such file or directory" in err and "missing.txt" in err
    assert not (tmp_path / "index").exists()


def test_index_empty_file(capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    rc, out, err = index(capsys, tmp_path, empty)
    assert rc == 2
    assert "skipped" in err and "empty.txt: empty file" in err
    assert "nothing to index" in err


def test_index_some_files_skipped_is_exit_1(capsys, tmp_path, kb):
    (tmp_path / "empty.md").write_text("", encoding="utf-8")
    (tmp_path / "broken.jsonl").write_text('{"text": "ok"}\n{not json\n', encoding="utf-8")
    (tmp_path / "table.csv").write_text("a,b\n", encoding="utf-8")
    rc, out, err = index(capsys, tmp_path, kb, tmp_path / "empty.md", tmp_path / "broken.jsonl", tmp_path / "table.csv")
    assert rc == 1
    assert "empty.md: empty file" in err
    assert "broken.jsonl: line 2: not valid JSON" in err
    assert "table.csv: unsupported file type" in err
    # broken.jsonl's good line 1 is indexed; its bad line 2 is named and skipped
    assert "indexed 8 passage(s)" in out and "1 JSONL line(s) skipped" in out and "2 file(s) skipped" in out


def test_index_beir_corpus_gz(capsys, tmp_path):
    corpus = tmp_path / "corpus.jsonl.gz"
    with gzip.open(corpus, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"_id": "d1", "title": "Dogs", "text": "The dog bit the man."}) + "\n")
        f.write(json.dumps({"_id": "d2", "title": "", "text": "The man bit the dog."}) + "\n")
        f.write(json.dumps({"_id": "d3", "title": "", "text": ""}) + "\n")
    rc, out, err = index(capsys, tmp_path, corpus)
    assert rc == 0, err
    assert "indexed 2 passage(s)" in out and "1 JSONL record(s) without text" in out
    hits = search_json(capsys, tmp_path, "Did the dog bite the man?", "--show-rejected", "--threshold", "0")
    by_id = {r["id"]: r for r in hits["results"]}
    assert set(by_id) == {"d1", "d2"}
    assert by_id["d1"]["text"] == "Dogs The dog bit the man." and by_id["d1"]["meta"]["title"] == "Dogs"


def test_splitter():
    assert split_text("") == []
    assert split_text("# Title\n\nBody line one\nline two.\n\n\n  \nLast.") == [
        "Title. Body line one line two.",
        "Last.",
    ]
    assert split_text("## Why?\n### Really\nText.\n\n# End") == ["Why? Really. Text.", "End."]
    assert split_text("Not # a heading.\n\n#hashtag") == ["Not # a heading.", "#hashtag"]
    long = " ".join(f"Sentence number {i} is here." for i in range(40))  # 200 words
    parts = split_text(long, max_words=50)
    assert all(len(p.split()) <= 50 for p in parts) and " ".join(parts) == long
    assert all(p.endswith(".") for p in parts)
    assert split_text("word " * 25, max_words=10) == ["word " * 9 + "word"] * 2 + ["word " * 4 + "word"]


# -- search --------------------------------------------------------------------------------------------------------
def test_search_finds_true_match_and_rejects_near_miss(capsys, tmp_path, kb, verifier):
    # The threshold sits between the core verifier's two scores: this checks the CLI's recall → verify →
    # rejected plumbing on the real model; the default threshold's quality is measured in docs/benchmarks.md.
    good, bad = verifier.score(QUERY, [TRUE, NEAR_MISS])
    assert good > bad
    index(capsys, tmp_path, kb)
    res = search_json(capsys, tmp_path, QUERY, "--show-rejected", "--threshold", str((good + bad) / 2))
    accepted = [r["text"] for r in res["results"]]
    rejected = [r["text"] for r in res["rejected"]]
    assert TRUE in accepted
    assert NEAR_MISS in rejected
    assert accepted[0] == TRUE


def test_search_recalls_both_by_pooled_cosine(capsys, tmp_path, kb):
    index(capsys, tmp_path, kb)
    res = search_json(capsys, tmp_path, QUERY, "--show-rejected", "--recall-k", "2")
    assert res["recalled"] == 2
    every = res["results"] + res["rejected"]
    assert {r["text"] for r in every} == {TRUE, NEAR_MISS}
    assert sorted(r["recall_rank"] for r in every) == [1, 2]


def test_search_json_shape(capsys, tmp_path, kb):
    index(capsys, tmp_path, kb)
    res = search_json(capsys, tmp_path, QUERY, "--threshold", "0", "--k", "3", "--mode", "fuse")
    assert res["query"] == QUERY and res["mode"] == "fuse" and res["threshold"] == 0.0
    assert res["recalled"] == 7 and res["accepted"] == 7
    assert len(res["results"]) == 3 and "rejected" not in res
    assert [r["rank"] for r in res["results"]] == [1, 2, 3]
    for r in res["results"]:
        assert set(r) >= {"id", "text", "meta", "score", "verifier_score", "recall_score", "recall_rank", "accepted"}
        assert 0.0 <= r["verifier_score"] <= 1.0 and -1.0 <= r["recall_score"] <= 1.0
    assert [r["score"] for r in res["results"]] == sorted((r["score"] for r in res["results"]), reverse=True)


def test_search_filter_mode_keeps_recall_order(capsys, tmp_path, kb):
    index(capsys, tmp_path, kb)
    res = search_json(capsys, tmp_path, QUERY, "--threshold", "0", "--mode", "filter")
    assert [r["recall_rank"] for r in res["results"]] == list(range(1, 8))


def test_search_table(capsys, tmp_path, kb):
    index(capsys, tmp_path, kb)
    rc, out, err = run(capsys, "search", QUERY, "--store", tmp_path / "index", "--show-rejected", "--width", "100")
    assert rc == 0, err
    assert "7 recalled" in out and "verifier" in out and "recall" in out and "passage" in out
    assert "Flights from Paris to Rome" in out
    assert max(len(line) for line in out.splitlines()) <= 100 or "recalled" in out.splitlines()[0]


def test_search_without_index(capsys, tmp_path):
    rc, out, err = run(capsys, "search", "anything", "--store", tmp_path / "nowhere")
    assert rc == 2 and "no index at" in err and "verimap index" in err
    assert not (tmp_path / "nowhere").exists()


def test_search_unreachable_server(capsys, tmp_path):
    rc, out, err = run(capsys, "search", "anything", "--host", "127.0.0.1", "--port", "9")
    assert rc == 2 and "verimap: error:" in err and "\n" not in err.strip()


def test_search_bad_flags(capsys, tmp_path, kb):
    index(capsys, tmp_path, kb)
    rc, out, err = run(capsys, "search", QUERY, "--store", tmp_path / "index", "--k", "0")
    assert rc == 2 and "k must be a positive integer" in err
    rc, out, err = run(capsys, "search", QUERY, "--store", tmp_path / "index", "--threshold", "1.5")
    assert rc == 2 and "threshold" in err


# -- config --------------------------------------------------------------------------------------------------------
def test_config_is_read_and_flags_override_it(capsys, tmp_path, kb, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "verimap.toml").write_text(
        'store = "idx"\nk = 2\nrecall_k = 4\nmode = "filter"\nthreshold = 0.0\n', encoding="utf-8"
    )
    monkeypatch.chdir(work)
    rc, out, err = run(capsys, "index", kb, "--quiet")  # store from ./verimap.toml, relative to the file
    assert rc == 0, err
    assert (work / "idx").is_dir() and not (work / "verimap-index").exists()

    rc, out, err = run(capsys, "search", QUERY, "--json")
    res = json.loads(out)
    assert res["mode"] == "filter" and res["threshold"] == 0.0 and res["recalled"] == 4 and len(res["results"]) == 2

    rc, out, err = run(
        capsys, "search", QUERY, "--json", "--mode", "rerank", "--k", "3", "--recall-k", "5", "--threshold", "1"
    )
    res = json.loads(out)
    assert res["mode"] == "rerank" and res["threshold"] == 1.0 and res["recalled"] == 5 and res["results"] == []


def test_explicit_config_file(capsys, tmp_path, kb):
    cfg = tmp_path / "conf" / "custom.toml"
    cfg.parent.mkdir()
    cfg.write_text('store = "../custom-index"\ncollection = "faq"\nthreshold = 0.25\n', encoding="utf-8")
    rc, out, err = run(capsys, "index", kb, "--config", cfg, "--quiet")
    assert rc == 0, err
    assert (tmp_path / "custom-index").is_dir() and "collection 'faq'" in out
    rc, out, err = run(capsys, "search", QUERY, "--config", cfg, "--json")
    assert rc == 0, err
    assert json.loads(out)["threshold"] == 0.25
    rc, out, err = run(capsys, "verify", QUERY, TRUE, "--config", cfg, "--json")
    assert json.loads(out)["threshold"] == 0.25


@pytest.mark.parametrize(
    "body, message",
    [
        ('stor = "x"\n', "unknown key(s)"),
        ('k = "ten"\n', "k must be a positive integer"),
        ('mode = "sideways"\n', "mode must be one of"),
        ("threshold = 2\n", "threshold must be a number in [0, 1]"),
        ("k = [\n", "not valid TOML"),
    ],
)
def test_bad_config(capsys, tmp_path, body, message):
    cfg = tmp_path / "verimap.toml"
    cfg.write_text(body, encoding="utf-8")
    rc, out, err = run(capsys, "verify", "q", "c", "--config", cfg)
    assert rc == 2 and message in err and str(cfg) in err


def test_missing_config_file(capsys, tmp_path):
    rc, out, err = run(capsys, "verify", "q", "c", "--config", tmp_path / "nope.toml")
    assert rc == 2 and "config file not found" in err


# -- one policy, one meaning of "accepted" -----------------------------------------------------------------------------
def test_search_defaults_to_the_library_policy(capsys, tmp_path, kb, verifier):
    """`verimap search` used to default to rerank, and its --mode fuse fused with the recall score: now it ranks
    exactly as Verifier.rank does by default (fuse with MaxSim, nothing dropped without a threshold)."""
    index(capsys, tmp_path, kb)
    res = search_json(capsys, tmp_path, QUERY, "--show-rejected")
    assert res["mode"] == "fuse" and res["rejected"] == [] and res["recalled"] == 7
    texts = {r["recall_rank"]: r["text"] for r in res["results"]}
    library = verifier.rank(QUERY, [texts[i] for i in sorted(texts)], top_k=10)
    assert [r["text"] for r in res["results"]] == [texts[r.index + 1] for r in library]
    assert [r["score"] for r in res["results"]] == pytest.approx([r.score for r in library], abs=1e-6)


def test_search_header_counts_what_the_rows_say(capsys, tmp_path, kb, verifier):
    """In fuse mode the header used to say "7 accepted ... 0 rejected" while rows said REJECT."""
    query = "Flights from Paris to Rome"  # the shipped threshold accepts some passages and rejects others
    index(capsys, tmp_path, kb)
    res = search_json(capsys, tmp_path, query)
    verdicts = [r["accepted"] for r in res["results"]]
    assert True in verdicts and False in verdicts
    assert res["accepted"] == sum(verdicts)
    rc, out, err = run(capsys, "search", query, "--store", tmp_path / "index", "--width", "120")
    assert rc == 0, err
    head, rows = out.splitlines()[0], out.splitlines()[3:]
    accepted, rejected = sum(" ACCEPT " in r for r in rows), sum(" REJECT " in r for r in rows)
    threshold = f"{verifier.threshold:.4g}"
    assert head.startswith(f"7 recalled: {accepted} accepted, {rejected} rejected — mode fuse, threshold {threshold}")
    assert "none set aside; showing 7" in head
    rc, out, err = run(capsys, "search", query, "--store", tmp_path / "index", "--mode", "rerank", "--width", "120")
    head, rows = out.splitlines()[0], out.splitlines()[3:]
    assert head.startswith(f"7 recalled: {accepted} accepted, {rejected} rejected — mode rerank")
    assert f"{rejected} set aside; showing {accepted}" in head and all(" ACCEPT " in r for r in rows)


# -- index: one bad JSONL line ---------------------------------------------------------------------------------------
def test_one_bad_jsonl_line_skips_that_line_only(capsys, tmp_path):
    """Lines 1 and 3 used to be lost with the whole file because line 2 was not JSON."""
    src = tmp_path / "faq.jsonl"
    src.write_bytes(
        b'{"id": "one", "text": "Small pets may travel in the cabin."}\n{not json\n'
        b'{"id": "three", "text": "A second bag costs 40 euros per flight."}\n"a string"\n'
        b'{"id": "five", "text": "caf\xe9 in latin-1"}\n'
    )
    rc, out, err = index(capsys, tmp_path, src)
    assert rc == 1  # something was skipped: not silent
    assert "indexed 2 passage(s) of 2 document(s) from 1 file(s)" in out and "3 JSONL line(s) skipped" in out
    assert f"skipped {src}: line 2: not valid JSON" in err
    assert f"skipped {src}: line 4: expected a JSON object" in err
    assert f"skipped {src}: line 5: not UTF-8 text" in err
    res = search_json(capsys, tmp_path, "Can my pet travel with me?", "--recall-k", "5")
    assert {r["id"] for r in res["results"]} == {"one", "three"}


# -- issue 15: documents as passages, metadata filters, query files, BEIR folders ------------------------------------
LONG = " ".join(
    f"Sentence {i} says the {w} arrived at the port on a cold morning." for i, w in enumerate("abcdefgh" * 5)
)


@pytest.fixture
def corpus(tmp_path):
    rows = [
        {"id": "long", "title": "Ports", "text": LONG, "year": 2020, "tags": ["a", "b"]},
        {"id": "pets", "text": "Small pets may travel in the cabin in a closed carrier.", "year": 2021},
        {"id": "bags", "text": "Each passenger may check one bag of up to 23 kg.", "year": "2021"},
    ]
    src = tmp_path / "corpus.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return src


def test_long_records_are_passages_and_search_returns_documents_or_passages(capsys, tmp_path, corpus):
    rc, out, err = index(capsys, tmp_path, corpus, extra=["--passage-tokens", "64", "--passage-overlap", "16"])
    assert rc == 0 and "verimap: note" not in err, err
    assert "1 long document(s) were split" in out
    query = "Which letter arrived at the port?"
    docs = search_json(capsys, tmp_path, query, "--threshold", "0")
    assert docs["unit"] == "document" and len({r["id"] for r in docs["results"]}) == len(docs["results"])
    long = next(r for r in docs["results"] if r["id"] == "long")
    assert long["passage_id"].startswith("long#") and long["passages"] > 1
    assert long["meta"] == {"title": "Ports", "year": 2020, "tags": '["a", "b"]', "source": str(corpus)}
    assert ("Ports " + LONG)[long["start"] : long["end"]] == long["text"]  # offsets into title + " " + text
    passages = search_json(capsys, tmp_path, query, "--threshold", "0", "--unit", "passage", "--k", "50")
    ids = [r["id"] for r in passages["results"]]
    assert passages["unit"] == "passage" and sum(x.startswith("long#") for x in ids) == long["passages"]
    assert {r["parent_id"] for r in passages["results"]} == {"long", "pets", "bags"}


def test_reindexing_a_shorter_document_drops_its_old_passages(capsys, tmp_path, corpus):
    index(capsys, tmp_path, corpus, extra=["--passage-tokens", "64"])
    rc, out, _ = index(capsys, tmp_path, corpus, extra=["--passage-tokens", "64"])
    held = int(out.split("now holds ")[1].split()[0])
    assert held > 3 and "indexed" in out  # idempotent: the same count again
    rc, out, _ = index(capsys, tmp_path, corpus, extra=["--passage-tokens", "254"])  # "long" now fits in fewer
    fewer = int(out.split("now holds ")[1].split()[0])
    assert rc == 0 and fewer < held
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps({"id": "long", "text": "Now it is short."}) + "\n", encoding="utf-8")
    rc, out, _ = index(capsys, tmp_path, short)
    assert "the store now holds 3" in out  # one passage under the document's own id, the old ones gone
    hits = search_json(capsys, tmp_path, "short", "--unit", "passage", "--threshold", "0")["results"]
    assert {r["id"] for r in hits} == {"long", "pets", "bags"}


def test_where_filters_on_metadata(capsys, tmp_path, corpus):
    index(capsys, tmp_path, corpus)
    q = "Can I bring my pet?"
    got = search_json(capsys, tmp_path, q, "--threshold", "0", "--where", "year=2021")
    assert {r["id"] for r in got["results"]} == {"pets", "bags"}  # 2021 and "2021" both match
    got = search_json(capsys, tmp_path, q, "--threshold", "0", "--where", "year=2021", "--where", "source=nowhere")
    assert got["results"] == []
    rc, out, err = run(capsys, "search", q, "--store", tmp_path / "index", "--where", "no-equals-sign")
    assert rc == 2 and "--where takes key=value" in err


def test_queries_file_writes_jsonl_or_a_trec_run(capsys, tmp_path, corpus):
    index(capsys, tmp_path, corpus)
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        json.dumps({"_id": "q1", "text": "Can I bring my pet?"})
        + "\n"
        + json.dumps({"id": "q2", "text": "bag weight"})
        + "\n",
        encoding="utf-8",
    )
    out_file = tmp_path / "run.jsonl"
    rc, out, err = run(
        capsys, "search", "--queries", queries, "--store", tmp_path / "index", "--output", out_file, "--k", "2"
    )
    assert rc == 0, err
    lines = [json.loads(x) for x in out_file.read_text().splitlines()]
    assert [x["query_id"] for x in lines] == ["q1", "q2"] and all(len(x["results"]) == 2 for x in lines)
    assert "pets" in [r["id"] for r in lines[0]["results"]] and "bags" in [r["id"] for r in lines[1]["results"]]
    rc, out, err = run(
        capsys, "search", "--queries", queries, "--store", tmp_path / "index", "--format", "trec", "--k", "2"
    )
    rows = [line.split() for line in out.splitlines()]
    assert len(rows) == 4 and rows[0][:2] == ["q1", "Q0"] and rows[0][3] == "1" and rows[0][5] == "verimap"
    assert [r[2] for r in rows[:2]] == [r["id"] for r in lines[0]["results"]]  # the same ranking as the JSONL run
    plain = tmp_path / "queries.txt"
    plain.write_text("Can I bring my pet?\n\nbag weight\n", encoding="utf-8")
    rc, out, err = run(capsys, "search", "--queries", plain, "--store", tmp_path / "index")
    assert [json.loads(x)["query_id"] for x in out.splitlines()] == ["1", "3"]
    rc, out, err = run(capsys, "search", "q", "--queries", plain, "--store", tmp_path / "index")
    assert rc == 2 and "not both" in err


def test_a_beir_folder_indexes_its_corpus_only(capsys, tmp_path):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    with gzip.open(beir / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(
            json.dumps({"_id": "d1", "title": "Dogs", "text": "The dog bit the man.", "metadata": {"url": "x"}}) + "\n"
        )
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "who bit whom"}) + "\n", encoding="utf-8")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n", encoding="utf-8")
    rc, out, err = index(capsys, tmp_path, tmp_path)  # the folder holding it: walked, BEIR parts skipped
    assert rc == 0, err
    assert "indexed 1 passage(s) of 1 document(s) from 1 file(s)" in out and "ignored" not in out
    hit = search_json(capsys, tmp_path, "dog", "--threshold", "0")["results"][0]
    assert hit["id"] == "d1" and hit["meta"]["metadata"] == '{"url": "x"}'
