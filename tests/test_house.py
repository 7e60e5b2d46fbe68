"""The house's own promises: CI runs the README's test command verbatim, and the sample outputs in the docs are the
ones the code produces (scripts/docs_samples.py writes them; this checks they are still true)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.+?)\n```", readme)
    tests = [c for c in commands if c.endswith("python -m pytest -ra")]
    assert len(tests) == 1
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests[0] in ci
    # the same pip call installs the three distributions, and pytest collects both adapters' suites
    assert '-e ".[all]" -e "integrations/haystack[test]" -e "integrations/langchain[test]"' in tests[0]
    assert ci.index(tests[0]) > next(i for i, line in enumerate(ci) if "ruff check" in line)
    demo = [c for c in commands if c.endswith("verimap demo")]
    assert len(demo) == 1 and demo[0].removesuffix(" && verimap demo") == tests[0].removesuffix(
        " && python -m pytest -ra"
    )


def test_docs_show_the_config_the_code_has():
    from verimap.config import example_toml
    from verimap.weights import load

    _, card, _ = load()
    cli = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert f"```toml\n{example_toml(card.threshold)}\n```" in cli
    assert "threshold = 0.5 " not in cli and "threshold 0.50" not in cli


def test_docs_samples_are_marked_and_filled():
    import runpy

    samples = runpy.run_path(str(ROOT / "scripts" / "docs_samples.py"))
    for path, name in samples["BLOCKS"]:
        text = (ROOT / path).read_text(encoding="utf-8")
        begin, end = f"<!-- sample:{name}:begin -->", f"<!-- sample:{name}:end -->"
        assert text.count(begin) == 1 and text.count(end) == 1, (path, name)
        body = text[text.index(begin) + len(begin) : text.index(end)].strip()
        assert body, f"{path}: sample {name} is empty: run `python scripts/docs_samples.py`"


def test_docs_samples_are_what_the_code_prints_now():
    """Re-runs every sample (a tiny index, two searches, a verify, the README snippet) and compares. In a fresh
    process, as a reader runs them: token vectors cached by earlier tests (encoded in other batches) can move a
    printed third decimal."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "docs_samples.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, f"a docs sample is out of date: run `python scripts/docs_samples.py`\n{done.stdout}"


def test_search_samples_show_the_shipped_threshold():
    from verimap.weights import load

    _, card, _ = load()
    cli = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    block = cli[cli.index("<!-- sample:search:begin -->") : cli.index("<!-- sample:search:end -->")]
    assert f"mode fuse, threshold {card.threshold:.4g}" in block


def test_the_readme_names_every_extra():
    """The README listed the extras but not `cli`."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = readme[readme.index("Extras of `verimap`") :].split("\n\n")[0]
    assert all(f"`{name}`" in line for name in extras), sorted(extras)
