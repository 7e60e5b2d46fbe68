"""The guard's own threshold, fitted on prompt–prompt pairs (not the passage threshold).

A semantic cache compares two prompts, not a query and a passage, so :class:`~verimap.guard.CacheGuard` reads its
threshold from the card's ``extra["guard"]`` section. :func:`fit_guard` writes that section: it scores the carved
dev part of the cache-shaped sources (Banking77 questions: same intent vs the most word-overlapping other intent;
verimap's templated prompt near-misses) the way the guard does (both directions, ``mean``) and keeps the threshold
that serves ``target_tar`` of the true hits. The trainer calls it after saving weights trained on such a source;
``python -m verimap.training.guard_fit WEIGHTS`` refits existing weights.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from verimap import weights as weights_io
from verimap.metrics import roc_auc
from verimap.training.data import default_data_dir, load_source, split_of

CACHE_SOURCES = ("banking77_train", "prompts")


def fit_guard(weights: str | Path, data_dir: Path | None = None, *, target_tar: float = 0.95, encoder=None) -> dict:
    """Fit and write ``extra["guard"]`` of ``weights``' card; return the section written.

    :param weights: a weights file whose card is rewritten in place (the safetensors file is not touched).
    :param data_dir: the shared data folder (``None``: :func:`~verimap.training.data.default_data_dir`).
    :param target_tar: the share of true hits (dev pairs of the same meaning) the threshold must serve.
    :param encoder: the :class:`~verimap.TokenEncoder` to read with (``None``: a fresh one).
    """
    from verimap.guard import CacheGuard
    from verimap.verifier import Verifier

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    rows = [r for name in CACHE_SOURCES for r in load_source(data_dir, name) if split_of(r.group) == "dev"]
    guard = CacheGuard(Verifier(weights, encoder=encoder), threshold=0.5)  # the threshold is what we fit
    scores = np.array([v.score for v in guard.check_pairs([(r.a, r.b) for r in rows], reasons=False, warn=False)])
    labels = np.array([r.label for r in rows])
    threshold = float(np.quantile(scores[labels == 1], 1 - target_tar))
    section = {
        "threshold": round(threshold, 4),
        "symmetric": "mean",
        "fitted_on": f"dev part of {', '.join(CACHE_SOURCES)} ({len(rows)} pairs), serving {target_tar:.0%} of hits",
        "dev_auc": round(roc_auc(labels, scores), 4),
        "dev_false_hit": round(float(np.mean(scores[labels == 0] >= threshold)), 4),
    }
    path = weights_io.card_path(Path(weights))
    card = json.loads(path.read_text())
    card["guard"] = section
    path.write_text(json.dumps(card, indent=2) + "\n")
    return section


if __name__ == "__main__":
    print(json.dumps(fit_guard(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else None), indent=2))
