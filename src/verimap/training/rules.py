"""Perturbation rules: turn a sentence into a structural near-miss of itself, recording the kind.

Each rule returns ``None`` when it does not apply, so a sentence only yields near-misses a person would call
real (a swap needs two things to swap, a negation needs an auxiliary to negate). Rules work on whitespace
tokens and keep everything else of the sentence as it was.

>>> from verimap.training.rules import perturb
>>> perturb("The man bit the dog .", "role_swap")
'The dog bit the man.'
>>> perturb("Flights from Paris to Rome are cheap .", "direction")
'Flights from Rome to Paris are cheap.'
>>> perturb("The drug is effective .", "negation")
'The drug is not effective.'
"""

from __future__ import annotations

import random
import re

AUX = {
    "is",
    "are",
    "was",
    "were",
    "can",
    "will",
    "does",
    "do",
    "did",
    "has",
    "have",
    "had",
    "should",
    "could",
    "would",
    "may",
    "must",
    "might",
}
DETERMINERS = {"the", "a", "an", "his", "her", "their", "its", "this", "that"}
PAIRS = {
    "temporal": [
        ("before", "after"),
        ("earlier", "later"),
        ("first", "last"),
        ("increase", "decrease"),
        ("increased", "decreased"),
        ("increases", "decreases"),
        ("start", "end"),
        ("began", "ended"),
    ],
    "spatial": [
        ("above", "below"),
        ("left", "right"),
        ("inside", "outside"),
        ("under", "over"),
        ("behind", "in front of"),
        ("north", "south"),
        ("east", "west"),
        ("up", "down"),
        ("into", "out of"),
    ],
    "comparative": [
        ("more", "less"),
        ("higher", "lower"),
        ("larger", "smaller"),
        ("bigger", "smaller"),
        ("older", "younger"),
        ("longer", "shorter"),
        ("faster", "slower"),
        ("better", "worse"),
        ("most", "least"),
        ("greater", "lesser"),
        ("taller", "shorter"),
    ],
    "antonym": [
        ("large", "small"),
        ("big", "small"),
        ("high", "low"),
        ("old", "young"),
        ("open", "closed"),
        ("hot", "cold"),
        ("full", "empty"),
        ("wet", "dry"),
        ("positive", "negative"),
        ("early", "late"),
        ("win", "lose"),
        ("won", "lost"),
        ("buy", "sell"),
        ("bought", "sold"),
        ("accept", "reject"),
        ("accepted", "rejected"),
        ("allow", "forbid"),
        ("allowed", "banned"),
        ("black", "white"),
        ("long", "short"),
        ("fast", "slow"),
        ("strong", "weak"),
        ("rich", "poor"),
        ("happy", "sad"),
        ("present", "absent"),
        ("inhibits", "promotes"),
        ("reduces", "increases"),
        ("male", "female"),
        ("men", "women"),
        ("man", "woman"),
        ("boy", "girl"),
        ("day", "night"),
    ],
}
NUMBER_WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "twenty"]
KINDS = ("negation", "role_swap", "direction", "number", "entity_swap", "temporal", "spatial", "comparative", "antonym")


def _swap_words(tokens: list[str], table: list[tuple[str, str]], rng: random.Random) -> list[str] | None:
    text = " " + " ".join(tokens) + " "
    lower = text.lower()
    options = []
    for a, b in table:
        for src, dst in ((a, b), (b, a)):
            if f" {src} " in lower:
                options.append((src, dst))
    if not options:
        return None
    src, dst = rng.choice(options)
    i = lower.index(f" {src} ")
    original = text[i + 1 : i + 1 + len(src)]
    dst = dst.capitalize() if original[:1].isupper() else dst
    return (text[: i + 1] + dst + text[i + 1 + len(src) :]).strip().split(" ")


def negation(tokens: list[str], rng: random.Random) -> list[str] | None:
    low = [t.lower() for t in tokens]
    for i, t in enumerate(low):  # remove an existing negation: the meaning flips
        if t in {"not", "n't", "never"} and i > 0:
            return tokens[:i] + tokens[i + 1 :]
        if t.endswith("n't") and len(t) > 3:
            return tokens[:i] + [tokens[i][:-3]] + tokens[i + 1 :]
    aux = [i for i, t in enumerate(low) if t in AUX and i + 1 < len(tokens)]
    if not aux:
        return None
    i = aux[0]
    return tokens[: i + 1] + ["not"] + tokens[i + 1 :]


