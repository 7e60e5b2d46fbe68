"""Write the sample outputs the docs show, from real runs of the code (never typed by hand).

Each sample sits between ``<!-- sample:NAME:begin -->`` and ``<!-- sample:NAME:end -->`` in a markdown file;
this script runs what the sample shows (the CLI in-process on a small FAQ indexed into a temporary store, the
README's Python snippet, the config defaults, docs/serve.md's client examples against a real server on loopback)
and replaces the block. ``tests/test_house.py`` checks that the
blocks are still what the code prints.

    python scripts/docs_samples.py            # rewrite the blocks
    python scripts/docs_samples.py --check    # exit 1 if a block is out of date
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = [  # (markdown file, sample name)
    ("README.md", "readme-rank"),
    ("docs/cli.md", "search"),
    ("docs/cli.md", "verify"),
    ("docs/cli.md", "config"),
    ("docs/cli.md", "guard"),
    ("docs/cache.md", "cache-cases"),
    ("docs/serve.md", "serve-curl"),
    ("docs/serve.md", "serve-cohere"),
    ("docs/serve.md", "serve-haystack"),
    ("docs/serve.md", "serve-langchain"),
]
SERVE_URL = "http://127.0.0.1:8080"  # where docs/serve.md's examples point; the samples run them on a free port
FAQ = """# Travel FAQ

Flights from Paris to Rome leave every two hours from Terminal 2.

Flights from Rome to Paris leave every two hours from Terminal 3.

Each passenger may check one bag of up to 23 kg. A second bag costs 40 euros per flight.

Online check-in opens 30 hours before departure.

Small pets may travel in the cabin in a closed carrier.
"""


def cli(*argv: str) -> str:
    """What ``verimap ARGV`` prints on stdout, as a console block."""
    from verimap.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(list(argv))
    if status:
        raise RuntimeError(f"verimap {' '.join(argv)} exited {status}")
    return out.getvalue().rstrip()


def shell(argv: list[str]) -> str:
    return "$ verimap " + " ".join(f'"{a}"' if " " in a else a for a in argv)


def readme_rank() -> str:
    """The README's snippet, run: what it prints."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    return "It prints:\n\n```text\n" + out.getvalue().rstrip() + "\n```"


def search_and_verify() -> dict[str, str]:
    with tempfile.TemporaryDirectory(prefix="verimap-docs-") as tmp:
        faq = Path(tmp) / "faq.md"
        faq.write_text(FAQ, encoding="utf-8")
        store = str(Path(tmp) / "index")
        cli("index", str(faq), "--store", store, "--quiet")
        search = ["search", "Flights from Paris to Rome", "--k", "3", "--width", "100"]
        strict = ["search", "Flights from Paris to Rome", "--threshold", "0.5", "--show-rejected", "--width", "100"]
        samples = {
            "search": "```console\n"
            + "\n\n".join(f"{shell(argv)}\n{cli(*argv, '--store', store)}" for argv in (search, strict))
            + "\n```",
        }
    verify = ["verify", "Did the dog bite the man?", "The dog bit the man.", "The man bit the dog."]
    samples["verify"] = f"```console\n{shell(verify)}\n{cli(*verify)}\n```"
    return samples


def config() -> str:
    from verimap.config import example_toml
    from verimap.weights import load

    _, card, _ = load()
    return f"```toml\n{example_toml(card.threshold)}\n```"


def guard() -> str:
    """``verimap guard`` on issue 17's dark-mode example: the paraphrase and the near miss."""
    from verimap.testing import CACHE_CASES

    _, cached, paraphrase, near_miss = next(c for c in CACHE_CASES if c[0] == "dark-mode")
    runs = [["guard", "--cached", cached, "--new", new] for new in (paraphrase, near_miss)]
    return "```console\n" + "\n".join(f"{shell(argv)}\n{cli(*argv)}" for argv in runs) + "\n```"


