"""Training and dev data: shared/data sources, carved dev splits and minimal contrastive near-misses.

Every example is ``Example(a, b, label, kind, source, group)``. ``group`` names the source item an example
came from; the train/dev split is a hash of the group, so every example derived from one sentence lands on
the same side (a rule-made near-miss of a dev sentence is never trained on).

Sources whose licence allows shipping weights trained on them (see shared/data/SOURCES.md):
PAWS (any purpose), SugarCrepe (MIT / CC BY 4.0), CAD-SNLI (Apache-2.0 / CC BY-SA 4.0), Breaking-NLI
(CC BY-SA 4.0). MRPC, SICK and SciFact are non-commercial: they are used for evaluation only.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from verimap.training.examples import DEV_FRACTION, Example, split_of  # noqa: F401 (re-exported)
from verimap.training.rules import (
    any_perturbation,
    case_and_stop_edit,
    changed_words,
    did_question,
    fragment,
    perturb,
    question_form,
    wh_question,
)

SHIPPABLE = (
    "paws_dev",
    "sugarcrepe",
    "cad_train",
    "breaking_nli",
    "banking77_train",
    "clinc150_train",
    "massive_en_us_train",
    "snli_dev",
    "mnli_dev_matched",
    "mnli_train_heuristic",
    "prompts",
)
EVAL_ONLY = ("mrpc_train", "sick_train", "condaqa_dev", "scifact")


def default_data_dir() -> Path:
    """The data folder when none is passed: ``$VERIMAP_DATA_DIR`` (:func:`verimap.config.data_dir`; a
    :class:`~verimap.errors.ConfigError` saying how to give one otherwise)."""
    from verimap.config import data_dir

    return data_dir()  # type: ignore[return-value]  # required: never None


def read_jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def source_folder(data_dir: Path | Sequence[Path], name: str) -> Path:
    """The folder of source ``name``: the first of the data folders that has it (the shared data folder, then any
    folder of rows built from documented raw files, see scripts/build_training_rows.py)."""
    dirs = [data_dir] if isinstance(data_dir, (str, Path)) else list(data_dir)
    for d in dirs:
        if (Path(d) / name).is_dir():
            return Path(d) / name
    raise ValueError(f"unknown source {name!r}: no folder {name}/ in {', '.join(str(d) for d in dirs)}")


def load_source(data_dir: Path | Sequence[Path], name: str) -> list[Example]:
    """Examples straight from one source (no generated rows): a shared one by its name, or any folder laid out like
    the shared ones (``pairs.jsonl``, ``foils.jsonl``, ``questions.jsonl`` of intents, ``entailment.jsonl``)."""
    if name == "prompts":  # written for verimap, no shared file (see training/prompt_pairs.py)
        from verimap.training.prompt_pairs import prompt_pairs

        return prompt_pairs()
    folder = source_folder(data_dir, name)
    out: list[Example] = []
    if name == "condaqa_dev":
        for r in read_jsonl(folder / "triplets.jsonl"):
            g = f"condaqa:{r.get('passage_id', r['anchor'][:80])}"
            out.append(Example(r["anchor"], r["positive"], 1, "paraphrase", name, g))
            out.append(Example(r["anchor"], r["negative"], 0, r["kind"], name, g))
        return out
    if (folder / "questions.jsonl").is_file():
        return intent_pairs(folder, name.removesuffix("_train"))
    if (folder / "pairs.jsonl").is_file():
        for r in read_jsonl(folder / "pairs.jsonl"):
            # Group by the anchor sentence: PAWS and Breaking-NLI reuse one sentence in several pairs.
            out.append(Example(r["a"], r["b"], int(r["label"]), r["kind"], name, f"{name}:{_norm(r['a'])}"))
    if (folder / "foils.jsonl").is_file():
        for r in read_jsonl(folder / "foils.jsonl"):
            out.append(Example(r["text"], r["foil"], 0, r["kind"], name, f"{name}:{_norm(r['text'])}"))
    if (folder / "entailment.jsonl").is_file():
        # b follows from a: as retrieval reads it, the passage a supports the claim b (a match), grouped with the
        # contradictions of the same premise.
        for r in read_jsonl(folder / "entailment.jsonl"):
            out.append(Example(r["a"], r["b"], 1, "paraphrase", name, f"{name}:{_norm(r['a'])}"))
    if not out:
        raise ValueError(f"source {name!r}: {folder} holds none of pairs.jsonl, foils.jsonl, questions.jsonl")
    return out


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower())) - {
        "i",
        "my",
        "the",
        "a",
        "an",
        "to",
        "is",
        "it",
        "do",
        "can",
        "you",
        "me",
        "of",
        "for",
        "and",
        "how",
        "what",
        "why",
    }


SPLITS = {"train": "train", "val": "dev", "dev": "dev", "validation": "dev"}  # a row's own split; test is never read


def intent_pairs(folder: Path, name: str, seed: int = 0) -> list[Example]:
    """Prompt pairs from intent-labelled requests, the decision a semantic cache makes, in people's own words:
    another request of the same intent (1), and the request of another intent that shares the most words with it
    (0, the confusable neighbour a cosine threshold lets through).

    A row's own ``split`` decides its side (train; val/dev → dev; test rows are skipped); rows without one are
    split by their text (``split_of``). Requests are only paired within one side, so no dev request is ever
    trained on; a pair's group is its first request's, its cluster the intent. ``oos`` (out of scope) rows share
    no intent: they are never a match."""
    rng = random.Random(seed)
    rows = []
    for r in read_jsonl(folder / "questions.jsonl"):
        group = f"{name}:{_norm(r['text'])}"
        if r.get("split"):  # the source's own split, kept in the group (split_of reads it)
            side = SPLITS.get(r["split"])
            group = f"{side}::{group}"
        else:
            side = split_of(group)
        if side is not None:
            rows.append((side, group, r))
    out: list[Example] = []
    for side in ("train", "dev"):
        mine = [(g, r) for s, g, r in rows if s == side]
        by_intent: dict[str, list[dict]] = {}
        for _, r in mine:
            by_intent.setdefault(r["intent"], []).append(r)
        words = {r["id"]: _words(r["text"]) for _, r in mine}
        for group, r in mine:
            if r["intent"] == "oos":
                continue
            cluster = f"{name}:{r['intent']}"
            same = [x for x in by_intent[r["intent"]] if x["id"] != r["id"]]
            if same:
                out.append(Example(r["text"], rng.choice(same)["text"], 1, "paraphrase", name, group, cluster))
            others = rng.sample(mine, min(300, len(mine)))
            w = words[r["id"]]
            scored = [
                (len(w & words[x["id"]]) / max(1, len(w | words[x["id"]])), x["text"])
                for _, x in others
                if x["intent"] != r["intent"]
            ]
            if scored:
                best = max(scored)
                out.append(Example(r["text"], best[1], 0, "intent", name, group, cluster))
    return out


def tree_contrast(examples: Sequence[Example], seed: int) -> list[Example]:
    """Minimal pairs from dependency-tree edits (:mod:`verimap.training.tree_edits`) of every distinct anchor text:
    for a text T with a same-meaning edit P (passive, reordered "A and B", fronted adverbial) and near-miss edits N
    (role swap, attribute swap, negation, direction, and the word-level rules: numbers, antonyms, comparatives,
    before/after): (T, P) = 1, (T, N) = 0, and the near-misses of P itself against T and P ("The man was bitten
    by the dog" for "The man bit the dog"), so a positive and its near-miss differ from the anchor by the same amount
    of surface change."""
    from verimap.parse import load_spacy, normalised
    from verimap.training.tree_edits import NEAR_MISSES, edits_of

    rng = random.Random(seed + 2)
    anchors: dict[str, tuple[str, str]] = {}
    for ex in examples:
        anchors.setdefault(ex.a, (ex.group, ex.source))
        if ex.label == 1:
            anchors.setdefault(ex.b, (ex.group, ex.source))
    texts = [t for t in anchors if 3 <= len(t.split()) <= 40]
    nlp = load_spacy()
    out: list[Example] = []
    positives: list[tuple[str, str, str, str, str]] = []  # (anchor, positive, kind, group, source)
    for text, doc in zip(texts, nlp.pipe([normalised(t) for t in texts], batch_size=256)):
        group, source = anchors[text]
        made = edits_of(doc)
        for kind, edited in made.items():
            label = 0 if kind in NEAR_MISSES else 1
            out.append(Example(text, edited, label, kind, f"{source}+tree", group))
            if label:
                positives.append((text, edited, kind, group, source))
        word = any_perturbation(text, rng, WORD_KINDS)  # numbers, antonyms, comparatives, before/after ...
        if word is not None:
            out.append(Example(text, word[0], 0, word[1], f"{source}+tree", group))
    for (text, pos, _kind, group, source), doc in zip(positives, nlp.pipe([p[1] for p in positives], batch_size=256)):
        for miss_kind, miss in edits_of(doc, NEAR_MISSES).items():
            if _norm(miss) != _norm(text):
                out.append(Example(text, miss, 0, miss_kind, f"{source}+tree", group))
                out.append(Example(pos, miss, 0, miss_kind, f"{source}+tree", group))
    return out


WORD_KINDS = ("number", "temporal", "spatial", "comparative", "antonym")  # the rules that edit words, not structure


def unrelated(examples: Sequence[Example], fraction: float, seed: int) -> list[Example]:
    """Easy negatives: a text against another source item's text (off-topic candidates must score low too, or the
    score is not a probability of a match)."""
    rng = random.Random(seed + 3)
    pool = [ex.a for ex in examples]
    out = []
    for ex in examples:
        if rng.random() < fraction:
            other = rng.choice(pool)
            if other != ex.a:
                out.append(Example(ex.a, other, 0, "unrelated", f"{ex.source}+unrelated", ex.group))
    return out


def minimal_contrast(examples: Iterable[Example], seed: int) -> list[Example]:
    """For each positive (a, b), a near-miss (a, rule(b)) from the same b.

    Positive and negative then differ from the anchor by the same amount of surface change, so "how much
    was edited" cannot separate them; only what the edit did can.
    """
    rng = random.Random(seed)
    out = []
    for ex in examples:
        if ex.label != 1:
            continue
        made = any_perturbation(ex.b, rng)
        if made is not None:
            out.append(Example(ex.a, made[0], 0, made[1], f"{ex.source}+rule", ex.group))
    return out


def anchored_contrast(examples: Iterable[Example]) -> list[Example]:
    """For each foil row (text, foil), a near-copy positive (text, text with its case and final full stop
    edited). This teaches "near-copy = match" (variant v0 in docs/benchmarks.md); off in the shipped config."""
    return [
        Example(ex.a, case_and_stop_edit(ex.a), 1, "light_edit", f"{ex.source}+light", ex.group)
        for ex in examples
        if ex.label == 0 and ex.source in ("sugarcrepe", "cad_train")
    ]


# Words real queries carry that their answer does not ("when do they leave?"): wrapped around both a
# positive's query and its near-miss's query, so they teach tolerance, never a shortcut.
QUERY_WRAPPERS = [
    ("When", "?"),
    ("How often", "?"),
    ("Where", "?"),
    ("Why", "?"),
    ("Tell me about", ""),
    ("Is it true that", "?"),
    ("What about", "?"),
    ("", ": when?"),
    ("", " - how many?"),
    ("", ": is that right?"),
    ("Can you explain", "?"),
    ("", "?"),
]


def wrap_query(text: str, rng: random.Random) -> str:
    head, tail = rng.choice(QUERY_WRAPPERS)
    body = text.rstrip(" .?!")
    body = (
        body[:1].lower() + body[1:]
        if head and body[:2].istitle() and body.split()[0].lower() in {"the", "a", "an", "two", "three", "some", "this"}
        else body
    )
    return f"{head} {body}{tail}".strip()


def query_shaped(examples: Sequence[Example], seed: int) -> list[Example]:
    """Rows shaped like retrieval, each positive with a near-miss built from the same text:

    - question form: ("Is the drug effective?", "The drug is effective.") = 1, and the same question against
      the row's near-miss (a foil, or a rule-made one) = 0. The positive reorders and changes words, so
      overlap cannot tell the two apart;
    - fragment queries: a 4+ word window of the text that spans every word the foil changed, against the
      text (1) and against the foil (0);
    - passages: the sentence inside a two-sentence passage (1) against the same passage with its near-miss (0).
    """
    rng = random.Random(seed + 1)
    pool = [ex.a for ex in examples]
    out: list[Example] = []
    for ex in examples:
        if ex.label != 0:
            continue
        text, miss = ex.a, ex.b
        for q in {question_form(text), did_question(text), wh_question(text)} - {None}:
            out += [
                Example(q, text, 1, "question", f"{ex.source}+question", ex.group),
                Example(q, miss, 0, ex.kind, f"{ex.source}+question", ex.group),
            ]
            # the structural kinds the mission names, against the same question
            for kind in ("role_swap", "entity_swap", "negation", "direction"):
                other = perturb(text, kind, rng)
                if other is not None:
                    out.append(Example(q, other, 0, kind, f"{ex.source}+question", ex.group))
                    break
        f = fragment(text, changed_words(text, miss), rng)
        if f is not None and rng.random() < 0.5:
            f = wrap_query(f, rng)
        if f is not None:
            out += [
                Example(f, text, 1, "fragment", f"{ex.source}+fragment", ex.group),
                Example(f, miss, 0, ex.kind, f"{ex.source}+fragment", ex.group),
            ]
        other = rng.choice(pool)
        if other != text and len(other.split()) + len(text.split()) < 45:
            before = rng.random() < 0.5
            join = (lambda s: f"{other} {s}") if before else (lambda s: f"{s} {other}")  # noqa: B023 (used at once)
            q = wrap_query(text, rng) if rng.random() < 0.5 else text
            out += [
                Example(q, join(text), 1, "passage", f"{ex.source}+passage", ex.group),
                Example(q, join(miss), 0, ex.kind, f"{ex.source}+passage", ex.group),
            ]
    return out


def build(
    data_dir: Path,
    sources: Iterable[str],
    *,
    seed: int = 0,
    rules: bool = True,
    light_positives: bool = True,
    query_rows: bool = False,
    tree_edits: bool = False,
    unrelated_fraction: float = 0.0,
) -> dict[str, list[Example]]:
    """``{"train": [...], "dev": [...]}`` over the given sources, with generated rows on the same side as
    their source item."""
    split: dict[str, list[Example]] = {"train": [], "dev": []}
    for name in sources:
        rows = load_source(data_dir, name)
        base = list(rows)
        if rules:
            rows += minimal_contrast(rows, seed)
        if query_rows:
            rows += query_shaped(rows, seed)
        if light_positives:
            rows += anchored_contrast(rows)
        if tree_edits:
            rows += tree_contrast(base, seed)
        if unrelated_fraction:
            rows += unrelated(base, unrelated_fraction, seed)
        for ex in dict.fromkeys(rows):  # one row per distinct example (a premise can head several rows)
            split[split_of(ex.group)].append(ex)
    return split


def read_user_pairs(path: Path) -> list[Example]:
    """A user's labelled pairs: JSONL lines ``{"a", "b", "label"}`` (optional ``kind``)."""
    out = []
    for n, r in enumerate(read_jsonl(path), 1):
        try:
            a, b, label = r["a"], r["b"], int(r["label"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{n}: each line needs string 'a', 'b' and a 0/1 'label' ({exc})") from exc
        if not isinstance(a, str) or not isinstance(b, str) or label not in (0, 1):
            raise ValueError(f"{path}:{n}: 'a' and 'b' must be strings and 'label' 0 or 1")
        out.append(Example(a, b, label, r.get("kind", "user"), "user", f"user:{_norm(a)}"))
    return out
