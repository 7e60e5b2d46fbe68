"""Every script in examples/ runs, as a person would run it: its own process, this Python, offline, from another
working directory, exit status 0 and the lines that show it did its job.

Scripts are discovered, so a new example is run as soon as it is added; :data:`EXPECTED` says what each one's output
must hold (and a test fails until a new script has its entry there and a row in examples/README.md). Scores and
verdicts are not checked: they are the shipped model's, which changes; the structure is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # about two minutes: every script loads the model in its own process

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".py", ".sh"))
TIMEOUT_S = 300  # a script takes a minute or less; this is for a busy CI machine

EXPECTED = {
    "haystack_pipeline.py": [
        r"^indexed 7 documents into Chroma",
        r"^Q: Did the dog bite the man\?\n  default .*\n(    \d\.\d{3}  verifier .*\n){3}  score_threshold=0\.5:",
        r"^Q: Who sold the car to Alice\?",
        r"^  prompt: Answer using only these documents\.",
        r"the pipeline loaded from haystack_query\.yaml ranks the same: yes\n\nQ: Who sold",
        r"the pipeline loaded from haystack_query\.yaml ranks the same: yes\n*\Z",
    ],
    "haystack_cache.py": [
        r"^generator: MockChatGenerator",
        r"^Q: How do I switch on dark mode in the mail app\?\n   from the generator: ",
        r"^Q: How can I enable the mail app's dark theme\?\n   from the (cache|generator): ",
        r"^Q: How do I switch off dark mode in the mail app\?\n   from the (cache|generator): ",
    ],
    "langchain_compression.py": [
        r"^Query: Did the dog bite the man\?",
        r"^Chroma alone .*\n(  .*\n){4}\n",
        r"^VerifiedRetriever \(k=3\).*\n(  (accepted|under) .*\n){3}\n",
        r"^ContextualCompressionRetriever \+ StructuralVerifierCompressor",
        r"\[true-match\] The dog bit the man\.",
        r"\[near-miss\] The man bit the dog\.",
        r"^near-miss (kept|rejected), true match (kept|rejected) \(threshold \d\.\d\d",
    ],
    "semantic_cache.py": [
        r"^guard: CacheGuard\(",
        r"^a question: .*\n   answered by the model: fresh answer 1 to: ",
        # an identical prompt is always a hit: the model is not called again
        r"^the same question: .*\n   answered by the cache: fresh answer 1 to: .*\n   guard .*: score 1\.000, hit",
        r"^a paraphrase: .*\n   answered by the (cache|model): .*\n   guard vs the first question: score \d\.\d{3}",
        r"^a near miss: .*\n   answered by the (cache|model): .*\n   guard vs the first question: score \d\.\d{3}",
        r"^the model was called [12] time\(s\) for 4 questions",
    ],
    "rerank_service.py": [
        r"^\$ RERANK_KEY=\.\.\. verimap serve --port \d+",
        r"^http://127\.0\.0\.1:\d+/health: \{'status': 'ready'",
        r"^top 3 of 5 documents.*\n(  #\d  relevance -?\d\.\d{3}  verifier \d\.\d{3}  (ACCEPT|REJECT)  .*\n){3}",
        r"^server stopped",
    ],
    "fine_tune.py": [
        r"^wrote 48 labelled pairs",
        r"^\$ verimap train --pairs mine\.jsonl --out mine\.safetensors --epochs 1",
        r"^wrote mine\.safetensors and its card mine\.json:\n  threshold \d\.\d{3}, dev AUC \d\.\d{3} on \d+ held-out",
        r"^unseen query: .*\n(  P\(match\): shipped \d\.\d{3}  fine-tuned \d\.\d{3}  .*\n){2}",
    ],
    "index_folder.py": [
        r"^\$ verimap index docs --store index",
        r"^indexed 7 passage\(s\) of 7 document\(s\) from 3 file\(s\)",
        r"^\$ verimap search 'Night trains from Vienna to Rome' --store index --k 3",
        r"^\$ verimap search 'Who sold a car to Alice\?'",
        r"^rank   score  verifier  recall  verdict  passage\n-+\n(   \d .*\n){3}",
        r"^set aside:",
    ],
}
"""Per script: patterns (``re.MULTILINE``) its standard output must match."""


@pytest.fixture(scope="module")
def environment() -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "HAYSTACK_TELEMETRY_ENABLED": "False"}
    env.pop("OPENAI_API_KEY", None)  # haystack_cache.py would call OpenAI with it
    return env


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_example_runs(name, tmp_path, environment):
    script = EXAMPLES / name
    command = [sys.executable, str(script)] if script.suffix == ".py" else ["bash", str(script)]
    done = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"{name} exited with {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    missing = [p for p in EXPECTED.get(name, [r"\S"]) if not re.search(p, done.stdout, re.MULTILINE)]
    assert not missing, f"{name}: its output does not show {missing}:\n{done.stdout}"
    assert not list(tmp_path.iterdir()), f"{name} wrote into the working directory: {list(tmp_path.iterdir())}"


def test_every_example_says_what_a_passing_run_prints_and_is_in_the_readme():
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert len(SCRIPTS) >= 6
    assert sorted(EXPECTED) == SCRIPTS, "add the new example's expected output lines to EXPECTED"
    assert [s for s in SCRIPTS if f"[`{s}`]({s})" not in readme] == [], "add a row for it to examples/README.md"
