"""The verifier networks: small deep-and-thin Transformers over the (query, document) channel maps.

Depth is favoured over width (MobileLLM: at small scale, depth wins). Three kinds, chosen by the card's
``network.kind`` and compared in docs/benchmarks.md:

- ``patch`` (v3's design): a ViT over the map. Each cell carries the map channels (:data:`verimap.simmap.CHANNELS`),
  its row's and its column's best cosine (the ColBERT-style evidence, so it starts from what MaxSim knows) and the
  validity mask; 8x8 patches become its tokens.
- ``tokens``: every query token and every document token is one sequence element (LITE's separable row/column
  reading of the map): it carries what its map row (column) says at its best match (all channels there, and their
  softmax-weighted averages over the row), its match's sharpness and position, its own POS / role / dependency /
  negation tags and its match's. Patches blur which token matches which; here the alignment is explicit.
- ``features``: the feature-only baseline: the same per-token alignment features, pooled (mean and min), into an MLP.

Every kind also reads the pooled-vector cosine, MaxSim both ways and the lengths, so one calibrated score can weigh
topical evidence against structure.

>>> import torch
>>> from verimap.network import NetworkConfig, build_network
>>> from verimap.simmap import structure_maps
>>> q, d = torch.nn.functional.normalize(torch.randn(2, 5, 8), dim=-1), torch.nn.functional.normalize(torch.randn(2, 7, 8), dim=-1)
>>> batch = structure_maps(list(q), list(d), [None, None], [None, None], (16, 16))
>>> [build_network(NetworkConfig(kind=k, map_rows=16, map_cols=16, dim=32, depth=2, heads=2))(batch).shape
...  for k in ("patch", "tokens", "features")]
[torch.Size([2]), torch.Size([2]), torch.Size([2])]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from verimap.parse import DEPS, POS, ROLES
from verimap.simmap import CHANNELS, PairBatch

KINDS = ("patch", "tokens", "features")
POOLED = ("recall", "tokens")
GLOBALS = 5  # pooled cosine, MaxSim query→doc and doc→query, log lengths of both sides


@dataclass(frozen=True)
class NetworkConfig:
    """Geometry and size of :class:`MapTransformer`; stored in every weights card."""

    map_rows: int = 64
    map_cols: int = 64
    patch: int = 8
    dim: int = 64
    depth: int = 6
    heads: int = 4
    mlp_ratio: int = 2
    dropout: float = 0.1
    kind: str = "patch"
    channels: tuple[str, ...] = ("cosine",)  # map channels read (see verimap.simmap.CHANNELS); v3 read the cosine
    topical: bool = False  # also read the pooled cosine, MaxSim both ways and the lengths (GLOBALS)
    tags: bool = False  # ``tokens``/``features``: read each token's POS / role / dependency / negation tags
    temperature: float = 0.05  # ``tokens``/``features``: softness of the alignment over a map row
    # The topical "pooled cosine": of the recall vectors ("recall"), or of the token vectors' means ("tokens",
    # verimap.tower.token_mean: with a tower, its own learned sentence vectors).
    pooled: str = "recall"
    # ``tokens``/``features``: also a linear path from the topical evidence straight to the logit, so a pair whose map
    # says little (two requests of one intent in other words) is judged on its pooled cosine without a detour.
    skip: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"network kind must be one of {KINDS}, got {self.kind!r}")
        if self.map_rows % self.patch or self.map_cols % self.patch:
            raise ValueError(f"map size {self.map_rows}x{self.map_cols} must be a multiple of patch {self.patch}")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be divisible by heads {self.heads}")
        if self.pooled not in POOLED:
            raise ValueError(f"network pooled must be one of {POOLED}, got {self.pooled!r}")
        object.__setattr__(self, "channels", tuple(self.channels))
        unknown = set(self.channels) - set(CHANNELS)
        if unknown or not self.channels or self.channels[0] != "cosine":
            raise ValueError(f"channels must start with 'cosine' and be among {CHANNELS}, got {list(self.channels)}")

    @classmethod
    def from_dict(cls, data: dict) -> NetworkConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown network config keys: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d


def build_network(config: NetworkConfig) -> nn.Module:
    """The network a config describes."""
    return {"patch": MapTransformer, "tokens": TokenTransformer, "features": FeatureMLP}[config.kind](config)


def topical_features(batch: PairBatch) -> torch.Tensor:
    """``(B, GLOBALS)``: pooled cosine, MaxSim query→doc and doc→query, log lengths (what a dense retriever and
    ColBERT know), so the verdict can be calibrated against topical evidence."""
    maps, mask = batch.maps[:, 0], batch.mask
    fill = torch.finfo(maps.dtype).min
    masked = maps.masked_fill(~mask, fill)
    rows, cols = mask.any(2), mask.any(1)
    m, n = rows.sum(1).clamp(min=1), cols.sum(1).clamp(min=1)
    q_best = masked.amax(2).clamp(min=-1) * rows
    d_best = masked.amax(1).clamp(min=-1) * cols
    return torch.stack(
        [
            batch.pooled.to(maps.dtype),
            q_best.sum(1) / m,
            d_best.sum(1) / n,
            torch.log(m.to(maps.dtype)) / 4,
            torch.log(n.to(maps.dtype)) / 4,
        ],
        1,
    )


def map_channels(maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, C + 3, M, N)``: the ``C`` channels, the cosine's row-max and column-max broadcast over the map, and the
    mask (channel 0 of ``maps`` is the cosine)."""
    cos = maps[:, 0]
    fill = torch.finfo(maps.dtype).min
    masked = cos.masked_fill(~mask, fill)
    row_max = masked.amax(dim=2, keepdim=True).expand_as(cos)
    col_max = masked.amax(dim=1, keepdim=True).expand_as(cos)
    m = mask.to(maps.dtype)
    extra = torch.stack([row_max.clamp(min=-1) * m, col_max.clamp(min=-1) * m, m], dim=1)
    return torch.cat([maps * m.unsqueeze(1), extra], dim=1)


