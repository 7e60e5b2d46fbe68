"""The token-file codec shipped with a tower: trained once on tens of thousands of training sentences.

A store trains a codec on a sample of the corpus it indexes (:mod:`verimap.quantize`); a small corpus gives a poor
one (a codec fitted on 750 sentences moved dev-pair scores by 0.066). Weights with a tower therefore carry their
own codec, fitted on the tower's vectors of ``texts`` distinct human-written training texts (the train side of the
shippable sources, never dev), and :class:`~verimap.store.VerimapStore` writes token files with it.

``python -m verimap.training.codec_fit WEIGHTS [DATA]`` adds (or replaces) the codec of existing weights.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import replace
from pathlib import Path

import torch

from verimap import weights as weights_io
from verimap.quantize import Codec
from verimap.tower import PREFIX, codec_state

TEXTS = 24_000  # distinct training texts the codec is fitted on
TOKENS = 131_072  # token vectors sampled from them


def training_texts(data_dir: Path, sources: list[str], n: int, seed: int = 0) -> list[str]:
    """Up to ``n`` distinct texts from the train side of ``sources`` (people's texts only: no generated rows)."""
    from verimap.training.data import load_source, split_of

    texts = {
        t for name in sources for r in load_source(data_dir, name) if split_of(r.group) == "train" for t in (r.a, r.b)
    }
    ordered = sorted(texts)
    random.Random(seed).shuffle(ordered)
    return ordered[:n]


def fit_codec(weights: str | Path, texts: list[str], *, seed: int = 0) -> dict:
    """Fit a codec on the tower vectors of ``texts`` (int8 as the token cache keeps them), write it into ``weights``
    (the safetensors file and its card are rewritten), and return the card's ``codec`` section."""
    from safetensors.torch import load_file

    from verimap.cache import TokenCache
    from verimap.verifier import Verifier

    weights = Path(weights)
    verifier = Verifier(weights)
    if verifier.encoder.tower is None:
        raise ValueError(f"{weights} has no tower: a store trains its own codec for stock vectors")
    encoder = verifier.encoder.with_cache(TokenCache(max_bytes=0))  # int8 rounding as stored, nothing kept
    vectors = torch.cat([e.vectors for e in encoder.encode(texts, warn=False, recall=False)])
    pick = torch.randperm(len(vectors), generator=torch.Generator().manual_seed(seed))[:TOKENS]
    codec = Codec.train(vectors[pick], seed=seed)
    tower = {k: v for k, v in load_file(str(weights)).items() if k.startswith(PREFIX)}
    section = {"texts": len(texts), "tokens": int(len(pick)), "id": codec.id, "trained_on": "train-side texts"}
    weights_io.save(verifier.network, replace(verifier.card, codec=section), weights, {**tower, **codec_state(codec)})
    return section


if __name__ == "__main__":
    from verimap.training.data import SHIPPABLE, default_data_dir

    path = Path(sys.argv[1])
    data = Path(sys.argv[2]) if len(sys.argv) > 2 else default_data_dir()
    card = json.loads(weights_io.card_path(path).read_text())
    sources = [s for s in card.get("data", {}).get("sources", SHIPPABLE) if s in SHIPPABLE]
    print(json.dumps(fit_codec(path, training_texts(data, sources, TEXTS)), indent=2))