STOP = {
    "of",
    "with",
    "in",
    "on",
    "at",
    "to",
    "for",
    "from",
    "by",
    "and",
    "or",
    "is",
    "are",
    "was",
    "were",
    "that",
    "which",
    "who",
    "while",
    "near",
    "under",
    "over",
    "behind",
    "into",
    "has",
    "have",
    "had",
    "as",
    "than",
}
# Irregular past forms end a noun phrase too ("the man bit the dog"); regular verbs are caught by suffix.
VERBS = {
    "bit",
    "ate",
    "saw",
    "hit",
    "took",
    "gave",
    "made",
    "held",
    "caught",
    "beat",
    "threw",
    "drove",
    "rode",
    "met",
    "led",
    "fed",
    "left",
    "found",
    "told",
    "sent",
    "brought",
    "bought",
    "sold",
    "won",
    "lost",
    "paid",
    "wrote",
    "read",
    "ran",
    "sat",
    "stood",
    "kept",
    "taught",
    "fought",
    "chose",
    "hid",
    "shot",
    "struck",
    "bites",
    "eats",
    "sees",
    "hits",
    "takes",
    "gives",
    "holds",
    "catches",
    "beats",
    "throws",
    "drives",
    "rides",
    "meets",
    "leads",
    "feeds",
    "finds",
    "tells",
    "sends",
    "loves",
    "hates",
    "follows",
    "pushes",
    "pulls",
    "kicks",
    "chases",
    "carries",
    "watches",
    "helps",
    "likes",
    "visits",
    "calls",
    "kill",
    "kills",
    "killed",
    "will",
    "can",
    "did",
    "does",
    "do",
}


def _phrase_heads(tokens: list[str]) -> list[int]:
    """Index of the last word of each determiner phrase ("the old man" → "man")."""
    heads = []
    low = [t.lower() for t in tokens]
    for i, t in enumerate(low):
        if t not in DETERMINERS:
            continue
        j = i + 1
        while (
            j < len(tokens)
            and re.fullmatch(r"[A-Za-z-]+", tokens[j])
            and low[j] not in STOP | DETERMINERS | VERBS
            and not (j > i + 1 and low[j].endswith(("ing", "ed")))
            and not (j > i + 1 and low[j].endswith("s") and j + 1 < len(tokens) and low[j + 1] in STOP | DETERMINERS)
        ):
            j += 1
        if j > i + 1:
            heads.append(j - 1)
    return heads


def role_swap(tokens: list[str], rng: random.Random) -> list[str] | None:
    """Swap the heads of the first and last determiner phrases: "the man bit the dog" → "the dog bit the man"."""
    heads = _phrase_heads(tokens)
    if len(heads) < 2:
        return None
    i, j = heads[0], heads[-1]
    if tokens[i].lower() == tokens[j].lower():
        return None
    out = list(tokens)
    out[i], out[j] = tokens[j], tokens[i]
    return out


def direction(tokens: list[str], rng: random.Random) -> list[str] | None:
    text = " ".join(tokens)
    m = re.search(r"\bfrom ((?:[A-Z][\w-]*)(?: [A-Z][\w-]*)*) to ((?:[A-Z][\w-]*)(?: [A-Z][\w-]*)*)", text)
    if not m or m.group(1) == m.group(2):
        return None
    return (text[: m.start()] + f"from {m.group(2)} to {m.group(1)}" + text[m.end() :]).split(" ")


def number(tokens: list[str], rng: random.Random) -> list[str] | None:
    idx = [i for i, t in enumerate(tokens) if re.fullmatch(r"\d+(\.\d+)?", t) or t.lower() in NUMBER_WORDS]
    if not idx:
        return None
    i = rng.choice(idx)
    t = tokens[i]
    if t.lower() in NUMBER_WORDS:
        new = rng.choice([w for w in NUMBER_WORDS if w != t.lower()])
        new = new.capitalize() if t[:1].isupper() else new
    elif "." in t:
        new = f"{float(t) * rng.choice([0.5, 2, 3, 10]):.{len(t.split('.')[1])}f}"
    else:
        v = int(t)
        new = str(rng.choice([v + rng.randint(1, 9), max(0, v - rng.randint(1, 9)), v * 2, v * 10]))
        if new == t:
            new = str(v + 1)
    return tokens[:i] + [new] + tokens[i + 1 :]


