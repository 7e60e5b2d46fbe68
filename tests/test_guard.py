"""CacheGuard on the real encoder and weights: symmetric scores, where the threshold comes from, reasons, bad input.

Plumbing tests choose pairs whose order no model gets wrong (the same words in another case vs an unrelated
question). What the shipped weights get wrong on cache near-misses is recorded as strict xfails, so weights that
fix a case make its test fail until the case is taken off the list.
"""

from __future__ import annotations

import json
import shutil
import warnings

import pytest

from verimap import TruncationWarning, Verifier, WeightsError
from verimap.guard import REASONS, CacheGuard, Verdict, reason_name
from verimap.testing import (
    CACHE_CASES,
    HUGE,
    ODD,
    SHIPPED_NEAR_MISS_HIT,
    SHIPPED_PARAPHRASE_MISSED,
    cache_cases,
)
from verimap.weights import SHIPPED, card_path

CACHED = "How do I switch on dark mode in the mail app?"
SAME_WORDS = "how do i switch on Dark Mode in the mail app?"  # the (uncased) encoder reads the same tokens
UNRELATED = "What is the capital of France?"


@pytest.fixture(scope="module")
def guard(verifier):
    return CacheGuard(verifier)


@pytest.fixture(scope="module")
def plumbing_guard(verifier):
    """A guard whose threshold lies halfway between a same-words pair and an unrelated one (see the module doc)."""
    same, other = CacheGuard(verifier).check_many(CACHED, [SAME_WORDS, UNRELATED])
    assert same.score > other.score
    return CacheGuard(verifier, threshold=(same.score + other.score) / 2)


def test_check_reads_both_directions_and_combines_them_by_the_mean(guard, verifier):
    verdict = guard.check(CACHED, "How do I switch off dark mode in the mail app?")
    there, back = verifier.score_pairs(
        [
            (CACHED, "How do I switch off dark mode in the mail app?"),
            ("How do I switch off dark mode in the mail app?", CACHED),
        ]
    )
    assert verdict.score == pytest.approx((there + back) / 2, abs=1e-6)
    assert verdict.hit == (verdict.score >= guard.threshold)
    assert guard.check("How do I switch off dark mode in the mail app?", CACHED).score == pytest.approx(verdict.score)


def test_check_many_is_check_for_each_cached_prompt_in_order(guard):
    cached = [UNRELATED, SAME_WORDS, "", CACHED, "How can I enable the mail app's dark theme?"]
    many = guard.check_many(CACHED, cached)
    assert len(many) == len(cached)
    for verdict, prompt in zip(many, cached):
        single = guard.check(CACHED, prompt)
        assert (verdict.hit, verdict.reason) == (single.hit, single.reason)
        assert verdict.score == pytest.approx(single.score, abs=1e-6)
    assert guard.check_many(CACHED, []) == []


def test_identical_prompts_hit_and_empty_ones_never_do(guard):
    assert guard.check(CACHED, CACHED) == Verdict(True, 1.0, None)
    for empty in ["", "   \n", "\u200b\u200d", "\x00\x07"]:
        assert guard.check(empty, empty) == Verdict(False, 0.0, "empty")
        assert guard.check(CACHED, empty) == Verdict(False, 0.0, "empty")
        assert guard.check(empty, CACHED) == Verdict(False, 0.0, "empty")


def test_best_returns_the_highest_scoring_hit(plumbing_guard):
    assert plumbing_guard.best(CACHED, [UNRELATED, SAME_WORDS, UNRELATED]) == (
        1,
        plumbing_guard.check(CACHED, SAME_WORDS),
    )
    assert plumbing_guard.best(CACHED, [UNRELATED, "", UNRELATED]) is None
    assert plumbing_guard.best(CACHED, [UNRELATED, CACHED]) == (1, Verdict(True, 1.0, None))
    assert plumbing_guard.best(CACHED, [SAME_WORDS, CACHED]) == (0, Verdict(True, 1.0, None))  # ties: the first
    assert plumbing_guard.best(CACHED, []) is None


def test_letter_case_and_white_space_alone_make_no_difference(guard):
    # The uncased encoder cannot see them; the parser would misread "Switch On" as a name.
    assert guard.check(CACHED, SAME_WORDS) == Verdict(True, 1.0, None)
    assert guard.check(CACHED, "  " + CACHED.upper().replace(" ", "\t ")) == Verdict(True, 1.0, None)
    assert guard.check(CACHED, CACHED.replace("on", "off")).score < 1.0


def test_threshold_comes_from_the_call_then_the_guard_card_then_the_verifier(tmp_path, verifier, encoder):
    shipped = json.loads(card_path(SHIPPED).read_text())
    assert CacheGuard(verifier).threshold == shipped["guard"]["threshold"] != verifier.threshold
    assert CacheGuard(verifier).threshold_source == "guard card"
    bare = tmp_path / "bare.safetensors"
    shutil.copy(SHIPPED, bare)
    card_path(bare).write_text(json.dumps({k: v for k, v in shipped.items() if k != "guard"}))
    plain = CacheGuard(Verifier(bare, encoder=encoder))
    assert (plain.threshold, plain.threshold_source) == (verifier.threshold, "verifier card")
    own = CacheGuard(Verifier(bare, encoder=encoder, threshold=0.3))
    assert (own.threshold, own.threshold_source) == (0.3, "verifier")
    assert (CacheGuard(verifier, threshold=0.25).threshold, CacheGuard(verifier, 0.25).threshold_source) == (
        0.25,
        "given",
    )
    weights = tmp_path / "v.safetensors"
    shutil.copy(SHIPPED, weights)
    card = json.loads(card_path(SHIPPED).read_text())
    card_path(weights).write_text(json.dumps({**card, "guard": {"threshold": 0.42, "symmetric": "min"}}))
    carded = Verifier(weights, encoder=encoder)
    guard = CacheGuard(carded)
    assert (guard.threshold, guard.threshold_source, guard.symmetric) == (0.42, "guard card", "min")
    assert CacheGuard(carded, threshold=0.1).threshold == 0.1
    there, back = carded.score_pairs([(CACHED, UNRELATED), (UNRELATED, CACHED)])
    assert guard.check(CACHED, UNRELATED).score == pytest.approx(min(there, back), abs=1e-6)


