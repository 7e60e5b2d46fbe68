"""The verifier tower: a tuned copy of the stock encoder's top layers, fed by the stock lower layers.

Recall keeps the stock all-MiniLM-L6-v2: its pooled vector is what every vector store holds, so it must never
change. The verifier reads token vectors from its own copy of the top ``layers`` Transformer layers, run on the
hidden states the stock forward already computed below them: one forward pass, ``layers / 6`` of an encoder's
extra cost. The tuned layers ship inside the verifier weights (tensors under ``tower.``) and the card records
where they start.

>>> import torch
>>> from verimap.encoder import TokenEncoder
>>> enc = TokenEncoder(parser=False, cache=False)
>>> tower = Tower.from_stock(enc.model, 2)          # an untuned copy computes what the stock top layers do
>>> tower.start, len(tower.layers)
(4, 2)
>>> tuned = enc.with_tower(tower)
>>> a, b = enc.encode(["The dog bit the man."])[0], tuned.encode(["The dog bit the man."])[0]
>>> bool(torch.equal(a.pooled, b.pooled)), bool(torch.allclose(a.vectors, b.vectors, atol=1e-5))
(True, True)
"""

from __future__ import annotations

import copy
import hashlib

import torch
from torch import nn

PREFIX = "tower."
CODEC = "codec."  # a token-file codec trained on the tower's vectors, shipped in the same weights file


def codec_state(codec) -> dict[str, torch.Tensor]:
    """A :class:`~verimap.quantize.Codec`'s tensors as a weights file keeps them."""
    return {CODEC + "centroids": codec.centroids.contiguous(), CODEC + "books": codec.books.contiguous()}


def codec_from_state(state: dict[str, torch.Tensor]):
    """The codec a weights file ships (``None`` if it has none)."""
    from verimap.quantize import Codec

    if CODEC + "centroids" not in state:
        return None
    return Codec(state[CODEC + "centroids"].float(), state[CODEC + "books"].float())


def additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(B, 1, 1, L)`` additive attention mask from a ``(B, L)`` 0/1 mask: what every attention implementation
    of a BERT layer takes (eager adds it, SDPA passes it on), whatever transformers version builds the stock one."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def token_mean(vectors: torch.Tensor) -> torch.Tensor:
    """The tower's own sentence vector: the normalised mean of a text's unit token vectors (what the verifier
    network reads as the pair's pooled cosine, and what the contrastive loss trains). It needs nothing beyond the
    token vectors, so cached ones give it too."""
    if not len(vectors):
        return torch.zeros(vectors.shape[-1], dtype=vectors.dtype)
    return nn.functional.normalize(vectors.mean(0), dim=-1)


class Tower(nn.Module):
    """The top ``len(layers)`` Transformer layers of a BERT-style encoder, copied so they can be tuned.

    :param layers: the layer modules (``transformers`` ``BertLayer``), run in order.
    :param start: the index of the stock layer the tower replaces first (its input is the stock hidden state
        after ``start`` layers, ``hidden_states[start]`` in transformers' terms).
    """

    def __init__(self, layers: nn.ModuleList, start: int) -> None:
        super().__init__()
        self.layers = layers
        self.start = start

    @classmethod
    def from_stock(cls, model: nn.Module, layers: int) -> Tower:
        """An untuned tower: deep copies of ``model``'s top ``layers`` layers (trainable, float32)."""
        stock = model.encoder.layer
        if not 1 <= layers <= len(stock):
            raise ValueError(f"a tower has 1 to {len(stock)} layers, got {layers}")
        copies = nn.ModuleList(copy.deepcopy(layer) for layer in stock[len(stock) - layers :])
        tower = cls(copies, len(stock) - layers).float()
        for p in tower.parameters():
            p.requires_grad_(True)
        return tower

    @classmethod
    def from_state(cls, model: nn.Module, layers: int, state: dict[str, torch.Tensor]) -> Tower:
        """A tower of ``layers`` layers with the tensors of a weights file (keys under :data:`PREFIX`)."""
        tower = cls.from_stock(model, layers)
        own = {k[len(PREFIX) :]: v.float() for k, v in state.items() if k.startswith(PREFIX)}
        expected = {k: tuple(v.shape) for k, v in tower.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in own.items()}
        if expected != got:
            diff = sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))[:5]
            raise ValueError(f"tower tensors do not fit a {layers}-layer tower of this encoder (first: {diff})")
        tower.load_state_dict(own)
        return tower.eval().requires_grad_(False)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(B, L, dim)`` hidden states after the tower, from the stock ones after :attr:`start` layers and the
        ``(B, L)`` 0/1 attention mask."""
        mask = additive_mask(attention_mask, hidden.dtype)
        for layer in self.layers:
            out = layer(hidden, mask)
            hidden = out[0] if isinstance(out, tuple) else out  # transformers 4.x returns a tuple
        return hidden

    def state(self, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
        """The tensors a weights file keeps (under :data:`PREFIX`; fp16 halves the file, and a float16 round trip
        moves token cosines by under 1e-3)."""
        return {PREFIX + k: v.detach().cpu().to(dtype).contiguous() for k, v in self.state_dict().items()}

    def digest(self) -> str:
        """A short hash of the tensors: token vectors computed with other tower weights are never read as these."""
        h = hashlib.sha256()
        for key, value in sorted(self.state_dict().items()):
            h.update(key.encode())
            h.update(value.detach().cpu().float().numpy().tobytes())
        return h.hexdigest()[:12]
