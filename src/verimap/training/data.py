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
import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

from verimap.training.rules import any_perturbation

SHIPPABLE = ("paws_dev", "sugarcrepe", "cad_train", "breaking_nli")
EVAL_ONLY = ("mrpc_train", "sick_train", "condaqa_dev", "scifact")
DEV_FRACTION = 0.2


@dataclass(frozen=True)
class Example:
    a: str
    b: str
    label: int  # 1 = b matches a; 0 = near-miss
    kind: str
    source: str
    group: str

    def to_dict(self) -> dict:
        return asdict(self)


def default_data_dir() -> Path:
    """``../shared/data`` beside the checkout (where the team keeps it)."""
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def read_jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def split_of(group: str, dev_fraction: float = DEV_FRACTION) -> str:
    """Deterministic split by source item: ``"dev"`` for ~``dev_fraction`` of groups, else ``"train"``."""
    h = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "dev" if h < dev_fraction else "train"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def load_source(data_dir: Path, name: str) -> list[Example]:
    """Examples straight from one shared source (no generated rows)."""
    out: list[Example] = []
    if name in ("paws_dev", "breaking_nli", "mrpc_train", "sick_train"):
        for r in read_jsonl(data_dir / name / "pairs.jsonl"):
            # Group by the anchor sentence: PAWS and Breaking-NLI reuse one sentence in several pairs.
            out.append(Example(r["a"], r["b"], int(r["label"]), r["kind"], name, f"{name}:{_norm(r['a'])}"))
    elif name in ("sugarcrepe", "cad_train"):
        for r in read_jsonl(data_dir / name / "foils.jsonl"):
            out.append(Example(r["text"], r["foil"], 0, r["kind"], name, f"{name}:{_norm(r['text'])}"))
    elif name == "condaqa_dev":
        for r in read_jsonl(data_dir / name / "triplets.jsonl"):
            g = f"condaqa:{r.get('passage_id', r['anchor'][:80])}"
            out.append(Example(r["anchor"], r["positive"], 1, "paraphrase", name, g))
            out.append(Example(r["anchor"], r["negative"], 0, r["kind"], name, g))
    else:
        raise ValueError(f"unknown source {name!r}")
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


def anchored_contrast(examples: Iterable[Example], seed: int) -> list[Example]:
    """For each foil row (text, foil), a same-meaning partner of the text that keeps its words: the text with
    a rule applied *to the foil side's anchor* is not available, so we pair the anchor with itself lightly
    edited only where an edit cannot change meaning (case and final punctuation)."""
    out = []
    for ex in examples:
        if ex.label == 0 and ex.source in ("sugarcrepe", "cad_train"):
            light = ex.a.rstrip(".").strip()
            light = light[0].lower() + light[1:] if light[:1].isupper() else light[0].upper() + light[1:]
            out.append(Example(ex.a, light, 1, "light_edit", f"{ex.source}+light", ex.group))
    return out


def build(data_dir: Path, sources: Iterable[str], *, seed: int = 0, rules: bool = True,
          light_positives: bool = True) -> dict[str, list[Example]]:
    """``{"train": [...], "dev": [...]}`` over the given sources, with generated rows on the same side as
    their source item."""
    split: dict[str, list[Example]] = {"train": [], "dev": []}
    for name in sources:
        rows = load_source(data_dir, name)
        if rules:
            rows += minimal_contrast(rows, seed)
        if light_positives:
            rows += anchored_contrast(rows, seed)
        for ex in rows:
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