def entity_swap(tokens: list[str], rng: random.Random) -> list[str] | None:
    """Swap two different capitalised names that are not sentence-initial."""
    idx = [i for i, t in enumerate(tokens) if i > 0 and re.fullmatch(r"[A-Z][a-z]{2,}", t)]
    names = {tokens[i] for i in idx}
    if len(names) < 2:
        return None
    i = idx[0]
    j = next(k for k in idx if tokens[k] != tokens[i])
    out = list(tokens)
    out[i], out[j] = tokens[j], tokens[i]
    return out


RULES = {
    "negation": negation,
    "role_swap": role_swap,
    "direction": direction,
    "number": number,
    "entity_swap": entity_swap,
    **{kind: (lambda table: lambda toks, rng: _swap_words(toks, table, rng))(PAIRS[kind]) for kind in PAIRS},
}


def perturb(sentence: str, kind: str, rng: random.Random | None = None) -> str | None:
    """Apply one rule; ``None`` if it does not apply or would leave the sentence unchanged."""
    rng = rng or random.Random(0)
    # Split punctuation off words so "dog." is seen as "dog"; glue it back afterwards.
    tokens = re.findall(r"[\w'-]+|[^\w\s]", sentence)
    out = RULES[kind](tokens, rng)
    if out is None:
        return None
    result = re.sub(r" ([.,;:!?)])", r"\1", re.sub(r"([(]) ", r"\1", " ".join(out)))
    return None if result == sentence else result


def any_perturbation(sentence: str, rng: random.Random) -> tuple[str, str] | None:
    """One applicable rule chosen at random: ``(near-miss, kind)``."""
    kinds = list(KINDS)
    rng.shuffle(kinds)
    for kind in kinds:
        out = perturb(sentence, kind, rng)
        if out is not None:
            return out, kind
    return None


def case_and_stop_edit(sentence: str) -> str:
    """Flip the first letter's case and drop the final full stop: a surface edit that cannot change meaning."""
    s = sentence.rstrip(".").rstrip()
    return (s[0].lower() + s[1:]) if s[:1].isupper() else (s[:1].upper() + s[1:])


# -- same-meaning rewrites (positives that change the surface, so overlap alone cannot decide) -------------------
def question_form(sentence: str) -> str | None:
    """Front the first auxiliary: "The drug is effective." → "Is the drug effective?" (a query for the statement)."""
    tokens = re.findall(r"[\w'-]+|[^\w\s]", sentence)
    low = [t.lower() for t in tokens]
    aux = [i for i, t in enumerate(low) if t in AUX and 0 < i < len(tokens) - 1]
    # Only simple sentences: the auxiliary is near the start and belongs to the main clause.
    if not aux or aux[0] > 6 or len(tokens) > 30 or any(t in {"?", ";", ","} for t in tokens[: aux[0]]):
        return None
    i = aux[0]
    rest = tokens[:i] + tokens[i + 1 :]
    while rest and rest[-1] in {".", "!"}:
        rest = rest[:-1]
    if not rest:
        return None
    if low[0] in DETERMINERS | {"it", "there", "we", "they", "he", "she"}:
        rest[0] = rest[0].lower()  # a common word loses its capital; names keep theirs
    out = [tokens[i].capitalize()] + rest + ["?"]
    return re.sub(r" ([.,;:!?)])", r"\1", " ".join(out))


# Past forms → base forms for "did"-questions ("The man bit the dog." → "Did the man bite the dog?").
LEMMAS = {
    "bit": "bite",
    "ate": "eat",
    "saw": "see",
    "hit": "hit",
    "took": "take",
    "gave": "give",
    "made": "make",
    "held": "hold",
    "caught": "catch",
    "beat": "beat",
    "threw": "throw",
    "drove": "drive",
    "rode": "ride",
    "met": "meet",
    "led": "lead",
    "fed": "feed",
    "left": "leave",
    "found": "find",
    "told": "tell",
    "sent": "send",
    "brought": "bring",
    "bought": "buy",
    "sold": "sell",
    "won": "win",
    "lost": "lose",
    "paid": "pay",
    "wrote": "write",
    "ran": "run",
    "sat": "sit",
    "stood": "stand",
    "kept": "keep",
    "taught": "teach",
    "fought": "fight",
    "chose": "choose",
    "hid": "hide",
    "shot": "shoot",
    "struck": "strike",
    "wore": "wear",
    "drank": "drink",
    "swam": "swim",
    "flew": "fly",
    "grew": "grow",
    "knew": "know",
    "began": "begin",
    "broke": "break",
    "spoke": "speak",
    "stole": "steal",
    "got": "get",
    "went": "go",
    "came": "come",
    "became": "become",
    "built": "build",
    "felt": "feel",
    "heard": "hear",
}
REGULAR_PAST = re.compile(r"^[a-z]{3,}ed$")


