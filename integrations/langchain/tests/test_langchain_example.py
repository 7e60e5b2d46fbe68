"""The LangChain example runs offline, end to end, and reports on the near-miss."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "run_example.py"


def test_example_runs(capsys):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "Query: Did the dog bite the man?" in out
    assert "VerifiedRetriever (k=3): the verifier fused with MaxSim, nothing dropped" in out
    fused = out.split("VerifiedRetriever (k=3):")[1].split("ContextualCompressionRetriever")[0]
    assert len([line for line in fused.splitlines() if line.startswith("  ")]) == 3  # k=3, nothing dropped
    assert 'StructuralVerifierCompressor(mode="rerank", return_rejected=True)' in out
    assert "[near-miss] The man bit the dog." in out
    assert "true match kept" in out  # whether the near-miss is rejected at the default threshold: docs/benchmarks.md