def _encoder(c: NetworkConfig) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        c.dim, c.heads, c.dim * c.mlp_ratio, c.dropout, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, c.depth, enable_nested_tensor=False)


class MapTransformer(nn.Module):
    """Channel maps → match logit, by a ViT over 8x8 patches (``kind = "patch"``)."""

    def __init__(self, config: NetworkConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or NetworkConfig()
        self.grid = (c.map_rows // c.patch, c.map_cols // c.patch)
        self.embed = nn.Conv2d(len(c.channels) + 3, c.dim, kernel_size=c.patch, stride=c.patch)
        self.pos = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1], c.dim))
        self.cls = nn.Parameter(torch.zeros(1, 1, c.dim))
        self.encoder = _encoder(c)
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, 1)
        if c.topical:
            self.topical = nn.Linear(GLOBALS, c.dim)
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.cls, std=0.02)

    def forward(self, batch: PairBatch) -> torch.Tensor:
        batch = batch.only(self.config.channels)
        maps, mask = batch.maps, batch.mask
        # Patch rows/columns that are padding in every map of the batch are cut off before the Transformer:
        # padded patches are hidden from attention anyway, so the logit is the same, and a 20-token query
        # against a 56-token passage costs 3x7 patches instead of 8x8.
        p = self.config.patch
        rows = _used(mask.any(2).any(0), p)
        cols = _used(mask.any(1).any(0), p)
        maps, mask = maps[:, :, : rows * p, : cols * p], mask[:, : rows * p, : cols * p]
        pos = self.pos.reshape(1, *self.grid, -1)[:, :rows, :cols].flatten(1, 2)
        x = self.embed(map_channels(maps, mask)).flatten(2).transpose(1, 2) + pos
        # Patches with no valid cell carry nothing: hide them from attention.
        empty = ~mask.reshape(mask.shape[0], rows, p, cols, p).any(4).any(2).flatten(1)
        cls = self.cls.expand(x.shape[0], -1, -1)
        if self.config.topical:
            cls = cls + self.topical(topical_features(batch)).unsqueeze(1)
        x = torch.cat([cls, x], dim=1)
        pad = torch.cat([torch.zeros_like(empty[:, :1]), empty], dim=1)
        x = self.encoder(x, src_key_padding_mask=pad)
        return self.head(self.norm(x[:, 0])).squeeze(-1)


