"""Shipped verifier weights: a safetensors file plus a JSON card, checked before anything is loaded.

Only safetensors and JSON are ever read (no pickle), the file's sha256 must match its card, and the card's
encoder and map geometry must match the encoder and network that will use them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from verimap.errors import WeightsError
from verimap.network import NetworkConfig, build_network

__all__ = ["SHIPPED", "Card", "WeightsError", "card_path", "load", "save", "sha256_of"]

FORMAT = "verimap-verifier/1"
SHIPPED = Path(__file__).resolve().parent / "weights" / "verifier.safetensors"


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
    tower: dict[str, Any] | None = None  # a tuned copy of the encoder's top layers (verimap.tower): {"layers"}
    codec: dict[str, Any] | None = None  # a token-file codec trained on the tower's vectors: what it was trained on
    parser: str | None = None  # the dependency parser whose tags the network reads (verimap.parse.PARSER_ID)
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
            "tower": self.tower,
            "codec": self.codec,
            "parser": self.parser,
            "sha256": self.sha256,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "card") -> Card:
        if not isinstance(data, dict):
            raise WeightsError(f"{source}: invalid card (expected a JSON object, got {type(data).__name__})")
        if data.get("format") != FORMAT:
            raise WeightsError(f"{source}: format {data.get('format')!r} is not {FORMAT!r}")
        try:
            _check_card_values(data)
            known = {
                "format",
                "encoder",
                "network",
                "calibration",
                "threshold",
                "fuse_weight",
                "symmetric",
                "adapter",
                "tower",
                "codec",
                "parser",
                "sha256",
            }
            return cls(
                encoder=str(data["encoder"]),
                network=NetworkConfig.from_dict(data["network"]),
                calibration={k: float(v) for k, v in data.get("calibration", {"scale": 1.0, "bias": 0.0}).items()},
                threshold=float(data.get("threshold", 0.5)),
                fuse_weight=float(data.get("fuse_weight", 0.5)),
                symmetric=bool(data.get("symmetric", False)),
                adapter=data.get("adapter"),
                tower=data.get("tower"),
                codec=data.get("codec"),
                parser=data.get("parser"),
                sha256=data.get("sha256"),
                extra={k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise WeightsError(f"{source}: invalid card ({exc})") from exc


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_card_values(data: dict[str, Any]) -> None:
    """Refuse card values that would load but compute garbage (NaN calibration, a threshold of 7, a patch of 0),
    raising ``ValueError`` naming the key. Missing optional keys keep their defaults."""
    if not isinstance(data.get("encoder"), str) or not data["encoder"]:
        raise ValueError("'encoder' must be a non-empty string")
    network = data.get("network")
    if not isinstance(network, dict):
        raise ValueError("'network' must be an object")
    for key, value in network.items():
        if key in ("kind", "channels", "topical", "tags", "pooled", "skip"):
            continue  # checked by NetworkConfig
        if key in ("dropout", "temperature"):
            if not _number(value) or not 0.0 <= value < 1.0 or key == "temperature" and value <= 0:
                raise ValueError(f"network.{key} must be a number in [0, 1), got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"network.{key} must be a positive integer, got {value!r}")
    calibration = data.get("calibration", {"scale": 1.0, "bias": 0.0})
    if not isinstance(calibration, dict) or set(calibration) != {"scale", "bias"}:
        raise ValueError(f"'calibration' must be an object with 'scale' and 'bias', got {calibration!r}")
    for key, value in calibration.items():
        if not _number(value):
            raise ValueError(f"calibration.{key} must be a finite number, got {value!r}")
    for key in ("threshold", "fuse_weight"):
        value = data.get(key, 0.5)
        if not _number(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"'{key}' must be a number in [0, 1], got {value!r}")
    if not isinstance(data.get("symmetric", False), bool):
        raise ValueError(f"'symmetric' must be true or false, got {data['symmetric']!r}")
    adapter = data.get("adapter")
    if adapter is not None:
        if (
            not isinstance(adapter, dict)
            or not isinstance(adapter.get("rank"), int)
            or isinstance(adapter.get("rank"), bool)
            or adapter["rank"] < 1
            or not _number(adapter.get("alpha"))
        ):
            raise ValueError(
                f"'adapter' must be null or an object with a positive integer 'rank' and a number "
                f"'alpha', got {adapter!r}"
            )
    tower = data.get("tower")
    if tower is not None:
        layers = tower.get("layers") if isinstance(tower, dict) else None
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
            raise ValueError(f"'tower' must be null or an object with a positive integer 'layers', got {tower!r}")
        if not isinstance(tower.get("int8", False), bool):
            raise ValueError(f"tower.int8 must be true or false, got {tower['int8']!r}")
        if data.get("adapter") is not None:
            raise ValueError("a card has a tower or an adapter, not both")
    sha = data.get("sha256")
    if sha is not None and (
        not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)
    ):
        raise ValueError(f"'sha256' must be null or 64 lowercase hex digits, got {sha!r}")


def card_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def needs_parse(config: NetworkConfig) -> bool:
    """Whether a network reads what the dependency parser says (channels beyond the cosine, or token tags)."""
    return bool(set(config.channels) - {"cosine"}) or config.tags


def save(
    network: torch.nn.Module, card: Card, path: str | Path, adapter_state: dict[str, torch.Tensor] | None = None
) -> Path:
    """Write ``path`` (safetensors: network tensors, plus the encoder-side tensors if any: ``encoder_lora.*`` of an
    adapter, ``tower.*`` of a tower) and its
    card beside it (same name, ``.json``). The card written is a copy of ``card`` with the network's geometry and
    the file's sha256 filled in; ``card`` itself is left as it was."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    state.update({k: v.detach().cpu().contiguous() for k, v in (adapter_state or {}).items()})
    save_file(state, str(path), metadata={"format": FORMAT})
    written = replace(card, network=network.config, sha256=sha256_of(path))
    card_path(path).write_text(json.dumps(written.to_dict(), indent=2) + "\n")
    return path


