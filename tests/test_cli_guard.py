"""``verimap guard``: one pair's verdict, and the JSONL contract (``score`` and ``hit`` added, order kept)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from verimap.cli import main
from verimap.guard import CacheGuard
from verimap.testing import HUGE

CACHED = "How do I switch on dark mode in the mail app?"
NEAR_MISS = "How do I switch off dark mode in the mail app?"
UNRELATED = "What is the capital of France?"


@pytest.fixture()
def pairs_file(tmp_path):
    rows = [
        {"id": "p1", "cached": CACHED, "new": NEAR_MISS, "kind": "antonym"},
        {"id": "p2", "cached": CACHED, "new": CACHED, "extra": [1, 2]},
        {"id": "p3", "cached": "ünïcödé 🐶", "new": "", "label": 0},
        {"id": "p4", "cached": CACHED, "new": UNRELATED},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path, rows


def test_input_adds_score_and_hit_keeping_lines_and_order(pairs_file, tmp_path, verifier):
    path, rows = pairs_file
    out = tmp_path / "out.jsonl"
    assert main(["guard", "--input", str(path), "--output", str(out), "--quiet", "--batch-size", "3"]) == 0
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [{k: v for k, v in g.items() if k not in ("score", "hit")} for g in got] == rows
    guard = CacheGuard(verifier)
    for g, row in zip(got, rows):
        verdict = guard.check(row["new"], row["cached"])
        assert g["score"] == pytest.approx(verdict.score, abs=1e-6) and g["hit"] is verdict.hit
    assert (got[1]["score"], got[1]["hit"]) == (1.0, True)  # the same prompt
    assert (got[2]["score"], got[2]["hit"]) == (0.0, False)  # an empty one


def test_a_given_threshold_sets_the_verdicts(pairs_file, tmp_path):
    path, _ = pairs_file
    out = tmp_path / "out.jsonl"
    assert main(["guard", "--input", str(path), "--output", str(out), "--quiet", "--threshold", "1.0"]) == 0
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [g["hit"] for g in got] == [False, True, False, False]


def test_single_pair_prints_the_verdict(capsys, verifier):
    guard = CacheGuard(verifier)
    assert main(["guard", "--cached", CACHED, "--new", UNRELATED]) == 0
    out = capsys.readouterr().out.strip()
    verdict = guard.check(UNRELATED, CACHED)
    assert out.startswith("HIT " if verdict.hit else "MISS") and f"{verdict.score:.3f}" in out
    assert f"threshold {guard.threshold:.4g}, {guard.threshold_source}" in out
    assert main(["guard", "--cached", CACHED, "--new", UNRELATED, "--json", "--threshold", "0.5"]) == 0
    row = json.loads(capsys.readouterr().out)
    strict = CacheGuard(verifier, threshold=0.5).check(UNRELATED, CACHED)
    assert row == {
        "cached": CACHED,
        "new": UNRELATED,
        "score": round(strict.score, 6),
        "hit": strict.hit,
        "reason": strict.reason,
        "threshold": 0.5,
    }


def test_the_passage_threshold_of_verimap_toml_is_not_the_guards(tmp_path, monkeypatch, capsys, verifier):
    (tmp_path / "verimap.toml").write_text("threshold = 0.99\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["guard", "--cached", CACHED, "--new", UNRELATED, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["threshold"] == CacheGuard(verifier).threshold


def test_a_huge_prompt_gets_one_note(tmp_path, capsys):
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"cached": HUGE, "new": CACHED}) + "\n" + json.dumps({"cached": CACHED, "new": HUGE}))
    assert main(["guard", "--input", str(path)]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2
    notes = [line for line in err.splitlines() if line.startswith("verimap: note:")]
    assert len(notes) == 1 and "longer than the encoder's 256 tokens" in notes[0]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["guard"], "give either --cached and --new, or --input"),
        (["guard", "--cached", CACHED], "--cached and --new go together"),
        (["guard", "--cached", CACHED, "--new", "x", "--input", "f.jsonl"], "give either --cached and --new"),
        (["guard", "--cached", "  ", "--new", CACHED], "the cached prompt is empty"),
        (["guard", "--cached", CACHED, "--new", "bad \udcfe"], "the new prompt is not valid Unicode"),
        (["guard", "--cached", CACHED, "--new", "x", "--threshold", "1.5"], "threshold must be a number in [0, 1]"),
        (["guard", "--cached", CACHED, "--new", "x", "--output", "o.jsonl"], "--output goes with --input"),
        (["guard", "--input", "missing.jsonl"], "cannot read missing.jsonl"),
    ],
)
def test_mistakes_are_one_line_errors(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("verimap: error: ") and needle in err[-1], err


def test_bad_lines_are_named(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"cached": "x", "new": "y"}\n{"cached": "x", "new": null}\n', encoding="utf-8")
    assert main(["guard", "--input", str(bad)]) == 2
    assert "bad.jsonl:2: field 'new' must be a string" in capsys.readouterr().err
    bad.write_text('{"cached": "\\ud800", "new": "y"}\n', encoding="utf-8")
    assert main(["guard", "--input", str(bad)]) == 2
    assert "bad.jsonl:1: field 'cached' is not valid Unicode" in capsys.readouterr().err


def test_entry_point_writes_stdout_and_progress_to_stderr(pairs_file):
    path, rows = pairs_file
    proc = subprocess.run(
        [sys.executable, "-m", "verimap", "guard", "--input", str(path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["id"] for line in proc.stdout.splitlines()] == [r["id"] for r in rows]
    assert "guard" in proc.stderr  # the progress bar
