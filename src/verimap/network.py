"""The verifier network: a small deep-and-thin ViT over the similarity map.

It sees four channels per map cell: the cosine, its row's best match, its column's best match
(the ColBERT-style evidence, so the network starts from what MaxSim knows) and the validity mask.
Patches of the map become tokens; depth is favoured over width (MobileLLM: at small scale,
depth wins), so the default is 6 layers of width 64 (~0.3 M parameters).

>>> import torch
>>> from verimap.network import MapTransformer, NetworkConfig
>>> net = MapTransformer(NetworkConfig(map_rows=16, map_cols=16, patch=8, dim=32, depth=2, heads=2))
>>> net(torch.rand(3, 16, 16), torch.ones(3, 16, 16, dtype=torch.bool)).shape
torch.Size([3])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

CHANNELS = 4


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

    def __post_init__(self) -> None:
        if self.map_rows % self.patch or self.map_cols % self.patch:
            raise ValueError(f"map size {self.map_rows}x{self.map_cols} must be a multiple of patch {self.patch}")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be divisible by heads {self.heads}")

    @classmethod
    def from_dict(cls, data: dict) -> NetworkConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown network config keys: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


def map_channels(maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, 4, M, N)``: cosine, row-max and column-max broadcast over the map, and the mask."""
    fill = torch.finfo(maps.dtype).min
    masked = maps.masked_fill(~mask, fill)
    row_max = masked.amax(dim=2, keepdim=True).expand_as(maps)
    col_max = masked.amax(dim=1, keepdim=True).expand_as(maps)
    m = mask.to(maps.dtype)
    return torch.stack([maps * m, row_max.clamp(min=-1) * m, col_max.clamp(min=-1) * m, m], dim=1)


class MapTransformer(nn.Module):
    """Similarity map → match logit."""

    def __init__(self, config: NetworkConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or NetworkConfig()
        self.grid = (c.map_rows // c.patch, c.map_cols // c.patch)
        self.embed = nn.Conv2d(CHANNELS, c.dim, kernel_size=c.patch, stride=c.patch)
        self.pos = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1], c.dim))
        self.cls = nn.Parameter(torch.zeros(1, 1, c.dim))
        layer = nn.TransformerEncoderLayer(
            c.dim, c.heads, c.dim * c.mlp_ratio, c.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, c.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, 1)
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.cls, std=0.02)

    def forward(self, maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Patch rows/columns that are padding in every map of the batch are cut off before the Transformer:
        # padded patches are hidden from attention anyway, so the logit is the same, and a 20-token query
        # against a 56-token passage costs 3x7 patches instead of 8x8.
        p = self.config.patch
        rows = _used(mask.any(2).any(0), p)
        cols = _used(mask.any(1).any(0), p)
        maps, mask = maps[:, : rows * p, : cols * p], mask[:, : rows * p, : cols * p]
        pos = self.pos.reshape(1, *self.grid, -1)[:, :rows, :cols].flatten(1, 2)
        x = self.embed(map_channels(maps, mask)).flatten(2).transpose(1, 2) + pos
        # Patches with no valid cell carry nothing: hide them from attention.
        empty = ~mask.reshape(mask.shape[0], rows, p, cols, p).any(4).any(2).flatten(1)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        pad = torch.cat([torch.zeros_like(empty[:, :1]), empty], dim=1)
        x = self.encoder(x, src_key_padding_mask=pad)
        return self.head(self.norm(x[:, 0])).squeeze(-1)


def _used(any_valid: torch.Tensor, patch: int) -> int:
    """Patches needed to cover the last valid index of ``any_valid`` (at least one)."""
    idx = torch.nonzero(any_valid)
    last = int(idx[-1]) + 1 if len(idx) else 1
    return max(1, -(-last // patch))