def load(
    path: str | Path | None = None, *, encoder_id: str | None = None
) -> tuple[torch.nn.Module, Card, dict[str, torch.Tensor]]:
    """Load a network, its card and its encoder-side tensors (an adapter's or a tower's; empty without; default file: the
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
    if needs_parse(card.network):
        from verimap.parse import PARSER_ID

        if card.parser != PARSER_ID:
            raise WeightsError(
                f"{path} reads the tags of parser {card.parser!r}, but verimap parses with {PARSER_ID!r}"
            )
    if encoder_id is not None and card.encoder != encoder_id:
        raise WeightsError(f"{path} was trained for encoder {card.encoder!r}, but the verifier is using {encoder_id!r}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
    from verimap.lora import PREFIX
    from verimap.tower import CODEC
    from verimap.tower import PREFIX as TOWER

    adapter_state = {k: v for k, v in state.items() if k.startswith((PREFIX, TOWER, CODEC))}
    state = {k: v for k, v in state.items() if k not in adapter_state}
    if any(k.startswith(PREFIX) for k in adapter_state) != bool(card.adapter):
        raise WeightsError(f"{path}: the card and the file disagree on whether there is an encoder adapter")
    if any(k.startswith(TOWER) for k in adapter_state) != bool(card.tower):
        raise WeightsError(f"{path}: the card and the file disagree on whether there is a verifier tower")
    if any(k.startswith(CODEC) for k in adapter_state) != bool(card.codec):
        raise WeightsError(f"{path}: the card and the file disagree on whether there is a token-file codec")
    try:
        network = build_network(card.network)
    except (RuntimeError, ValueError, ZeroDivisionError) as exc:
        raise WeightsError(f"{cpath}: the card's network geometry cannot be built ({exc})") from exc
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        diff = sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))[:5]
        raise WeightsError(f"{path}: tensors do not fit the card's network geometry (first mismatches: {diff})")
    bad = sorted(
        k for k, v in {**state, **adapter_state}.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())
    )[:5]
    if bad:
        raise WeightsError(f"{path}: tensors hold NaN or infinite values (first: {bad})")
    network.load_state_dict(state)
    return network.eval(), card, adapter_state
