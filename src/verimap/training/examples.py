"""One labelled pair, and the train/dev split every generated row follows (by the source item it came from)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

DEV_FRACTION = 0.2


@dataclass(frozen=True)
class Example:
    a: str
    b: str
    label: int  # 1 = b matches a; 0 = near-miss
    kind: str
    source: str
    group: str
    cluster: str | None = None  # texts of one cluster (an intent) mean the same: never each other's negatives

    def to_dict(self) -> dict:
        return asdict(self)


def split_of(group: str, dev_fraction: float = DEV_FRACTION) -> str:
    """Deterministic split by source item: ``"dev"`` for ~``dev_fraction`` of groups, else ``"train"``; a group
    that names its side (``"dev::…"`` / ``"train::…"``, a source's own split) keeps it."""
    side = group.partition("::")[0]
    if side in ("train", "dev") and "::" in group:
        return side
    h = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "dev" if h < dev_fraction else "train"
