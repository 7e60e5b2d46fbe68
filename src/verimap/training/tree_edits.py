"""Minimal pairs made by editing the dependency tree, not the string.

Near-misses (meaning changes): swap the subject and object subtrees ("the man bit the dog" → "the dog bit the man",
also in the passive and around "than"), swap two nouns' adjectives (attribute binding), put a negation on the main
verb or take it off, swap the objects of two prepositions of one head ("from Paris to Rome" → "from Rome to Paris").
Same-meaning edits (positives): active ↔ passive, reordering a symmetric "A and B" of nouns, fronting a trailing
adverbial phrase or clause. Each edit returns ``None`` where it does not apply cleanly, so what comes out reads as
English; every pair records its kind. Word forms come from ``lemminflect`` (training-only dependency).

>>> from verimap.training.tree_edits import edits_of
>>> from verimap.parse import load_spacy
>>> doc = load_spacy()("The man bit the dog.")
>>> sorted(edits_of(doc).items())                                     # doctest: +NORMALIZE_WHITESPACE
[('negation', 'The man did not bite the dog.'), ('passive', 'The dog was bitten by the man.'),
 ('role_swap', 'The dog bit the man.')]
"""

from __future__ import annotations

import re

SUBJECT_PRONOUNS = {"i": "me", "he": "him", "she": "her", "we": "us", "they": "them"}
OBJECT_PRONOUNS = {v: k for k, v in SUBJECT_PRONOUNS.items()}
OBJECT_PRONOUNS["her"] = "she"
KEEP_CASE_POS = {"PROPN"}
NON_SWAPPABLE_PREPS = {"of", "than", "by", "like", "as", "out"}
NEGATABLE_AUX = {
    "is",
    "are",
    "was",
    "were",
    "am",
    "can",
    "could",
    "will",
    "would",
    "should",
    "may",
    "might",
    "must",
    "has",
    "have",
    "had",
    "does",
    "do",
    "did",
    "shall",
}
CONTRACTED = {"ca": "can", "wo": "will", "sha": "shall"}
NEGATED_AUX = {
    "do": "don't",
    "does": "doesn't",
    "did": "didn't",
    "can": "can't",
    "could": "couldn't",
    "will": "won't",
    "would": "wouldn't",
    "should": "shouldn't",
    "is": "isn't",
    "are": "aren't",
    "was": "wasn't",
    "were": "weren't",
    "has": "hasn't",
    "have": "haven't",
    "had": "hadn't",
    "must": "mustn't",
}
STATIVE = {
    "have",
    "be",
    "get",
    "lack",
    "resemble",
    "contain",
    "cost",
    "weigh",
    "fit",
    "suit",
    "mean",
    "become",
    "seem",
    "include",
    "involve",
    "equal",
    "own",
    "possess",
}  # their passives are not English
SWAPPABLE_PREPS = {
    "from",
    "to",
    "into",
    "onto",
    "toward",
    "towards",
    "for",
    "with",
    "against",
    "over",
    "under",
    "above",
    "below",
    "behind",
    "near",
    "before",
    "after",
    "in",
    "on",
    "at",
    "beside",
    "inside",
    "outside",
    "across",
    "through",
}
FRONTABLE_PREPS = {
    "in",
    "on",
    "near",
    "after",
    "before",
    "during",
    "since",
    "until",
    "behind",
    "under",
    "above",
    "below",
    "inside",
    "outside",
    "beside",
    "across",
    "along",
    "around",
    "throughout",
    "at",
}
PART_NOUNS = {"top", "front", "side", "edge", "middle", "bottom", "back", "part", "end", "center", "centre", "corner"}


def _inflect(lemma: str, tag: str) -> str | None:
    from lemminflect import getInflection

    forms = getInflection(lemma, tag)
    return forms[0] if forms else None


def _lemma(word: str) -> str:
    from lemminflect import getLemma

    forms = getLemma(word.lower(), "VERB")
    return forms[0] if forms else word.lower()


def _span(doc, start: int, end: int) -> tuple[int, int]:
    """Character span of tokens ``start..end`` inclusive."""
    return doc[start].idx, doc[end].idx + len(doc[end])


def _subtree(tok) -> tuple[int, int]:
    return tok.left_edge.i, tok.right_edge.i