def cache_cases() -> str:
    """The hand-written cache cases of the tests (verimap.testing.CACHE_CASES) under pooled cosine, MaxSim and the
    guard: the paraphrase must be served, the near miss must not."""
    from verimap.guard import CacheGuard
    from verimap.scorers import MaxSim, PooledCosine
    from verimap.shared import shared_verifier
    from verimap.testing import CACHE_CASES

    guard = CacheGuard(shared_verifier())
    pooled, maxsim = PooledCosine(guard.verifier.encoder), MaxSim(guard.verifier.encoder)
    pairs = [(new, cached) for _, cached, paraphrase, near_miss in CACHE_CASES for new in (paraphrase, near_miss)]
    cos, late, verdicts = pooled.score_pairs(pairs), maxsim.score_pairs(pairs), guard.check_pairs(pairs)
    rows = [
        "| kind | pooled cosine: paraphrase / near miss | MaxSim: paraphrase / near miss | guard: paraphrase / near miss |",
        "|---|---|---|---|",
    ]

    def mark(v) -> str:
        return f"{v.score:.2f} {'hit' if v.hit else 'miss'}"

    for k, (kind, *_) in enumerate(CACHE_CASES):
        i, j = 2 * k, 2 * k + 1
        rows.append(
            f"| {kind} | {cos[i]:.2f} / {cos[j]:.2f}{' ✗' if cos[j] >= cos[i] else ''} "
            f"| {late[i]:.2f} / {late[j]:.2f}{' ✗' if late[j] >= late[i] else ''} "
            f"| {mark(verdicts[i])} / {mark(verdicts[j])} |"
        )
    n = len(CACHE_CASES)
    above = sum(cos[2 * k + 1] >= cos[2 * k] for k in range(n))
    late_above = sum(late[2 * k + 1] >= late[2 * k] for k in range(n))
    served = sum(verdicts[2 * k].hit for k in range(n))
    wrong = sum(verdicts[2 * k + 1].hit for k in range(n))
    return (
        "\n".join(rows)
        + f"\n\nPooled cosine scores the near miss at or above the paraphrase in {above} of {n} cases, MaxSim in "
        f"{late_above} (✗): no threshold on either serves the paraphrases without serving those near misses. The "
        f"guard (threshold {guard.threshold:.4g}, from the {guard.threshold_source}) serves {served} of {n} "
        f"paraphrases and {wrong} of {n} near misses."
    )


def example_before(text: str, name: str) -> tuple[str, str]:
    """The code block just before sample ``name``'s marker: ``(language, code)``."""
    head = text[: text.index(f"<!-- sample:{name}:begin -->")]
    end = head.rindex("```")
    start = head.rindex("```", 0, end)
    language, _, code = head[start + 3 : end].partition("\n")
    return language.strip(), code


def serve_samples() -> dict[str, str]:
    """docs/serve.md's examples, each run against a real app (uvicorn in a thread, a free loopback port) whose
    verifier has a token cache of its own, so the figures do not depend on what ran before in the process."""
    import json
    import re
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    from verimap.cache import TokenCache
    from verimap.serve import create_app
    from verimap.shared import shared_encoder
    from verimap.verifier import Verifier

    doc = (ROOT / "docs" / "serve.md").read_text(encoding="utf-8")
    app = create_app(Verifier(encoder=shared_encoder().with_cache(TokenCache())))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    samples = {}
    try:
        for name in [n for p, n in BLOCKS if p == "docs/serve.md"]:
            language, code = example_before(doc, name)
            if language == "bash":  # a curl line: the same request, its JSON answer (the id is new every time)
                route = re.search(re.escape(SERVE_URL) + r"(/\S+)", code).group(1)
                payload = json.loads(re.search(r"-d '(.*)'", code, re.S).group(1))
                body = httpx.post(url + route, json=payload, timeout=60).json()
                body["id"] = "…"
                # Rounded: the last digits move with torch's thread count, and a sample must not.
                for result in body["results"]:
                    result.update({k: round(v, 4) for k, v in result.items() if isinstance(v, float)})
                shown = json.dumps(body, indent=2, ensure_ascii=False)
                samples[name] = (
                    "It prints (the `id` is new every time; scores rounded here):\n\n```json\n" + shown + "\n```"
                )
            else:
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    exec(compile(code.replace(SERVE_URL, url), "docs/serve.md", "exec"), {"__name__": "docs"})
                samples[name] = "It prints:\n\n```text\n" + out.getvalue().rstrip() + "\n```"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    return samples


def render_all() -> dict[str, str]:
    """Every sample, by name."""
    return {
        "readme-rank": readme_rank(),
        **search_and_verify(),
        "config": config(),
        "guard": guard(),
        "cache-cases": cache_cases(),
        **serve_samples(),
    }


def replace_block(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- sample:{name}:begin -->", f"<!-- sample:{name}:end -->"
    if text.count(begin) != 1 or text.count(end) != 1:
        raise ValueError(f"sample {name}: expected one {begin} … {end} block")
    return text[: text.index(begin) + len(begin)] + f"\n{body}\n" + text[text.index(end) :]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    samples = render_all()
    stale = []
    for path in dict.fromkeys(p for p, _ in BLOCKS):
        file = ROOT / path
        text = file.read_text(encoding="utf-8")
        new = text
        for p, name in BLOCKS:
            if p == path:
                new = replace_block(new, name, samples[name])
        if new != text:
            stale.append(path)
            if check:  # say what changed: a sample that moves only in some processes is a bug to see, not guess
                import difflib

                sys.stdout.writelines(
                    difflib.unified_diff(text.splitlines(True), new.splitlines(True), path, "now", n=1)
                )
            else:
                file.write_text(new, encoding="utf-8")
    if stale:
        print(("out of date: " if check else "rewrote: ") + ", ".join(stale))
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
