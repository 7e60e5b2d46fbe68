"""`verimap verify` and `verimap explain` in-process; one subprocess run of the installed `verimap` entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from verimap.cli import main

QUERY = "Did the dog bite the man?"
TRUE = "The dog bit the man."
NEAR_MISS = "The man bit the dog."
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# -- verify --------------------------------------------------------------------------------------------------------
def test_verify_prints_score_and_verdict(capsys, verifier):
    rc, out, err = run(capsys, "verify", QUERY, NEAR_MISS)
    assert rc == 0, err
    score = verifier.score(QUERY, [NEAR_MISS])[0]
    verdict = "ACCEPT" if score >= verifier.threshold else "REJECT"
    assert out.strip() == f"{score:.3f}  {verdict}  (threshold {verifier.threshold:.4g})"


def test_verify_accepts_true_match_and_rejects_near_miss(capsys, verifier):
    good, bad = verifier.score(QUERY, [TRUE, NEAR_MISS])  # a threshold between them: the CLI's plumbing
    assert good > bad
    rc, out, _ = run(capsys, "verify", QUERY, TRUE, NEAR_MISS, "--json", "--threshold", str((good + bad) / 2))
    assert rc == 0
    res = json.loads(out)
    assert [r["candidate"] for r in res["results"]] == [TRUE, NEAR_MISS]
    assert res["results"][0]["accepted"] is True
    assert res["results"][1]["accepted"] is False


def test_verify_threshold_flag(capsys):
    rc, out, _ = run(capsys, "verify", QUERY, NEAR_MISS, "--threshold", "0", "--json")
    res = json.loads(out)
    assert res["threshold"] == 0.0 and res["results"][0]["accepted"] is True
    rc, out, _ = run(capsys, "verify", QUERY, NEAR_MISS, "--threshold", "1")
    assert "REJECT" in out and "(threshold 1)" in out


def test_verify_errors(capsys, tmp_path):
    rc, out, err = run(capsys, "verify", "  ", TRUE)
    assert rc == 2 and "query is empty" in err
    rc, out, err = run(capsys, "verify", QUERY, TRUE, "")
    assert rc == 2 and "candidate 2 is empty" in err
    rc, out, err = run(capsys, "verify", QUERY, TRUE, "--weights", tmp_path / "missing.safetensors")
    assert rc == 2 and "verimap: error:" in err and "missing.safetensors" in err


# -- explain -------------------------------------------------------------------------------------------------------
def test_explain_terminal(capsys, verifier):
    rc, out, err = run(capsys, "explain", QUERY, NEAR_MISS)
    assert rc == 0, err
    ex = verifier.explain(QUERY, NEAR_MISS)
    assert out.startswith(ex.to_text())
    assert "unmatched query tokens" in out
    for token in ("dog", "bite", "man"):
        assert token in out


def test_explain_json(capsys):
    rc, out, _ = run(capsys, "explain", QUERY, NEAR_MISS, "--json")
    res = json.loads(out)
    assert res["query_tokens"] == ["did", "the", "dog", "bite", "the", "man", "?"]
    assert res["candidate_tokens"] == ["the", "man", "bit", "the", "dog", "."]
    assert len(res["map"]) == 7 and all(len(row) == 6 for row in res["map"])
    assert {b["token"]: b["match"] for b in res["best_match"]}["dog"] == "dog"


def test_explain_writes_png(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "explain.png"
    rc, out, err = run(capsys, "explain", QUERY, NEAR_MISS, "--png", png)
    assert rc == 0, err
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 20_000  # a real rendered heatmap, not an empty canvas
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 600 and height >= 400
    assert f"wrote {png}" in out


def test_explain_png_long_texts(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "long.png"
    doc = " ".join(["The quick brown fox jumps over the lazy dog."] * 12)
    rc, out, err = run(capsys, "explain", "Which animal jumps over the dog?", doc, "--png", png)
    assert rc == 0, err
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_explain_errors(capsys, tmp_path):
    rc, out, err = run(capsys, "explain", QUERY, NEAR_MISS, "--png", tmp_path / "no" / "dir" / "x.png")
    assert rc == 2 and "directory does not exist" in err
    rc, out, err = run(capsys, "explain", QUERY, " ")
    assert rc == 2 and "candidate is empty" in err


# -- help and entry point -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["index", "search", "verify", "explain", "demo"])
def test_help(capsys, command):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: verimap {command}") and "--config" in out


def test_entry_point_smoke(tmp_path):
    exe = Path(sys.executable).with_name("verimap")
    command = [str(exe)] if exe.exists() else [shutil.which("verimap") or "verimap"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    top = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120, env=env)
    assert top.returncode == 0
    for name in ("index", "search", "verify", "explain", "demo"):
        assert name in top.stdout
    png = tmp_path / "smoke.png"
    proc = subprocess.run(
        [*command, "explain", QUERY, NEAR_MISS, "--png", str(png)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "REJECT" in proc.stdout or "ACCEPT" in proc.stdout
    assert png.read_bytes()[:8] == PNG_MAGIC
    bad = subprocess.run(
        [*command, "index", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("verimap: error: no such file or directory")


def test_png_without_matplotlib_names_the_cli_extra(tmp_path):
    """The hint used to name verimap[train]; the extra for the CLI's plot is verimap[cli]."""
    code = (
        "import sys; sys.modules['matplotlib'] = None; from verimap.cli import main; "
        f"sys.exit(main(['explain', {QUERY!r}, {NEAR_MISS!r}, '--png', {str(tmp_path / 'x.png')!r}]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 2
    assert "--png needs matplotlib: pip install 'verimap[cli]'" in proc.stderr and "verimap[train]" not in proc.stderr
