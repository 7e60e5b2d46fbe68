"""docs/serve.md's examples run: every Python and curl block that talks to ``http://127.0.0.1:8080`` is run against a
real server (the URL replaced by its own), and prints what a reader is told it prints (the shape, not the scores:
those move with the weights)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "serve.md"
URL = "http://127.0.0.1:8080"


def blocks(language: str) -> list[str]:
    text = DOC.read_text()
    return [b for b in re.findall(rf"```{language}\n(.*?)```", text, re.S) if URL in b]


PYTHON = blocks("python")
SHELL = [b for b in blocks("bash") if b.startswith("curl ")]  # not the install and start lines


def test_the_page_has_its_examples():
    assert len(PYTHON) == 3 and any("cohere.ClientV2" in b for b in PYTHON)
    assert any("CohereRanker" in b for b in PYTHON) and any("CohereRerank" in b for b in PYTHON)
    assert len(SHELL) >= 4 and all("curl" in b for b in SHELL)


@pytest.mark.parametrize("code", PYTHON, ids=["cohere", "haystack", "langchain"][: len(PYTHON)])
def test_python_examples_run(code, base_url, verifier):
    for module in re.findall(r"^from (\w+)", code, re.M):
        pytest.importorskip(module)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace(URL, base_url), str(DOC), "exec"), {"__name__": "docs_example"})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(re.match(r"\d\.\d{3}  ", line) for line in lines), lines
    assert lines[0].endswith("The dog bit the man.")  # the true match first


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
@pytest.mark.parametrize("script", SHELL)
def test_curl_examples_run(script, base_url, tmp_path):
    if "jq" in script and shutil.which("jq") is None:
        pytest.skip("needs jq")
    done = subprocess.run(
        ["bash", "-c", "set -o pipefail; " + script.replace(URL, base_url)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    if "> explain.png" in script:
        assert (tmp_path / "explain.png").read_bytes()[:4] == b"\x89PNG"
    else:
        body = json.loads(done.stdout)
        assert "message" not in (body if isinstance(body, dict) else {}), body
