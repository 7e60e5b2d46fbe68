"""Why a verdict went the way it did: the structure channel whose disagreement drove the score down.

For one (query, document) pair the network is run once as is and once per structure channel with that channel's
disagreements turned into agreements (roles made equal, negation scopes made equal, numbers made equal, opposites
made neutral, heads made to match as well as the tokens do). The channel whose counterfactual raises the logit most
is the reason, named for people: ``role`` (who did what to whom), ``direction`` (a role that is a preposition's
object: from/to, before/after), ``negation``, ``number``, ``antonym``, ``attachment`` (a modifier on another head,
"red shirt" vs "red hat"). When no channel moves the logit by :data:`MIN_SHIFT`, but query words have no good match
in the document, the reason is ``unmatched``; otherwise there is none.

Each reason comes with the token pairs involved: the query tokens and their best-matching document tokens where the
channel disagrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from verimap.parse import CORE_ROLES
from verimap.simmap import PairBatch

MIN_SHIFT = 1.0  # logit units a counterfactual must gain to count as the reason
UNMATCHED_BELOW = 0.5  # best cosine under which a content word counts as unmatched
CONTENT_POS = {"NOUN", "PROPN", "VERB", "ADJ", "NUM", "ADV"}
NAMES = {"role": "role", "polarity": "negation", "number": "number", "antonym": "antonym", "head": "attachment"}


@dataclass(frozen=True)
class Reason:
    """:param name: ``role`` | ``direction`` | ``negation`` | ``number`` | ``antonym`` | ``attachment`` |
        ``unmatched``, or ``None`` when nothing stands out.
    :param tokens: ``(query token index, document token index)`` pairs involved (document index ``-1`` for an
        unmatched query token).
    :param shifts: per channel, how much the logit rises when its disagreements are removed.
    """

    name: str | None
    tokens: list[tuple[int, int]]
    shifts: dict[str, float]


def _agreeing(batch: PairBatch, channel: str) -> PairBatch:
    """``batch`` with ``channel``'s disagreements made agreements."""
    maps = batch.maps.clone()
    k = batch.channels.index(channel)
    q_tags, d_tags = batch.q_tags, batch.d_tags
    if channel in ("role", "polarity", "number"):
        maps[:, k] = maps[:, k].abs()  # -1 (disagree) → +1 (agree); 0 (no evidence) stays
        if channel == "polarity":  # the tags say it too
            q_tags, d_tags = q_tags.clone(), d_tags.clone()
            q_tags[:, 3] = 0
            d_tags[:, 3] = 0
        if channel == "role":
            q_tags, d_tags = q_tags.clone(), d_tags.clone()
            q_tags[:, 1] = 0
            d_tags[:, 1] = 0
    elif channel == "antonym":
        maps[:, k] = 0
    elif channel == "head":
        maps[:, k] = torch.maximum(maps[:, k], maps[:, 0])
    return PairBatch(maps, batch.mask, q_tags, d_tags, batch.pooled, batch.channels)


@torch.inference_mode()
def explain_batch(network, batch: PairBatch, q_pos: list[str], min_shift: float = MIN_SHIFT) -> Reason:
    """The reason for the verdict on the single pair in ``batch`` (``q_pos``: the query tokens' POS tags)."""
    base = float(network(batch)[0])
    shifts = {ch: float(network(_agreeing(batch, ch))[0]) - base for ch in batch.channels if ch in NAMES}
    cos = batch.maps[0, 0]
    valid = batch.mask[0]
    m = int(valid.any(1).sum())
    best = cos.masked_fill(~valid, -2).argmax(1)[:m]
    top = max(shifts, key=shifts.get) if shifts else None
    if top is not None and shifts[top] >= min_shift:
        k = batch.channels.index(top)
        plane = batch.maps[0, k]
        if top == "antonym":
            cells = [(int(i), int(j)) for i, j in (plane > 0).nonzero()]
        elif top == "head":
            cells = [(i, int(best[i])) for i in range(m) if float(plane[i, best[i]]) < float(cos[i, best[i]]) - 0.2]
        else:
            cells = [(i, int(best[i])) for i in range(m) if float(plane[i, best[i]]) < 0]
        name = NAMES[top]
        if top == "role" and cells and all(int(batch.q_tags[0, 1, i]) not in CORE_ROLES for i, _ in cells):
            name = "direction"  # the disagreeing roles are prepositions' objects: from/to, before/after ...
        return Reason(name, cells, shifts)
    unmatched = [
        (i, -1)
        for i in range(m)
        if float(cos[i, best[i]]) < UNMATCHED_BELOW and i < len(q_pos) and q_pos[i] in CONTENT_POS
    ]
    return Reason("unmatched" if unmatched else None, unmatched, shifts)
