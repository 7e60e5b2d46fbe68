"""The quality check every speed change must pass: the verifier's dev figures against the ones its card records.

A speed change (a smaller network, another kernel, a storage format) may move scores. :func:`quality_figures`
computes the verifier's column of the dev table (:mod:`verimap.evaluation.suite`, every set capped at ``limit``
rows, the same rows every time) and :func:`quality_drift` compares it with the card's ``quality_reference``,
written when the weights shipped (``verimap bench quality --write-reference``). ``verimap bench speed`` reports the
largest change; the limit is 0.01.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from verimap import weights as weights_io
from verimap.evaluation.suite import build_sets, evaluate

LIMIT = 300  # rows per dev set: about a minute of scoring
TOLERANCE = 0.01


def quality_figures(verifier, data_dir: Path, limit: int = LIMIT) -> dict[str, float]:
    """The verifier's dev figures (measure → value; measures without a value left out)."""
    table = evaluate(
        {"verifier": verifier.score_pairs}, build_sets(data_dir, limit=limit), {"verifier": verifier.threshold}
    )
    return {
        m: round(row["verifier"], 4)
        for m, row in table.items()
        if row.get("verifier") is not None and not math.isnan(row["verifier"])
    }


def quality_drift(verifier, data_dir: Path, limit: int = LIMIT) -> dict:
    """``{"measures", "max_abs_change", "worst", "ok"}`` against the card's reference (``None`` fields without one)."""
    reference = verifier.card.extra.get("quality_reference")
    now = quality_figures(verifier, data_dir, limit)
    if not reference:
        return {"measures": len(now), "max_abs_change": None, "worst": None, "ok": None}
    changes = {m: abs(now[m] - v) for m, v in reference["figures"].items() if m in now}
    worst = max(changes, key=changes.get) if changes else None
    top = changes[worst] if worst else 0.0
    return {"measures": len(changes), "max_abs_change": round(top, 4), "worst": worst, "ok": top <= TOLERANCE}


def write_reference(weights: str | Path, verifier, data_dir: Path, limit: int = LIMIT) -> dict:
    """Record the current figures as the card's ``quality_reference`` (the card is rewritten; the tensors are not)."""
    path = weights_io.card_path(Path(weights))
    card = json.loads(path.read_text())
    card["quality_reference"] = {"limit": limit, "figures": quality_figures(verifier, data_dir, limit)}
    path.write_text(json.dumps(card, indent=2) + "\n")
    return card["quality_reference"]