def _lead_case(text: str, first_tok) -> str:
    """Lower-case a phrase that no longer starts the sentence (names and "I" keep their capital)."""
    if first_tok.pos_ in KEEP_CASE_POS or first_tok.text == "I" or first_tok.text.isupper() and len(first_tok) > 1:
        return text
    return text[:1].lower() + text[1:]


def _sentence_case(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:]


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r" ([.,;:!?])", r"\1", text)
    return re.sub(r"\.\.+$", ".", text)


def _article(det, next_word: str) -> dict[int, str]:
    """Rewrite determiner ``det`` ("a"/"an") to fit the word that now follows it (an edit can put "odd" after
    "a")."""
    if det is None or det.lower_ not in ("a", "an") or not next_word:
        return {}
    word = (
        "an"
        if next_word[0].lower() in "aeiou" and not next_word.lower().startswith(("uni", "use", "one", "eu"))
        else "a"
    )
    return {det.i: word.capitalize() if det.text[:1].isupper() else word} if word != det.lower_ else {}


def _swap_spans(
    doc,
    a: tuple[int, int],
    b: tuple[int, int],
    subject_first: bool | None = None,
    replace: dict[int, str] | None = None,
) -> str | None:
    """The text with token spans ``a`` and ``b`` (inclusive, non-overlapping, at most 8 tokens, no punctuation
    inside) exchanged, case fixed. ``subject_first``: which span is in the subject slot (``True``: the earlier one),
    so pronouns take the case of their new slot ("he saw her" → "she saw him"). ``replace``: other tokens to
    rewrite (by index), e.g. a verb that must agree with its new subject."""
    if a[0] > b[0]:
        a, b = b, a
    if a[1] >= b[0] or max(a[1] - a[0], b[1] - b[0]) > 7:
        return None
    if any(t.is_punct and t.text not in "-'" for t in [*doc[a[0] : a[1] + 1], *doc[b[0] : b[1] + 1]]):
        return None
    text = doc.text
    (s1, e1), (s2, e2) = _span(doc, *a), _span(doc, *b)
    first, second = text[s1:e1], text[s2:e2]
    if first.lower() == second.lower():
        return None
    if subject_first is not None:
        second, first = _map_pronoun(second, to_subject=subject_first), _map_pronoun(first, not subject_first)
    if a[0] == 0:  # the phrase from later now leads; the one that led moves inside
        second, first = _sentence_case(second), _lead_case(first, doc[a[0]])
    replace = dict(replace or {})
    for start, new in ((a[0], second), (b[0], first)):
        if start > 0 and start - 1 not in range(a[0], a[1] + 1):
            replace.update(_article(doc[start - 1], new))
    pieces, last = [], 0
    cuts = sorted(
        [(s1, e1, second), (s2, e2, first)] + [(doc[i].idx, doc[i].idx + len(doc[i]), w) for i, w in replace.items()]
    )
    for s, e, w in cuts:
        pieces += [text[last:s], w]
        last = e
    return _tidy("".join(pieces) + text[last:])


def _map_pronoun(phrase: str, to_subject: bool) -> str:
    low = phrase.lower()
    table = OBJECT_PRONOUNS if to_subject else SUBJECT_PRONOUNS
    if low in table:
        out = table[low]
        return "I" if out == "i" else out  # sentence case, where it leads, is set by the caller
    return phrase


def _plural(tok) -> bool:
    return (
        tok.tag_ in ("NNS", "NNPS")
        or any(c.dep_ == "conj" for c in tok.children)
        or tok.lower_ in ("we", "they", "them", "us", "you", "i", "me")
    )


AGREE = {
    ("is", True): "are",
    ("are", False): "is",
    ("was", True): "were",
    ("were", False): "was",
    ("has", True): "have",
    ("have", False): "has",
    ("does", True): "do",
    ("do", False): "does",
}


def _agreement(root, old_subject, new_subject) -> dict[int, str]:
    """Rewrites that make the finite verb agree with a new subject ("the dogs chase the cat" → "the cat chases")."""
    plural = _plural(new_subject)
    if plural == _plural(old_subject):
        return {}
    finite = [c for c in root.children if c.dep_ in ("aux", "auxpass") and c.i < root.i] or [root]
    verb = finite[0]
    word = AGREE.get((verb.lower_, plural))
    if word is None and verb.tag_ in ("VBZ", "VBP"):
        word = _inflect(_lemma(verb.text), "VBP" if plural else "VBZ")
    if word is None:
        return {}
    return {verb.i: word.capitalize() if verb.text[:1].isupper() else word}


