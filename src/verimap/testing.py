"""Test helpers shared by verimap's own suite and the adapters' suites (``verimap-haystack``,
``langchain-verimap``): session fixtures for the real model, and the odd inputs of the reliability suites.

Needs the ``test`` extra (pytest and Hypothesis). Importing it runs torch on one thread (see below). In a
``conftest.py``::

    from verimap.testing import encoder, verifier  # noqa: F401  (registers the fixtures)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

__all__ = ["CACHE_CASES", "FAST", "HUGE", "ODD", "cache_cases", "encoder", "run_docs_example", "verifier"]

# Test inputs are tiny: on a 2-core machine shared with other processes, torch's intra-op pool spins against them
# and one verifier forward took 1.0 s with two threads vs 0.014 s with one (measured). So suites run single-threaded.
torch.set_num_threads(1)

FAST = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""Hypothesis settings of the reliability suites: the same 30 examples every run, no example database."""
ODD = sorted(set("abc dog bit man 🐶👨‍👩‍👧 الكلب שלום 狗咬了人 \u200b\u200d\ufeff\u202e \x00\x07 \t\n e\u0301"))
"""Characters for odd-Unicode property tests: emoji and ZWJ sequences, RTL, CJK, zero-width, controls, combining."""
HUGE = ("The dog bit the man near the old harbour wall. " * 2200)[:100_000]
"""A 100,000-character text, far over the encoder's length."""

CACHE_CASES = [
    (
        "antonym-add-remove",
        "How do I add a second language to my keyboard?",
        "How can I put another language on my keyboard?",
        "How do I remove a second language from my keyboard?",
    ),
    (
        "antonym-increase-decrease",
        "How do I increase the text size on my watch?",
        "How can I make the text bigger on my watch?",
        "How do I decrease the text size on my watch?",
    ),
    (
        "antonym-avoid-eat",
        "Which foods should I avoid during pregnancy?",
        "What foods are unsafe to eat while pregnant?",
        "Which foods should I eat during pregnancy?",
    ),
    (
        "antonym-prevent-cause",
        "What can prevent mold in the bathroom?",
        "How do I stop mold from growing in the bathroom?",
        "What can cause mold in the bathroom?",
    ),
    (
        "negation",
        "Which airlines don't charge for checked bags?",
        "Which airlines let you check a bag for free?",
        "Which airlines charge for checked bags?",
    ),
    (
        "direction",
        "How do I transfer my contacts from Android to iPhone?",
        "How can I move my contacts to an iPhone from an Android phone?",
        "How do I transfer my contacts from iPhone to Android?",
    ),
    (
        "role",
        "Can my doctor share my records with my insurer?",
        "Is my doctor allowed to give my records to my insurer?",
        "Can my insurer share my records with my doctor?",
    ),
    (
        "number",
        "Book a flight to Lisbon for 2 adults.",
        "Book a Lisbon flight for two adults.",
        "Book a flight to Lisbon for 3 adults.",
    ),
    (
        "unit",
        "How many calories does a 5 km run burn?",
        "How many calories do I burn running 5 km?",
        "How many calories does a 5 mile run burn?",
    ),
    (
        "entity",
        "How do I print on my Canon printer?",
        "How can I print with my Canon printer?",
        "How do I print on my Epson printer?",
    ),
    (
        "temporal",
        "Is it better to water plants before sunrise?",
        "Should plants be watered before the sun comes up?",
        "Is it better to water plants after sunrise?",
    ),
    (
        "comparative",
        "Is a heat pump cheaper to run than a gas boiler?",
        "Does a heat pump cost less to run than a gas boiler?",
        "Is a heat pump more expensive to run than a gas boiler?",
    ),
    (
        "dark-mode",  # issue 17's own example
        "How do I switch on dark mode in the mail app?",
        "How can I enable the mail app's dark theme?",
        "How do I switch off dark mode in the mail app?",
    ),
]
"""Semantic-cache cases for every front door of the guard, written by hand for the tests (not by the training rules):
``(kind, cached prompt, a paraphrase that must be served from cache, a near miss that must reach the model)``, one
per near-miss kind, and issue 17's dark-mode example."""

SHIPPED_PARAPHRASE_MISSED = {"negation"}
"""The :data:`CACHE_CASES` whose paraphrase the shipped weights' guard does not serve."""
SHIPPED_NEAR_MISS_HIT = {
    "antonym-add-remove",
    "antonym-avoid-eat",
    "antonym-prevent-cause",
    "comparative",
    "dark-mode",
    "entity",
    "number",
    "temporal",
    "unit",
}
"""The :data:`CACHE_CASES` whose near miss the shipped weights' guard serves from cache."""
SHIPPED_GUARD = "the shipped weights misjudge this cache case (docs/cache.md, docs/benchmarks.md)"


def cache_cases(failing: set[str]) -> list:
    """:data:`CACHE_CASES` as pytest parameters ``(cached, paraphrase, near_miss)`` with ids, those in ``failing``
    marked strict xfails: what the shipped weights get wrong stays recorded, and weights that fix a case make its test
    fail until the case is taken off the list (:data:`SHIPPED_PARAPHRASE_MISSED`, :data:`SHIPPED_NEAR_MISS_HIT`)."""
    return [
        pytest.param(
            *case[1:], id=case[0], marks=pytest.mark.xfail(case[0] in failing, reason=SHIPPED_GUARD, strict=True)
        )
        for case in CACHE_CASES
    ]


def run_docs_example(doc: str | Path, name: str) -> dict:
    """Run the Python block that follows ``<!-- example:NAME -->`` in the markdown file ``doc``, as written, and
    return its globals: a docs example is a test, so it cannot drift from the code."""
    text = Path(doc).read_text(encoding="utf-8")
    found = re.search(rf"<!-- example:{re.escape(name)} -->\n```python\n(.+?)```", text, re.S)
    if found is None:
        raise LookupError(f"{doc}: no python block after <!-- example:{name} -->")
    scope: dict = {"__name__": f"docs_example_{name}"}
    exec(compile(found.group(1), str(doc), "exec"), scope)
    return scope


@pytest.fixture(scope="session")
def encoder():
    """The process-wide bundled encoder: the same instance the adapters and in-process CLI calls use."""
    from verimap.shared import shared_encoder

    return shared_encoder()


@pytest.fixture(scope="session")
def verifier(encoder):
    """The process-wide shipped verifier, on that encoder."""
    from verimap.shared import shared_verifier

    return shared_verifier()
