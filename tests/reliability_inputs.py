"""Inputs the Haystack and LangChain reliability suites share: odd characters, a huge text, fast Hypothesis settings."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

FAST = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ODD = sorted(set("abc dog bit man 🐶👨‍👩‍👧 الكلب שלום 狗咬了人 \u200b\u200d\ufeff\u202e \x00\x07 \t\n e\u0301"))
HUGE = ("The dog bit the man near the old harbour wall. " * 2200)[:100_000]