def _root(doc):
    roots = [t for t in doc if t.dep_ == "ROOT"]
    return roots[0] if len(roots) == 1 else None


def _child(tok, *deps):
    for c in tok.children:
        if c.dep_ in deps:
            return c
    return None


# -- near-misses ---------------------------------------------------------------------------------------------------
def role_swap(doc) -> str | None:
    """Exchange the doer and the done-to: subject ↔ object, passive subject ↔ agent, or the two sides of "than"."""
    root = _root(doc)
    if root is None:
        return None
    subj = _child(root, "nsubj", "nsubjpass")
    if subj is None:
        return None
    other = _child(root, "dobj")
    if other is None:
        agent = _child(root, "agent")
        other = _child(agent, "pobj") if agent is not None else None
    if other is None:  # "A is older than B": the subject against the object of "than"
        comp = _child(root, "acomp", "attr")
        than = _child(comp, "prep") if comp is not None else None
        other = _child(than, "pobj") if than is not None and than.lower_ == "than" else None
    if other is None or subj.lower_ == other.lower_:
        return None
    # Each phrase takes the case of its new slot ("he saw her" → "she saw him"), and the verb agrees with the new
    # subject ("the dogs chase the cat" → "the cat chases the dogs").
    return _swap_spans(doc, _subtree(subj), _subtree(other), subj.i < other.i, _agreement(root, subj, other))


def _hyphenated(tok) -> bool:
    doc = tok.doc
    return any(0 <= k < len(doc) and doc[k].text == "-" for k in (tok.i - 1, tok.i + 1))


def attribute_swap(doc) -> str | None:
    """Give two nouns each other's adjective: "a red shirt and a blue hat" → "a blue shirt and a red hat"."""
    found = []
    for t in doc:
        if t.pos_ in ("NOUN", "PROPN"):
            adj = [
                c
                for c in t.children
                if c.dep_ == "amod"
                and c.tag_ in ("JJ", "JJR", "JJS")
                and c.left_edge.i == c.i == c.right_edge.i
                and not _hyphenated(c)
            ]
            if adj:
                found.append((t, adj[0]))
    for i in range(len(found)):
        for j in range(i + 1, len(found)):
            (n1, a1), (n2, a2) = found[i], found[j]
            if a1.lower_ != a2.lower_ and n1.lower_ != n2.lower_:
                return _swap_spans(doc, (a1.i, a1.i), (a2.i, a2.i))
    return None


def negation_flip(doc) -> str | None:
    """Negate the main verb ("bit" → "did not bite", "is" → "is not") or remove its negation."""
    root = _root(doc)
    if root is None or root.pos_ not in ("VERB", "AUX"):
        return None
    text = doc.text
    neg = _child(root, "neg")
    if neg is not None:
        s, e = neg.idx, neg.idx + len(neg)
        if neg.lower_ == "n't":  # "doesn't" → "does", "can't" → "can"
            prev = doc[neg.i - 1]
            fixed = CONTRACTED.get(prev.lower_, prev.text)
            return _tidy(text[: prev.idx] + fixed + text[e:])
        return _tidy(text[:s] + text[e:])
    if any(t.lower_ in ("no", "never", "not", "nobody", "nothing", "without") for t in doc):
        return None  # negated elsewhere: a second negation would be hard to read
    aux = [c for c in root.children if c.dep_ in ("aux", "auxpass") and c.lower_ in NEGATABLE_AUX]
    subj = _child(root, "nsubj", "nsubjpass", "expl")
    if aux and subj is not None and aux[0].i < subj.i or root.pos_ == "AUX" and subj is not None and root.i < subj.i:
        a = aux[0] if aux else root  # a question: "Do you ...?" → "Don't you ...?"
        word = NEGATED_AUX.get(a.lower_)
        if word is None:
            return None
        return _tidy(text[: a.idx] + (word.capitalize() if a.text[:1].isupper() else word) + text[a.idx + len(a) :])
    if aux:
        a = aux[0]
        return _tidy(text[: a.idx + len(a)] + " not" + text[a.idx + len(a) :])
    if root.pos_ == "AUX" and root.lower_ in NEGATABLE_AUX:  # copula "is"
        return _tidy(text[: root.idx + len(root)] + " not" + text[root.idx + len(root) :])
    do = {"VBD": "did", "VBZ": "does", "VBP": "do"}.get(root.tag_)
    if do is None or root.lower_ in ("be", "is", "are", "was", "were"):
        return None
    base = _lemma(root.text)
    return _tidy(text[: root.idx] + f"{do} not {base}" + text[root.idx + len(root) :])


