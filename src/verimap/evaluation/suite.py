"""The evaluation table: pooled cosine, MaxSim, word overlap and the verifier side by side, on dev data only.

Dev data = the carved 20% (by source item) of every trainable source, plus sources that are never trained on
(CondaQA, MRPC and SICK positives). Every figure names its split. Run it with ``verimap eval``.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from verimap.metrics import roc_auc
from verimap.training.data import Example, load_source, minimal_contrast, split_of, tree_contrast
from verimap.training.rules import case_and_stop_edit

PairScorer = Callable[[Sequence[tuple[str, str]]], list[float]]


def word_overlap(pairs: Sequence[tuple[str, str]]) -> list[float]:
    """Jaccard overlap of lower-cased word sets: the shortcut every near-miss measure must beat."""
    out = []
    for a, b in pairs:
        x, y = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
        out.append(len(x & y) / max(1, len(x | y)))
    return out


def light_edit(sentence: str, rng: random.Random) -> str:
    """A same-meaning edit that keeps the words: swap the two sides of "X and Y" (single words), else change
    the case of the first letter and the final full stop. A verifier that rejects these is rejecting overlap,
    not meaning."""
    tokens = sentence.split()
    spots = [
        i
        for i in range(1, len(tokens) - 1)
        if tokens[i] == "and" and tokens[i - 1].isalpha() and tokens[i + 1].isalpha()
    ]
    if spots:
        i = rng.choice(spots)
        tokens[i - 1], tokens[i + 1] = tokens[i + 1], tokens[i - 1]
        return " ".join(tokens)
    return case_and_stop_edit(sentence)


def dev_rows(data_dir: Path, name: str) -> list[Example]:
    return [r for r in load_source(data_dir, name) if split_of(r.group) == "dev"]


def build_sets(data_dir: Path, seed: int = 0, limit: int | None = None) -> dict[str, list[Example]]:
    rng = random.Random(seed)

    def cap(rows: list[Example]) -> list[Example]:
        rows = list(rows)
        random.Random(seed).shuffle(rows)
        return rows[:limit] if limit else rows

    paws = cap(dev_rows(data_dir, "paws_dev"))
    bnli = dev_rows(data_dir, "breaking_nli")
    sugar = cap(dev_rows(data_dir, "sugarcrepe"))
    positives = [r for r in paws + bnli if r.label == 1]
    mrpc = cap([r for r in load_source(data_dir, "mrpc_train") if r.label == 1])
    sick = cap([r for r in load_source(data_dir, "sick_train") if r.label == 1])
    foils = [r for r in sugar + cap(dev_rows(data_dir, "cad_train"))]
    probe = [Example(r.b, light_edit(r.b, rng), 1, "light_edit", "probe", r.group) for r in foils]
    contrast = [r for r in paws + bnli if r.label == 1]
    cad = dev_rows(data_dir, "cad_train")
    tree_base = cap(
        [r for name in ("sugarcrepe", "cad_train", "breaking_nli", "paws_dev") for r in dev_rows(data_dir, name)]
    )
    return {
        "paws": paws,
        "condaqa": load_source(data_dir, "condaqa_dev"),
        "sugarcrepe": sugar,
        "positives": positives,
        "mrpc_pos": mrpc,
        "sick_pos": sick,
        "probe": cap(probe),
        "contrast": contrast + minimal_contrast(contrast, seed),
        "bnli_foils": [r for r in bnli if r.label == 0],
        "cad_foils": cad,
        "banking": cap(dev_rows(data_dir, "banking77_train")),
        "clinc": cap(dev_rows(data_dir, "clinc150_train")),
        "prompts": dev_rows(data_dir, "prompts"),
        "tree": tree_contrast(tree_base, seed),
    }


def evaluate(
    scorers: dict[str, PairScorer], sets: dict[str, list[Example]], thresholds: dict[str, float | None]
) -> dict[str, dict[str, float | None]]:
    """Rows = measures, columns = scorers. ``thresholds`` gives each scorer's default accept threshold
    (``None``: the scorer has none; its accept rates are then taken at its TAR-95 threshold)."""
    table: dict[str, dict[str, float | None]] = defaultdict(dict)
    for name, score in scorers.items():
        s = {k: np.array(score([(r.a, r.b) for r in rows])) for k, rows in sets.items() if rows}
        lab = {k: np.array([r.label for r in rows]) for k, rows in sets.items() if rows}
        table["PAWS dev ROC-AUC"][name] = roc_auc(lab["paws"], s["paws"])
        cq = s["condaqa"]
        table["CondaQA triplet accuracy"][name] = float(np.mean(cq[0::2] > cq[1::2]))
        tar95 = float(np.quantile(s["positives"], 0.05))
        sugar_rows = sets["sugarcrepe"]
        table["SugarCrepe FAR@TAR95 (all)"][name] = float(np.mean(s["sugarcrepe"] >= tar95))
        for kind in sorted({r.kind for r in sugar_rows}):
            idx = np.array([r.kind == kind for r in sugar_rows])
            table[f"SugarCrepe FAR@TAR95 ({kind})"][name] = float(np.mean(s["sugarcrepe"][idx] >= tar95))
        thr = thresholds.get(name)
        at = tar95 if thr is None else thr
        for key, label in (
            ("mrpc_pos", "MRPC paraphrase accept"),
            ("sick_pos", "SICK paraphrase accept"),
            ("positives", "PAWS+BNLI dev paraphrase accept"),
        ):
            table[f"{label} @{'TAR95' if thr is None else 'default'}"][name] = float(np.mean(s[key] >= at))
        table[f"shortcut probe: light-edit accept @{'TAR95' if thr is None else 'default'}"][name] = float(
            np.mean(s["probe"] >= at)
        )
        for key, label in (("bnli_foils", "Breaking-NLI"), ("cad_foils", "CAD")):
            rows = sets[key]
            for kind in sorted({r.kind for r in rows}):
                idx = np.array([r.kind == kind for r in rows])
                table[f"{label} FAR@TAR95 ({kind})"][name] = float(np.mean(s[key][idx] >= tar95))
        negnum = np.concatenate(
            [
                s["bnli_foils"][[r.kind == "number" for r in sets["bnli_foils"]]],
                s["cad_foils"][[r.kind in ("negation", "number") for r in sets["cad_foils"]]],
            ]
        )
        table["negation/number foils FAR@TAR95 (Breaking-NLI number + CAD negation, number)"][name] = float(
            np.mean(negnum >= tar95)
        )
        table["Banking77 dev ROC-AUC (same intent vs word-overlapping other intent)"][name] = roc_auc(
            lab["banking"], s["banking"]
        )
        table["CLINC150 dev ROC-AUC (same intent vs word-overlapping other intent)"][name] = roc_auc(
            lab["clinc"], s["clinc"]
        )
        prompts = sets["prompts"]
        p_pos = s["prompts"][lab["prompts"] == 1]
        cache_rows = np.concatenate([s["prompts"], s["banking"]])
        cache_labels = np.concatenate([lab["prompts"], lab["banking"]])
        table["cache-shaped dev ROC-AUC (prompts + Banking77)"][name] = roc_auc(cache_labels, cache_rows)
        hit95 = float(np.quantile(cache_rows[cache_labels == 1], 0.05))
        table["cache-shaped dev false-hit @TAR95 (prompts + Banking77)"][name] = float(
            np.mean(cache_rows[cache_labels == 0] >= hit95)
        )
        table["prompts dev ROC-AUC"][name] = roc_auc(lab["prompts"], s["prompts"])
        for kind in sorted({r.kind for r in prompts if r.label == 0}):
            idx = np.array([r.kind == kind for r in prompts])
            table[f"prompts dev false-hit @TAR95 ({kind})"][name] = float(
                np.mean(s["prompts"][idx] >= float(np.quantile(p_pos, 0.05)))
            )
        tree = sets["tree"]
        # The tail test: of the 5% lowest-scored dev positives (people's paraphrases and same-meaning tree edits),
        # how many are structural false alarms (a voice change, a reordered "A and B", a fronted phrase).
        tail_scores = np.concatenate([s["positives"], s["tree"][lab["tree"] == 1]])
        tail_kinds = [r.kind for r in sets["positives"]] + [r.kind for r in tree if r.label == 1]
        low = np.argsort(tail_scores, kind="stable")[: max(1, len(tail_scores) // 20)]
        table["5% lowest-scored dev positives: share that are same-meaning tree edits"][name] = float(
            np.mean([tail_kinds[i] != "paraphrase" for i in low])
        )
        table["(same-meaning tree edits among all those dev positives)"][name] = float(
            np.mean([k != "paraphrase" for k in tail_kinds])
        )
        for kind in sorted({r.kind for r in tree}):
            idx = np.array([r.kind == kind for r in tree])
            lbl = tree[int(np.argmax(idx))].label
            if lbl == 1:
                table[f"tree-edit dev: same-meaning accept @{'TAR95' if thr is None else 'default'} ({kind})"][name] = (
                    float(np.mean(s["tree"][idx] >= at))
                )
            else:
                table[f"tree-edit dev: near-miss FAR@TAR95 ({kind})"][name] = float(np.mean(s["tree"][idx] >= tar95))
        c = s["contrast"]
        pos_rows = [r for r in sets["contrast"] if r.label == 1]
        n = len(pos_rows)
        by_key = {(r.a, r.group): i for i, r in enumerate(pos_rows)}
        wins = [
            c[by_key[(r.a, r.group)]] > c[n + j] for j, r in enumerate(sets["contrast"][n:]) if (r.a, r.group) in by_key
        ]
        table["true match outranks its rule near-miss"][name] = float(np.mean(wins)) if wins else None
    return dict(table)


def to_markdown(table: dict[str, dict[str, float | None]], scorers: Sequence[str]) -> str:
    lines = ["| measure | " + " | ".join(scorers) + " |", "|---|" + "---|" * len(scorers)]
    for measure, row in table.items():
        cells = ["–" if row.get(s) is None else f"{row[s]:.3f}" for s in scorers]
        lines.append(f"| {measure} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
