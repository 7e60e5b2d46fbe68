"""docs/serve.md's curl lines run against a real server (the URL replaced by its own) and answer JSON, not an error.
(The page's Python examples are run by scripts/docs_samples.py, whose outputs tests/test_house.py checks.)"""

from __future__ import annotations

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