def preposition_swap(doc) -> str | None:
    """Swap the objects of two different prepositions of one word: "from Paris to Rome" → "from Rome to Paris"."""
    for head in doc:
        preps = [c for c in head.children if c.dep_ == "prep" and c.lower_ in SWAPPABLE_PREPS]
        for i in range(len(preps)):
            for j in range(i + 1, len(preps)):
                p1, p2 = preps[i], preps[j]
                o1, o2 = _child(p1, "pobj"), _child(p2, "pobj")
                # Two things of one kind ("from Paris to Rome"), not "in 1937 ... to Hollywood" or "on top of".
                if (
                    o1 is None
                    or o2 is None
                    or p1.lower_ == p2.lower_
                    or o1.lower_ == o2.lower_
                    or o1.pos_ != o2.pos_
                    or o1.pos_ not in ("NOUN", "PROPN")
                    or {o1.lower_, o2.lower_} & PART_NOUNS
                ):
                    continue
                made = _swap_spans(doc, _subtree(o1), _subtree(o2))
                if made:
                    return made
    return None


# -- same-meaning edits --------------------------------------------------------------------------------------------
def passive(doc) -> str | None:
    """Active → passive: "The man bit the dog." → "The dog was bitten by the man."."""
    root = _root(doc)
    if root is None or root.pos_ != "VERB":
        return None
    subj, obj = _child(root, "nsubj"), _child(root, "dobj")
    if subj is None or obj is None or _child(root, "neg", "dative", "ccomp", "xcomp", "conj") is not None:
        return None
    aux = [c for c in root.children if c.dep_ == "aux"]
    s0, s1 = _subtree(subj)
    o0, o1 = _subtree(obj)
    prt = _child(root, "prt")
    # Simple clauses only: subject, (aux), verb, (particle), object, in that order and adjacent.
    if s1 + 1 + len(aux) != root.i or o0 != root.i + 1 + (prt is not None and prt.i == root.i + 1):
        return None
    if any(a.i < s0 or a.i > root.i for a in aux) or subj.lower_ in ("who", "what", "which", "that", "it", "there"):
        return None
    if _lemma(root.text) in STATIVE:
        return None
    participle = _inflect(_lemma(root.text), "VBN")
    if participle is None:
        return None
    plural = (
        obj.tag_ in ("NNS", "NNPS")
        or any(c.dep_ == "conj" for c in obj.children)
        or obj.lower_ in ("we", "they", "them", "us")
    )
    if aux:
        if len(aux) != 1 or aux[0].lower_ not in ("is", "are", "was", "were") or root.tag_ != "VBG":
            return None
        past = aux[0].lower_ in ("was", "were")
        be = ("were" if plural else "was") if past else ("are" if plural else "is")
        verb = f"{be} being {participle}"
    elif root.tag_ in ("VBD", "VBZ", "VBP"):
        if root.tag_ == "VBD":
            be = "were" if plural else "was"
        else:
            be = "are" if plural else "is"
        verb = f"{be} {participle}"
    else:
        return None
    text = doc.text
    prefix = text[: doc[s0].idx]
    obj_text = _map_pronoun(text[slice(*_span(doc, o0, o1))], to_subject=True)
    subj_text = _map_pronoun(_lead_case(text[slice(*_span(doc, s0, s1))], doc[s0]), to_subject=False)
    rest = text[_span(doc, o0, o1)[1] :]
    particle = f" {prt.text}" if prt is not None else ""
    lead = _sentence_case(obj_text) if not prefix.strip() else obj_text
    return _tidy(f"{prefix}{lead} {verb}{particle} by {subj_text}{rest}")