@pytest.mark.parametrize(
    "section, needle",
    [
        ({"threshold": 1.5}, "guard.threshold must be a number in [0, 1]"),
        ({"threshold": "0.5"}, "guard.threshold must be a number in [0, 1]"),
        ({"symmetric": "median"}, "guard.symmetric must be one of"),
        ([0.5], "'guard' must be an object"),
    ],
)
def test_a_bad_guard_section_in_the_card_is_a_weights_error(tmp_path, encoder, section, needle):
    weights = tmp_path / "v.safetensors"
    shutil.copy(SHIPPED, weights)
    card = json.loads(card_path(SHIPPED).read_text())
    card_path(weights).write_text(json.dumps({**card, "guard": section}))
    with pytest.raises(WeightsError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        CacheGuard(Verifier(weights, encoder=encoder))


def test_bad_arguments_are_named(guard, verifier):
    with pytest.raises(TypeError, match="new_prompt must be a string, got NoneType"):
        guard.check(None, CACHED)
    with pytest.raises(TypeError, match="cached_prompt must be a string, got int"):
        guard.check(CACHED, 3)
    with pytest.raises(TypeError, match=r"cached_prompts\[1\] must be a string"):
        guard.check_many(CACHED, [CACHED, None])
    with pytest.raises(TypeError, match="cached_prompts must be a list of strings"):
        guard.check_many(CACHED, CACHED)
    with pytest.raises(ValueError, match="not valid Unicode"):
        guard.check("bad \ud800", CACHED)
    with pytest.raises(ValueError, match="threshold must be a number in"):
        CacheGuard(verifier, threshold=float("nan"))
    with pytest.raises(TypeError, match="verifier must be a verimap.Verifier"):
        CacheGuard("shipped")


def test_a_huge_prompt_is_cut_with_one_warning(guard):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        verdicts = guard.check_many(HUGE, [CACHED, HUGE + " again", UNRELATED])
    cut = [w for w in caught if issubclass(w.category, TruncationWarning)]
    assert len(cut) == 1 and cut[0].message.count == 2
    assert all(0.0 <= v.score <= 1.0 for v in verdicts)


def test_odd_unicode_scores_like_any_text(guard):
    for text in ["".join(ODD), "🐶 bit 👨‍👩‍👧", "狗咬了人", "e\u0301\u0308 ①", "\u202eoverride"]:
        verdict = guard.check(text, CACHED)
        assert 0.0 <= verdict.score <= 1.0 and verdict.reason in (*REASONS, None)


def test_reasons_come_from_the_verifier_on_misses_only(tmp_path, encoder):
    """A network that reads the structure channels (built here, untrained: this checks the plumbing, not the
    judgment) gives every miss a reason from REASONS or None, and no hit a reason."""
    import torch

    from verimap.encoder import DEFAULT_ENCODER
    from verimap.network import NetworkConfig, build_network
    from verimap.parse import PARSER_ID
    from verimap.simmap import CHANNELS
    from verimap.weights import Card, save

    torch.manual_seed(0)
    config = NetworkConfig(map_rows=16, map_cols=16, patch=8, dim=16, depth=1, heads=2, channels=CHANNELS)
    path = save(build_network(config), Card(DEFAULT_ENCODER, config, parser=PARSER_ID), tmp_path / "ch.safetensors")
    channels = Verifier(path, encoder=encoder)
    pairs = [(c, other) for _, c, para, miss in CACHE_CASES for other in (para, miss)]
    for threshold in (1.0, 0.0):
        verdicts = CacheGuard(channels, threshold=threshold).check_pairs(pairs)
        assert all(v.hit == (threshold == 0.0) for v in verdicts)
        assert all(v.reason in REASONS or v.reason is None for v in verdicts)
        assert all(v.reason is None for v in verdicts if v.hit)
    silent = CacheGuard(channels, threshold=1.0).check_pairs(pairs, reasons=False)
    assert all(v.reason is None for v in silent)


def test_unmatched_nouns_are_named_entity():
    assert reason_name("unmatched", ["PROPN", "NOUN"]) == "entity"
    assert reason_name("unmatched", ["NUM"]) == "number"
    assert reason_name("unmatched", ["NOUN", "VERB"]) == "unmatched"
    assert reason_name("unmatched", []) == "unmatched"
    assert reason_name("role", ["PROPN"]) == "role"


# -- judgment: what the shipped weights get wrong, recorded (strict: better weights make these fail) -----------------
@pytest.mark.parametrize("cached, paraphrase, near_miss", cache_cases(SHIPPED_PARAPHRASE_MISSED))
def test_a_paraphrase_is_a_hit(guard, cached, paraphrase, near_miss):
    assert guard.check(paraphrase, cached).hit


@pytest.mark.parametrize("cached, paraphrase, near_miss", cache_cases(SHIPPED_NEAR_MISS_HIT))
def test_a_near_miss_is_a_miss(guard, cached, paraphrase, near_miss):
    assert not guard.check(near_miss, cached).hit
