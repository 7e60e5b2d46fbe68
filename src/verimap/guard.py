"""The semantic-cache guard: serve a cached answer only when the new prompt means what the cached prompt meant.

A semantic cache recalls cached prompts by embedding similarity and serves the answer of a close one. Cosine cannot
tell "How do I switch on dark mode?" from "How do I switch off dark mode?" (they share every word but one), so a
threshold on it serves wrong answers or misses paraphrases. :class:`CacheGuard` puts the verifier's judgment in front
of any such cache: :meth:`~CacheGuard.check` reads the pair in both directions (a cached prompt must say all the new
one asks *and* nothing else), combines the two probabilities and compares them with a threshold of its own.

>>> guard = CacheGuard()                        # the shipped verifier, the guard's threshold from its card
>>> verdict = guard.check("How do I switch on dark mode in the mail app?", "What is the capital of France?")
>>> verdict.hit
False

Rules, the same in every front door (LangChain's ``VerifiedSemanticCache``, Haystack's ``VerifiedCacheChecker``,
``verimap guard``):

- **score**: the verifier's calibrated probability for (new, cached) and for (cached, new), combined by the weights
  card's rule, ``card.extra["guard"]["symmetric"]``: ``mean`` (the default), ``min`` or ``max``.
- **threshold**: the one given, else the card's ``extra["guard"]["threshold"]`` (fitted on prompt–prompt dev
  data), else the verifier's own threshold (fitted for query–passage pairs, so a stand-in). ``hit`` is
  ``score >= threshold``.
- **identical prompts** are a hit with score 1.0, without running the network: the same text up to letter case and
  runs of white space, which the uncased encoder cannot see either (only the parser would, and it misreads
  mid-sentence capitals such as "Switch On" as names).
- **empty prompts**: a prompt with no visible character (``""``, whitespace, zero-width or control characters
  only) means nothing, so it is a miss with score 0.0 and reason ``empty``, never a hit (not even with another
  empty prompt). A prompt that is not a string (``None``) raises ``TypeError``; invalid Unicode (a lone surrogate)
  raises ``ValueError``.
- **long prompts** are cut at the encoder's length, with one :class:`~verimap.TruncationWarning` per call.
- **reason** (misses only; ``None`` on hits): what the verifier says went wrong in the direction that scored
  lower, one of :data:`REASONS` or ``None`` when it cannot tell (see :func:`reason_name`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from verimap.errors import WeightsError
from verimap.inputs import check_texts, check_threshold, check_unicode, has_visible_text
from verimap.policy import verdict

if TYPE_CHECKING:  # imported lazily: the module is cheap to import, the verifier is not
    from verimap.encoder import Encoded
    from verimap.verifier import Verifier

__all__ = ["COMBINE", "REASONS", "CacheGuard", "Verdict", "guard_settings", "reason_name"]

COMBINE: dict[str, Callable[[float, float], float]] = {"mean": lambda a, b: (a + b) / 2, "min": min, "max": max}
"""How the two directions' probabilities become one score (the card's ``extra["guard"]["symmetric"]``)."""

REASONS = (
    "negation",
    "direction",
    "role",
    "number",
    "entity",
    "antonym",
    "attachment",
    "unmatched",
    "empty",
)
"""Every reason a miss can carry: the verifier's (:mod:`verimap.reasons`: ``negation``, ``direction``, ``role``,
``number``, ``antonym``, ``attachment``, ``unmatched``), ``entity`` (words of the new prompt with no counterpart that
are all nouns or names: another thing, place or product) and ``empty`` (a prompt with nothing to read)."""

ENTITY_POS = frozenset({"NOUN", "PROPN"})


@dataclass(frozen=True)
class Verdict:
    """The guard's answer for one (new prompt, cached prompt) pair.

    :param hit: serve the cached answer: ``score`` reached the guard's threshold.
    :param score: the calibrated probability that the two prompts mean the same, both directions combined.
    :param reason: on a miss, the kind of mismatch (one of :data:`REASONS`) when the verifier can tell, else ``None``;
        always ``None`` on a hit.
    """

    hit: bool
    score: float
    reason: str | None = None


def reason_name(reason: str | None, unmatched_pos: Sequence[str] = ()) -> str | None:
    """The guard's name for a verifier reason (:attr:`verimap.Explanation.reason`).

    ``unmatched`` (words of one prompt with no good match in the other) is made precise from the universal POS tags
    of those words, ``unmatched_pos``: all nouns or proper nouns → ``entity`` ("on my iPhone" / "on my Android
    phone"), all numbers → ``number``; otherwise it stays ``unmatched``. Every other reason is kept.

    >>> reason_name("unmatched", ["PROPN"]), reason_name("unmatched", ["NUM"]), reason_name("unmatched", ["VERB"])
    ('entity', 'number', 'unmatched')
    >>> reason_name("negation"), reason_name(None)
    ('negation', None)
    """
    if reason == "unmatched" and unmatched_pos:
        tags = set(unmatched_pos)
        if tags <= ENTITY_POS:
            return "entity"
        if tags == {"NUM"}:
            return "number"
    return reason


def guard_settings(card: Any, source: str = "weights card") -> dict[str, Any]:
    """The card's ``extra["guard"]`` section, checked: ``{"threshold": float (optional), "symmetric": rule}``.

    A missing section gives ``{"symmetric": "mean"}``; a bad one raises :class:`~verimap.WeightsError`.
    """
    raw = card.extra.get("guard")
    if raw is None:
        return {"symmetric": "mean"}
    if not isinstance(raw, dict):
        raise WeightsError(f"{source}: 'guard' must be an object, got {raw!r}")
    out: dict[str, Any] = {"symmetric": raw.get("symmetric", "mean")}
    if out["symmetric"] not in COMBINE:
        raise WeightsError(f"{source}: guard.symmetric must be one of {sorted(COMBINE)}, got {out['symmetric']!r}")
    if "threshold" in raw:
        try:
            out["threshold"] = check_threshold(raw["threshold"], "guard.threshold")
        except ValueError as exc:
            raise WeightsError(f"{source}: {exc}") from None
        if out["threshold"] is None:
            del out["threshold"]
    return out


def _folded(text: str) -> str:
    """``text`` as the uncased encoder reads it: case-folded, white space collapsed."""
    return " ".join(text.casefold().split())


def _prompt(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return check_unicode(value, name)


class CacheGuard:
    """Decides whether a cached prompt's answer may be served for a new prompt.

    :param verifier: the :class:`~verimap.Verifier` that reads the pairs; ``None`` for the process-wide shipped one
        (:func:`verimap.shared.shared_verifier`).
    :param threshold: the hit threshold on the combined probability, in [0, 1]; ``None`` for the card's guard
        threshold, else the verifier's threshold.

    A guard holds no state but its settings: one instance may serve many threads.
    """

    def __init__(self, verifier: Verifier | None = None, threshold: float | None = None) -> None:
        from verimap.verifier import Verifier

        if verifier is None:
            from verimap.shared import shared_verifier

            verifier = shared_verifier()
        if not isinstance(verifier, Verifier):
            raise TypeError(f"verifier must be a verimap.Verifier, got {type(verifier).__name__}")
        self.verifier = verifier
        settings = guard_settings(verifier.card)
        self.symmetric: str = settings["symmetric"]
        given = check_threshold(threshold)
        if given is not None:
            self.threshold, self.threshold_source = given, "given"
        elif "threshold" in settings:
            self.threshold, self.threshold_source = settings["threshold"], "guard card"
        else:
            mine = verifier.threshold != verifier.card.threshold  # a Verifier(threshold=...) of the caller's
            self.threshold, self.threshold_source = verifier.threshold, "verifier" if mine else "verifier card"

    def __repr__(self) -> str:
        return f"CacheGuard(threshold={self.threshold:.4g} ({self.threshold_source}), symmetric={self.symmetric!r})"

    def check(self, new_prompt: str, cached_prompt: str) -> Verdict:
        """The verdict for serving ``cached_prompt``'s answer to ``new_prompt``."""
        pair = (_prompt(new_prompt, "new_prompt"), _prompt(cached_prompt, "cached_prompt"))
        return self.check_pairs([pair])[0]

    def check_many(
        self, new_prompt: str, cached_prompts: Sequence[str], *, reasons: bool = True, warn: bool = True
    ) -> list[Verdict]:
        """One verdict per cached prompt, in their order, from one batched verifier call.

        :param reasons: name the reason of each miss (a few extra network passes per miss); ``False`` leaves every
            ``reason`` ``None`` except ``empty``.
        :param warn: emit the :class:`~verimap.TruncationWarning` for prompts cut at the encoder's length
            (``False`` for a caller that has already encoded, and warned about, the same texts).
        """
        new_prompt = _prompt(new_prompt, "new_prompt")
        cached_prompts = check_texts(cached_prompts, "cached_prompts")
        return self.check_pairs([(new_prompt, c) for c in cached_prompts], reasons=reasons, warn=warn)

    def best(self, new_prompt: str, cached_prompts: Sequence[str], *, warn: bool = True) -> tuple[int, Verdict] | None:
        """The hit to serve: ``(index, verdict)`` of the highest-scoring cached prompt that is a hit (the first
        on ties), or ``None`` when none is. ``warn`` as in :meth:`check_many`."""
        verdicts = self.check_many(new_prompt, cached_prompts, reasons=False, warn=warn)
        hits = [i for i, v in enumerate(verdicts) if v.hit]
        if not hits:
            return None
        i = max(hits, key=lambda i: (verdicts[i].score, -i))
        return i, verdicts[i]

    def check_pairs(
        self, pairs: Sequence[tuple[str, str]], *, reasons: bool = True, warn: bool = True
    ) -> list[Verdict]:
        """One verdict per ``(new prompt, cached prompt)`` pair, in order, from one batched verifier call (every
        distinct text encoded once, so prompts cut at the encoder's length give one warning). ``reasons`` and
        ``warn`` as in :meth:`check_many`."""
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
            raise TypeError(f"pairs must be a list of (new prompt, cached prompt) pairs, got {type(pairs).__name__}")
        checked = []
        for i, pair in enumerate(pairs):
            if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise TypeError(f"pairs[{i}] must be a (new prompt, cached prompt) pair")
            checked.append((_prompt(pair[0], f"pairs[{i}] new prompt"), _prompt(pair[1], f"pairs[{i}] cached prompt")))
        out: list[Verdict | None] = [None] * len(checked)
        todo = []
        for i, (new, cached) in enumerate(checked):
            if not has_visible_text(new) or not has_visible_text(cached):
                out[i] = Verdict(False, 0.0, "empty")
            elif _folded(new) == _folded(cached):
                out[i] = Verdict(True, 1.0, None)
            else:
                todo.append(i)
        if todo:
            unique = list(dict.fromkeys(t for i in todo for t in checked[i]))
            enc = dict(zip(unique, self.verifier.encoder.encode(unique, warn=warn)))
            forward = [(enc[checked[i][0]], enc[checked[i][1]]) for i in todo]
            # A symmetric network already reads both directions: the second pass would repeat the first.
            backward = [] if self.verifier.card.symmetric else [(c, n) for n, c in forward]
            scores = self.verifier._score_encoded(forward + backward)
            combine = COMBINE[self.symmetric]
            for k, i in enumerate(todo):
                there = scores[k]
                back = scores[len(forward) + k] if backward else there
                score = float(combine(there, back))
                hit = verdict(score, self.threshold)
                why = None
                if not hit and reasons:
                    why = self._reason(*(forward[k] if there <= back else forward[k][::-1]))
                out[i] = Verdict(hit, score, why)
        return out  # type: ignore[return-value]

    def _reason(self, first: Encoded, second: Encoded) -> str | None:
        """Why ``second`` does not say what ``first`` says (the direction that scored lower)."""
        from verimap.parse import POS

        name, tokens = self.verifier._reason(first, second)
        pos = [] if first.parse is None else [POS[first.parse.pos[i]] for i, _ in tokens if i < len(first.parse)]
        return reason_name(name, pos)
