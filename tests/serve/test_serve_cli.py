"""``verimap serve`` itself: its flags' checks, and the real command in a child process (uvicorn, its own model,
the API key from the environment, the store's token file read through)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from verimap.cli import main
from verimap.evaluation.bench import serve_process

QUERY = "Did the dog bite the man?"
PASSAGES = ["The man bit the dog.", "The dog bit the man.", "Dogs are loyal pets.", "A dog bit a man near the harbour."]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--max-documents", "0"], "--max-documents must be at least 1"),
        (["--max-body-mb", "0"], "--max-body-mb must be positive"),
        (["--port", "70000"], "--port must be in 1..65535"),
        (["--api-key-env", "VERIMAP_TEST_NO_SUCH_VARIABLE"], "$VERIMAP_TEST_NO_SUCH_VARIABLE (the API key) is not set"),
        (["--token-file", "no-such-tokens.sqlite"], "token file not found: no-such-tokens.sqlite"),
        (["--weights", "no-such.safetensors"], "cannot load verifier weights no-such.safetensors"),
        (["--threshold", "2"], "threshold must be a number in [0, 1]"),
    ],
)
def test_bad_flags_are_one_line_errors(argv, message, capsys):
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("verimap: error:") and message in err, err


def test_the_command_serves_with_a_key_and_the_stores_token_file(tmp_path, capsys, verifier):
    pytest.importorskip("chromadb")
    corpus = tmp_path / "passages.jsonl"
    corpus.write_text("".join(json.dumps({"text": p}) + "\n" for p in PASSAGES))
    store = tmp_path / "index"
    assert main(["index", str(corpus), "--store", str(store), "--quiet"]) == 0
    config = tmp_path / "verimap.toml"
    config.write_text(f'store = "{store}"\nmode = "rerank"\n')
    env = {"VERIMAP_TEST_SERVE_KEY": "k-123"}
    with serve_process(
        ["--config", str(config), "--api-key-env", "VERIMAP_TEST_SERVE_KEY", "--threads", "1"], env=env
    ) as (
        url,
        _,
    ):
        assert httpx.post(f"{url}/v2/rerank", json={"query": QUERY, "documents": PASSAGES}).status_code == 401
        keyed = {"Authorization": "Bearer k-123"}
        got = httpx.post(f"{url}/v2/rerank", json={"query": QUERY, "documents": PASSAGES}, headers=keyed).json()
        want = verifier.rank(QUERY, PASSAGES, mode="rerank")  # the config's mode is the server's default
        assert [r["index"] for r in got["results"]] == [r.index for r in want]
        assert [r["relevance_score"] for r in got["results"]] == pytest.approx([r.score for r in want], abs=1e-6)
        info = httpx.get(f"{url}/info", headers=keyed).json()
        assert info["mode"] == "rerank" and info["auth"] is True
        assert info["token_cache"]["paths"] == [str((store / "verimap-tokens.sqlite").resolve())]
        assert info["token_cache"]["disk_hits"] == len(PASSAGES)  # indexed passages came from the file
    assert Path(store / "verimap-tokens.sqlite").is_file()


@pytest.mark.slow
def test_workers_each_load_their_own_model(verifier):
    with serve_process(["--workers", "2", "--threads", "1"]) as (url, _):
        pids, deadline = set(), time.monotonic() + 300
        while len(pids) < 2 and time.monotonic() < deadline:
            info = httpx.get(f"{url}/info")  # a new connection each time: the kernel hands it to either worker
            if info.status_code == 200:  # the other one may still be loading (503)
                pids.add(info.json()["pid"])
        got = httpx.post(f"{url}/v2/rerank", json={"query": QUERY, "documents": PASSAGES}).json()
    assert len(pids) == 2
    assert [r["index"] for r in got["results"]] == [r.index for r in verifier.rank(QUERY, PASSAGES)]
