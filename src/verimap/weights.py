"""Shipped verifier weights: a safetensors file plus a JSON card, checked before anything is loaded.

Only safetensors and JSON are ever read (no pickle), the file's sha256 must match its card, and the card's
encoder and map geometry must match the encoder and network that will use them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from verimap.network import MapTransformer, NetworkConfig

FORMAT = "verimap-verifier/1"
SHIPPED = Path(__file__).resolve().parent / "weights" / "verifier.safetensors"


class WeightsError(ValueError):
    """A weights file or its card is missing, damaged or made for another encoder / geometry."""


@dataclass
class Card:
    """What a weights file is: network geometry, encoder, calibration, policy defaults and provenance."""

    encoder: str
    network: NetworkConfig
    calibration: dict[str, float] = field(default_factory=lambda: {"scale": 1.0, "bias": 0.0})
    threshold: float = 0.5
    fuse_weight: float = 0.5
    symmetric: bool = False
    adapter: dict[str, Any] | None = None  # LoRA on a verifier-side encoder copy: {"rank", "alpha", "targets"}
    sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # data, metrics, seed, license, command, ...

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "encoder": self.encoder,
            "network": self.network.to_dict(),
            "calibration": self.calibration,
            "threshold": self.threshold,
            "fuse_weight": self.fuse_weight,
            "symmetric": self.symmetric,
            "adapter": self.adapter,
            "sha256": self.sha256,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "card") -> "Card":
        if data.get("format") != FORMAT:
            raise WeightsError(f"{source}: format {data.get('format')!r} is not {FORMAT!r}")
        try:
            known = {"format", "encoder", "network", "calibration", "threshold", "fuse_weight", "symmetric", "adapter",
                     "sha256"}
            return cls(
                encoder=str(data["encoder"]),
                network=NetworkConfig.from_dict(data["network"]),
                calibration={k: float(v) for k, v in data.get("calibration", {"scale": 1.0, "bias": 0.0}).items()},
                threshold=float(data.get("threshold", 0.5)),
                fuse_weight=float(data.get("fuse_weight", 0.5)),
                symmetric=bool(data.get("symmetric", False)),
                adapter=data.get("adapter"),
                sha256=data.get("sha256"),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"{source}: invalid card ({exc})") from exc


def card_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save(network: MapTransformer, card: Card, path: str | Path,
         adapter_state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write ``path`` (safetensors: network tensors, plus ``encoder_lora.*`` adapter tensors if any) and its
    card beside it (same name, ``.json``)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    state.update({k: v.detach().cpu().contiguous() for k, v in (adapter_state or {}).items()})
    save_file(state, str(path), metadata={"format": FORMAT})
    card.network = network.config
    card.sha256 = sha256_of(path)
    card_path(path).write_text(json.dumps(card.to_dict(), indent=2) + "\n")
    return path


def load(path: str | Path | None = None, *, encoder_id: str | None = None
         ) -> tuple[MapTransformer, Card, dict[str, torch.Tensor]]:
    """Load a network, its card and its encoder-adapter tensors (empty without an adapter; default file: the
    shipped weights), refusing anything inconsistent.

    :param encoder_id: when given, the card's encoder must equal it.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path) if path is not None else SHIPPED
    cpath = card_path(path)
    if not path.is_file():
        raise WeightsError(f"verifier weights not found: {path}")
    if not cpath.is_file():
        raise WeightsError(f"weights card not found: {cpath} (every weights file needs its JSON card)")
    try:
        card = Card.from_dict(json.loads(cpath.read_text()), source=str(cpath))
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{cpath}: not valid JSON ({exc})") from exc
    if card.sha256 and sha256_of(path) != card.sha256:
        raise WeightsError(f"{path}: sha256 does not match its card {cpath.name} (file truncated or altered)")
    if encoder_id is not None and card.encoder != encoder_id:
        raise WeightsError(
            f"{path} was trained for encoder {card.encoder!r}, but the verifier is using {encoder_id!r}"
        )
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
    from verimap.adapter import PREFIX

    adapter_state = {k: v for k, v in state.items() if k.startswith(PREFIX)}
    state = {k: v for k, v in state.items() if not k.startswith(PREFIX)}
    if bool(adapter_state) != bool(card.adapter):
        raise WeightsError(f"{path}: the card and the file disagree on whether there is an encoder adapter")
    network = MapTransformer(card.network)
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        diff = sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))[:5]
        raise WeightsError(f"{path}: tensors do not fit the card's network geometry (first mismatches: {diff})")
    network.load_state_dict(state)
    return network.eval(), card, adapter_state
