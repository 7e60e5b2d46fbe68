from __future__ import annotations

import pytest

from verimap import Ranking, RankResult
from verimap.policy import MODES, Mode, apply_policy, prior_from_incoming, verdict


def test_rerank_sorts_and_rejects_below_threshold():
    ranking = apply_policy([0.2, 0.9, 0.6], mode="rerank", threshold=0.5)
    assert [r.index for r in ranking.kept] == [1, 2]
    assert [r.index for r in ranking.rejected] == [0]
    assert all(r.accepted for r in ranking.kept) and not ranking.rejected[0].accepted


def test_filter_keeps_incoming_order():
    ranking = apply_policy([0.7, 0.9, 0.1, 0.8], mode="filter", threshold=0.5)
    assert [r.index for r in ranking] == [0, 1, 3]


def test_threshold_is_applied_before_top_k():
    # top_k=2 must return the two best *accepted* documents, and the cut by top_k is not "rejected".
    ranking = apply_policy([0.9, 0.4, 0.8, 0.7], mode="rerank", threshold=0.75, top_k=2)
    assert [r.index for r in ranking.kept] == [0, 2]
    assert [r.index for r in ranking.rejected] == [3, 1]
    assert ranking.n_accepted == 2


def test_fuse_mixes_prior_and_verifier():
    ranking = apply_policy([0.6, 0.6], mode="fuse", prior_scores=[0.1, 0.9], fuse_weight=0.5)
    assert [r.index for r in ranking] == [1, 0]
    assert ranking[0].score == pytest.approx(0.5 * 0.6 + 0.5 * 1.0)


def test_one_default_mode_for_the_policy_and_the_verifier():
    import inspect

    from verimap import Verifier

    assert inspect.signature(apply_policy).parameters["mode"].default == "fuse"
    assert inspect.signature(Verifier.rank).parameters["mode"].default == "fuse"
    assert MODES == Mode.__args__


def test_fuse_without_a_threshold_drops_nothing_but_reports_verdicts():
    """The rule lives in the policy: the verifier's own threshold gives the verdicts, fuse does not act on them."""
    ranking = apply_policy([0.9, 0.1, 0.5], prior_scores=[0.0, 1.0, 0.5], default_threshold=0.4)
    assert len(ranking) == 3 and ranking.rejected == []
    assert {r.index: r.accepted for r in ranking} == {0: True, 1: False, 2: True}
    assert ranking.n_accepted == 2
    strict = apply_policy([0.9, 0.1, 0.5], prior_scores=[0.0, 1.0, 0.5], threshold=0.4, default_threshold=0.99)
    assert [r.index for r in strict.rejected] == [1] and all(r.accepted for r in strict)


@pytest.mark.parametrize("mode", ["rerank", "filter"])
def test_rerank_and_filter_drop_under_the_default_threshold(mode):
    ranking = apply_policy([0.9, 0.1, 0.5], mode=mode, default_threshold=0.4)
    assert sorted(r.index for r in ranking) == [0, 2] and [r.index for r in ranking.rejected] == [1]


def test_a_ranking_reads_as_its_kept_list():
    kept = [RankResult(2, 0.9, 0.9, True), RankResult(0, 0.5, 0.5, True)]
    ranking = Ranking(kept, [RankResult(1, 0.1, 0.1, False)], 2)
    assert list(ranking) == kept and len(ranking) == 2 and ranking[0].index == 2 and bool(ranking)
    assert not Ranking()


def test_verdict_is_the_one_meaning_of_accepted():
    assert verdict(0.5, 0.5) and not verdict(0.49, 0.5) and verdict(0.0, None)


@pytest.mark.parametrize(
    "scores, score_type, expected",
    [
        ([0.9, 0.2], "similarity", [0.9, 0.2]),
        ([0.1, 0.4], "distance", [-0.1, -0.4]),  # lower is better: negated, so the prior is higher-is-better
        ([0.9, None], "similarity", None),  # one document without a score: MaxSim for the whole list
        ([0.9, float("nan")], "similarity", None),
        ([0.9, float("inf")], "distance", None),
        ([0.9, True], "similarity", None),
        ([0.9, "0.5"], "similarity", None),
        ([], "similarity", None),
    ],
)
def test_prior_from_incoming_has_one_rule(scores, score_type, expected):
    assert prior_from_incoming(scores, score_type=score_type) == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "sort"}, "mode must be one of"),
        ({"threshold": 1.5}, "threshold must be a number in"),
        ({"threshold": -0.1}, "threshold must be a number in"),
        ({"default_threshold": 2.0}, "default_threshold must be a number in"),
        ({"top_k": 0}, "top_k must be a positive integer"),
        ({"top_k": -3}, "top_k must be a positive integer"),
        ({"mode": "fuse"}, "fuse mode needs one prior score"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        apply_policy([0.5], **kwargs)


def test_top_k_larger_than_list_and_empty_list():
    assert len(apply_policy([0.9], mode="rerank", top_k=10)) == 1
    assert apply_policy([], prior_scores=[], top_k=3) == Ranking([], [], 0)