def _used(any_valid: torch.Tensor, patch: int) -> int:
    """Patches needed to cover the last valid index of ``any_valid`` (at least one)."""
    idx = torch.nonzero(any_valid)
    last = int(idx[-1]) + 1 if len(idx) else 1
    return max(1, -(-last // patch))


def alignment_features(
    batch: PairBatch, temperature: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per query token (rows) and per document token (columns): what the map says about its match.

    Returns ``(row_features (B, M, F), row_valid (B, M), row_match (B, M), col_features (B, N, F), col_valid,
    col_match)`` where ``*_match`` is the index of the best-matching token on the other side and the ``F`` features
    are: every channel at the best match, every channel's softmax-weighted mean over the row (column), the best and
    second-best cosines, the token's relative position, its match's relative position, and whether the match is
    mutual (the best match's best match is this token)."""
    maps, mask = batch.maps, batch.mask

    def side(maps: torch.Tensor, mask: torch.Tensor):
        # maps (B, C, A, O): rows are this side's tokens, columns the other side's.
        cos = maps[:, 0]
        valid = mask.any(2)
        fill = -1e4
        masked = cos.masked_fill(~mask, fill)
        top = masked.topk(min(2, masked.shape[2]), dim=2)
        best = top.values[:, :, 0].clamp(min=-1)
        second = (top.values[:, :, 1] if top.values.shape[2] > 1 else top.values[:, :, 0]).clamp(min=-1)
        match = top.indices[:, :, 0]
        at_best = maps.gather(3, match[:, None, :, None].expand(-1, maps.shape[1], -1, 1)).squeeze(3)
        weights = torch.softmax(masked / temperature, dim=2) * mask
        soft = (maps * weights.unsqueeze(1)).sum(3)
        own_len = valid.sum(1, keepdim=True).clamp(min=1)
        other_len = mask.any(1).sum(1, keepdim=True).clamp(min=1)
        index = torch.arange(cos.shape[1], device=cos.device).unsqueeze(0)
        back = masked.argmax(1)  # (B, O): for each other-side token, its best match on this side
        mutual = back.gather(1, match) == index
        feats = torch.cat(
            [
                at_best.transpose(1, 2),
                soft.transpose(1, 2),
                torch.stack([best, second, index / own_len, match / other_len, mutual.to(cos.dtype)], 2),
            ],
            2,
        )
        return feats * valid.unsqueeze(2), valid, match

    rows = side(maps, mask)
    cols = side(maps.transpose(2, 3), mask.transpose(1, 2))
    return (*rows, *cols)


def _crop(batch: PairBatch) -> PairBatch:
    """Cut rows and columns that are padding in every pair of the batch (the same logits, less work)."""
    m = int(batch.mask.any(2).any(0).nonzero().max()) + 1 if batch.mask.any() else 1
    n = int(batch.mask.any(1).any(0).nonzero().max()) + 1 if batch.mask.any() else 1
    return PairBatch(
        batch.maps[:, :, :m, :n],
        batch.mask[:, :m, :n],
        batch.q_tags[:, :, :m],
        batch.d_tags[:, :, :n],
        batch.pooled,
        batch.channels,
    )


class _TagEmbedding(nn.Module):
    """A token's POS, role, dependency and negation tags (and its match's POS and role) as one vector."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.pos = nn.Embedding(len(POS), dim)
        self.role = nn.Embedding(len(ROLES), dim)
        self.dep = nn.Embedding(len(DEPS), dim)
        self.neg = nn.Embedding(2, dim)
        self.match_pos = nn.Embedding(len(POS), dim)
        self.match_role = nn.Embedding(len(ROLES), dim)

    def forward(self, own: torch.Tensor, other: torch.Tensor, match: torch.Tensor) -> torch.Tensor:
        # own (B, 4, A) tags of this side; other (B, 4, O) of the other side; match (B, A) indices into O.
        matched = other.gather(2, match.unsqueeze(1).expand(-1, other.shape[1], -1))
        return (
            self.pos(own[:, 0])
            + self.role(own[:, 1])
            + self.dep(own[:, 2])
            + self.neg(own[:, 3].clamp(0, 1))
            + self.match_pos(matched[:, 0])
            + self.match_role(matched[:, 1])
        )


class TokenTransformer(nn.Module):
    """Channel maps → match logit, reading one sequence element per query token and per document token
    (``kind = "tokens"``)."""

    def __init__(self, config: NetworkConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or NetworkConfig(kind="tokens")
        features = 2 * len(c.channels) + 5
        self.row_in = nn.Linear(features, c.dim)
        self.col_in = nn.Linear(features, c.dim)
        self.index = nn.Embedding(max(c.map_rows, c.map_cols), c.dim)
        if c.tags:
            self.row_tags = _TagEmbedding(c.dim)
            self.col_tags = _TagEmbedding(c.dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, c.dim))
        if c.topical:
            self.topical = nn.Linear(GLOBALS, c.dim)
        self.encoder = _encoder(c)
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, 1)
        if c.skip:
            self.skip = nn.Linear(GLOBALS, 1)
        nn.init.trunc_normal_(self.cls, std=0.02)

    def forward(self, batch: PairBatch) -> torch.Tensor:
        c = self.config
        batch = _crop(batch.only(c.channels))
        rows, row_valid, row_match, cols, col_valid, col_match = alignment_features(batch, c.temperature)
        m, n = rows.shape[1], cols.shape[1]
        dev = rows.device
        x_rows = self.row_in(rows) + self.index(torch.arange(m, device=dev))
        x_cols = self.col_in(cols) + self.index(torch.arange(n, device=dev))
        if c.tags:
            x_rows = x_rows + self.row_tags(batch.q_tags, batch.d_tags, row_match)
            x_cols = x_cols + self.col_tags(batch.d_tags, batch.q_tags, col_match)
        cls = self.cls.expand(rows.shape[0], -1, -1)
        if c.topical:
            cls = cls + self.topical(topical_features(batch)).unsqueeze(1)
        x = torch.cat([cls, x_rows, x_cols], 1)
        pad = torch.cat([torch.zeros_like(row_valid[:, :1]), ~row_valid, ~col_valid], 1)
        x = self.encoder(x, src_key_padding_mask=pad)
        logit = self.head(self.norm(x[:, 0])).squeeze(-1)
        return logit + self.skip(topical_features(batch)).squeeze(-1) if c.skip else logit


class FeatureMLP(nn.Module):
    """The feature-only baseline (``kind = "features"``): per-token alignment features pooled by mean and min over
    each side, plus the topical evidence, into a small MLP. No map is read beyond each token's best match."""

    def __init__(self, config: NetworkConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or NetworkConfig(kind="features")
        features = 2 * len(c.channels) + 5
        self.mlp = nn.Sequential(
            nn.Linear(4 * features + GLOBALS, c.dim),
            nn.GELU(),
            nn.Dropout(c.dropout),
            nn.Linear(c.dim, c.dim),
            nn.GELU(),
            nn.Linear(c.dim, 1),
        )

    def forward(self, batch: PairBatch) -> torch.Tensor:
        batch = _crop(batch.only(self.config.channels))
        rows, row_valid, _, cols, col_valid, _ = alignment_features(batch, self.config.temperature)

        def pool(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
            count = valid.sum(1, keepdim=True).clamp(min=1)
            mean = x.sum(1) / count
            low = x.masked_fill(~valid.unsqueeze(2), 1e4).amin(1)
            return torch.cat([mean, torch.where(valid.any(1, keepdim=True), low, 0.0)], 1)

        feats = torch.cat([pool(rows, row_valid), pool(cols, col_valid), topical_features(batch)], 1)
        return self.mlp(feats).squeeze(-1)
