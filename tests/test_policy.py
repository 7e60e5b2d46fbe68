from __future__ import annotations

import pytest

from verimap.policy import apply_policy


def test_rerank_sorts_and_rejects_below_threshold():
    kept, rejected = apply_policy([0.2, 0.9, 0.6], mode="rerank", threshold=0.5)
    assert [r.index for r in kept] == [1, 2]
    assert [r.index for r in rejected] == [0]
    assert all(r.accepted for r in kept) and not rejected[0].accepted


def test_filter_keeps_incoming_order():
    kept, _ = apply_policy([0.7, 0.9, 0.1, 0.8], mode="filter", threshold=0.5)
    assert [r.index for r in kept] == [0, 1, 3]


def test_threshold_is_applied_before_top_k():
    # top_k=2 must return the two best *accepted* documents, and the cut by top_k is not "rejected".
    kept, rejected = apply_policy([0.9, 0.4, 0.8, 0.7], mode="rerank", threshold=0.75, top_k=2)
    assert [r.index for r in kept] == [0, 2]
    assert [r.index for r in rejected] == [3, 1]


def test_fuse_mixes_prior_and_verifier():
    kept, _ = apply_policy([0.6, 0.6], mode="fuse", prior_scores=[0.1, 0.9], fuse_weight=0.5)
    assert [r.index for r in kept] == [1, 0]
    assert kept[0].score == pytest.approx(0.5 * 0.6 + 0.5 * 1.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "sort"}, "mode must be one of"),
        ({"threshold": 1.5}, "threshold must be a number in"),
        ({"threshold": -0.1}, "threshold must be a number in"),
        ({"top_k": 0}, "top_k must be a positive integer"),
        ({"top_k": -3}, "top_k must be a positive integer"),
        ({"mode": "fuse"}, "fuse mode needs one prior score"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        apply_policy([0.5], **kwargs)


def test_top_k_larger_than_list_and_empty_list():
    kept, _ = apply_policy([0.9], top_k=10)
    assert len(kept) == 1
    assert apply_policy([], top_k=3) == ([], [])
