from __future__ import annotations

import json
import subprocess
import sys

import pytest

from verimap.cli import main


@pytest.fixture()
def pairs_file(tmp_path):
    rows = [
        {"id": "x1", "a": "The man bit the dog.", "b": "The dog bit the man.", "label": 0},
        {"id": "x2", "a": "Flights from Paris to Rome", "b": "Flights from Paris to Rome", "extra": [1, 2]},
        {"id": "x3", "a": "ünïcödé 🐶", "b": "", "label": 1},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path, rows


@pytest.mark.parametrize("scorer", ["maxsim", "pooled", "verifier"])
def test_round_trip_keeps_lines_and_order(pairs_file, tmp_path, scorer):
    path, rows = pairs_file
    out = tmp_path / f"out-{scorer}.jsonl"
    assert main(["score-pairs", "--input", str(path), "--scorer", scorer, "--output", str(out), "--quiet"]) == 0
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [{k: v for k, v in g.items() if k != "score"} for g in got] == rows
    assert all(isinstance(g["score"], float) for g in got)
    if scorer != "verifier":
        assert got[1]["score"] == pytest.approx(1.0, abs=1e-3)
    assert got[2]["score"] == 0.0


def test_entry_point_writes_stdout_and_progress_to_stderr(pairs_file):
    path, rows = pairs_file
    proc = subprocess.run(
        [sys.executable, "-m", "verimap", "score-pairs", "--input", str(path), "--scorer", "pooled"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == len(rows)
    assert "score-pairs" in proc.stderr  # the progress bar


def test_bad_files_give_clear_errors(tmp_path, capsys):
    assert main(["score-pairs", "--input", str(tmp_path / "missing.jsonl"), "--scorer", "pooled"]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": "x", "b": "y"}\n{oops\n')
    assert main(["score-pairs", "--input", str(bad), "--scorer", "pooled"]) == 2
    assert "bad.jsonl:2: not valid JSON" in capsys.readouterr().err
    missing = tmp_path / "missing_b.jsonl"
    missing.write_text('{"a": "x"}\n')
    assert main(["score-pairs", "--input", str(missing), "--scorer", "pooled"]) == 2
    assert "field 'b' must be a string" in capsys.readouterr().err


def test_score_pairs_builds_its_verifier_from_verimap_toml_like_every_command(
    pairs_file, tmp_path, monkeypatch, capsys
):
    """score-pairs used to build its own verifier and ignore verimap.toml (weights, device): now one way for all."""
    path, _ = pairs_file
    work = tmp_path / "work"
    work.mkdir()
    (work / "verimap.toml").write_text('weights = "nowhere.safetensors"\n', encoding="utf-8")
    monkeypatch.chdir(work)
    assert main(["score-pairs", "--input", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot load verifier weights" in err and "nowhere.safetensors" in err
    (work / "verimap.toml").write_text('device = "no-such-device"\n', encoding="utf-8")
    assert main(["score-pairs", "--input", str(path), "--quiet"]) == 2
    assert "no-such-device" in capsys.readouterr().err