def _base_form(verb: str) -> str | None:
    low = verb.lower()
    if low in LEMMAS:
        return LEMMAS[low]
    if REGULAR_PAST.match(low) and not low.endswith("eed"):  # need, speed, breed are not past forms
        stem = low[:-2]
        if stem.endswith(("at", "iv", "ov", "ir", "ur", "as", "os", "ik", "ak", "ok", "uc", "id", "ad", "ag", "ar")):
            return stem + "e"  # chased → chase, loved → love (a heuristic; wrong forms only cost one noisy row)
        if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "ls":
            return stem[:-1]  # stopped → stop
        if stem.endswith("i"):
            return stem[:-1] + "y"  # carried → carry
        return stem
    return None


def did_question(sentence: str) -> str | None:
    """ "The man bit the dog." → "Did the man bite the dog?" (the first past-tense verb after the subject)."""
    tokens = re.findall(r"[\w'-]+|[^\w\s]", sentence)
    low = [t.lower() for t in tokens]
    if len(tokens) > 30 or any(t in AUX or t in {"?", ";"} for t in low):
        return None
    for i in range(1, min(len(tokens) - 1, 6)):
        base = _base_form(tokens[i])
        if base is None or any(t in {","} for t in tokens[:i]):
            continue
        subject = tokens[:i]
        if subject[0].lower() in DETERMINERS | {"it", "there", "we", "they", "he", "she"}:
            subject = [subject[0].lower()] + subject[1:]
        rest = [t for t in tokens[i + 1 :] if t not in {".", "!"}]
        return re.sub(r" ([.,;:!?)])", r"\1", " ".join(["Did", *subject, base, *rest, "?"]))
    return None


def wh_question(sentence: str) -> str | None:
    """ "Germany beat Brazil in the final." → "Who beat Brazil in the final?" (subject replaced by who/what)."""
    tokens = re.findall(r"[\w'-]+|[^\w\s]", sentence)
    low = [t.lower() for t in tokens]
    if len(tokens) > 30 or "?" in tokens:
        return None
    for i in range(1, min(len(tokens) - 1, 5)):
        if low[i] in VERBS - {"will", "can", "did", "does", "do"} or _base_form(tokens[i]) or low[i] in {"is", "was"}:
            if any(t in {",", "and", "or"} for t in low[:i]):
                return None
            wh = (
                "Who"
                if tokens[0][:1].isupper()
                and low[0] not in DETERMINERS
                or low[i - 1]
                in {"man", "woman", "men", "women", "boy", "girl", "person", "people", "child", "team", "player"}
                else "What"
            )
            rest = [t for t in tokens[i:] if t not in {".", "!"}]
            return re.sub(r" ([.,;:!?)])", r"\1", " ".join([wh, *rest, "?"]))
    return None


def changed_words(text: str, foil: str) -> set[str]:
    """Lower-cased words of ``text`` that the foil removed or moved (by position-insensitive multiset diff,
    plus the words whose position changed for same-bag swaps)."""
    a = re.findall(r"\w+", text.lower())
    b = re.findall(r"\w+", foil.lower())
    from collections import Counter

    gone = set((Counter(a) - Counter(b)).elements())
    added = set((Counter(b) - Counter(a)).elements())
    if not gone and not added:  # same bag of words: a swap; every word whose slot changed
        gone = {x for x, y in zip(a, b) if x != y}
    return gone | ({w for w in a if w in added} if added else set())


def fragment(text: str, keep: set[str], rng: random.Random) -> str | None:
    """A query-like fragment of ``text``: a contiguous window of 4+ words that contains every word in ``keep``
    (so a near-miss that changed those words is still a near-miss of the fragment). ``None`` when the window
    would be the whole text."""
    words = text.rstrip(".").split()
    idx = [i for i, w in enumerate(words) if re.sub(r"\W", "", w.lower()) in keep]
    if not idx:
        return None
    lo, hi = min(idx), max(idx)
    lo = max(0, lo - rng.randint(1, 3))
    hi = min(len(words) - 1, hi + rng.randint(1, 3))
    if hi - lo + 1 < 4 or (lo == 0 and hi == len(words) - 1):
        return None
    return " ".join(words[lo : hi + 1])