def active(doc) -> str | None:
    """Passive → active: "The dog was bitten by the man." → "The man bit the dog."."""
    root = _root(doc)
    if root is None or root.tag_ != "VBN":
        return None
    subj, auxpass, agent = _child(root, "nsubjpass"), _child(root, "auxpass"), _child(root, "agent")
    doer = _child(agent, "pobj") if agent is not None else None
    if subj is None or auxpass is None or doer is None or _child(root, "neg", "aux", "conj") is not None:
        return None
    s0, s1 = _subtree(subj)
    a0, a1 = _subtree(agent)
    if not (s1 + 1 == auxpass.i and auxpass.i + 1 == root.i and a0 == root.i + 1):
        return None
    plural = (
        doer.tag_ in ("NNS", "NNPS") or any(c.dep_ == "conj" for c in doer.children) or doer.lower_ in ("us", "them")
    )
    lemma = _lemma(root.text)
    tag = {"was": "VBD", "were": "VBD", "is": "VBZ", "are": "VBZ"}.get(auxpass.lower_)
    if tag is None:
        return None
    if tag == "VBZ" and (plural or doer.lower_ in ("me", "you")):
        tag = "VBP"
    verb = _inflect(lemma, tag)
    if verb is None:
        return None
    text = doc.text
    prefix = text[: doc[s0].idx]
    doer_text = _map_pronoun(text[slice(*_span(doc, *_subtree(doer)))], to_subject=True)
    done_text = _map_pronoun(_lead_case(text[slice(*_span(doc, s0, s1))], doc[s0]), to_subject=False)
    rest = text[_span(doc, a0, a1)[1] :]
    lead = _sentence_case(doer_text) if not prefix.strip() else doer_text
    return _tidy(f"{prefix}{lead} {verb} {done_text}{rest}")


def conjunct_swap(doc) -> str | None:
    """Reorder "A and B" of two nouns: "a cat and a dog sleep" → "a dog and a cat sleep" (same meaning)."""
    if any(t.lower_ in ("respectively", "between", "then", "before", "after", "from", "than") for t in doc):
        return None
    for t in doc:
        if t.dep_ != "conj" or t.pos_ not in ("NOUN", "PROPN") or t.head.pos_ not in ("NOUN", "PROPN"):
            continue
        head = t.head
        cc = _child(head, "cc")
        if cc is None or cc.lower_ != "and" or sum(c.dep_ == "conj" for c in head.children) != 1:
            continue
        if any(c.dep_ in ("conj", "cc") for c in t.children) or not head.i < cc.i < t.i:
            continue
        h0 = head.left_edge.i
        h1 = cc.i - 1
        if doc[h1].is_punct:
            h1 -= 1
        t0, t1 = _subtree(t)
        if h1 < h0 or t0 != cc.i + 1:
            continue
        return _swap_spans(doc, (h0, h1), (t0, t1))
    return None


def front_adverbial(doc) -> str | None:
    """Move a trailing phrase of the main verb to the front: "He left after the meeting." → "After the meeting,
    he left."."""
    root = _root(doc)
    if root is None or root.pos_ not in ("VERB", "AUX"):
        return None
    end = len(doc) - 1
    while end > 0 and doc[end].is_punct:
        end -= 1
    tail = [c for c in root.children if c.i > root.i and c.right_edge.i == end]
    if not tail:
        return None
    c = tail[0]
    first = doc[c.left_edge.i]
    ok = (c.dep_ == "prep" and c.lower_ in FRONTABLE_PREPS and first.i == c.i) or (
        c.dep_ == "advcl"
        and first.dep_ == "mark"
        and first.lower_
        in ("because", "when", "while", "after", "before", "since", "although", "though", "if", "once", "until")
    )
    if not ok or c.left_edge.i <= root.i or any(t.is_punct for t in doc[c.left_edge.i : end + 1]):
        return None
    text = doc.text
    s, e = _span(doc, c.left_edge.i, end)
    phrase = text[s:e]
    main = text[:s].rstrip().rstrip(",")
    stop = text[e:].strip() or "."
    if not main or len(main.split()) < 2:
        return None
    return _tidy(f"{_sentence_case(phrase)}, {_lead_case(main, doc[0])}{stop}")


NEAR_MISSES = {
    "role_swap": role_swap,
    "attribute": attribute_swap,
    "negation": negation_flip,
    "direction": preposition_swap,
}
SAME_MEANING = {"passive": passive, "active": active, "conjunct_swap": conjunct_swap, "fronting": front_adverbial}


def edits_of(doc, kinds: dict | None = None) -> dict[str, str]:
    """Every edit that applies to the parsed sentence ``doc``: ``{kind: edited text}``."""
    out = {}
    for kind, edit in (kinds or {**NEAR_MISSES, **SAME_MEANING}).items():
        try:
            made = edit(doc)
        except (IndexError, ValueError):  # an odd parse: no edit rather than a broken sentence
            made = None
        if made and _tidy(made) != _tidy(doc.text):
            out[kind] = made
    return out
