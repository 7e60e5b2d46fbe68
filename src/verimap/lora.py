"""Low-rank adapters (LoRA) for the verifier-side copy of the encoder.

Recall keeps the stock encoder, so every index stays valid; the verifier may read token vectors from a copy
of the same encoder with small low-rank updates trained end to end through the verifier network. The
adapter's tensors live in the verifier's safetensors file under the ``encoder_lora.`` prefix.

>>> import torch
>>> lin = torch.nn.Linear(4, 3)
>>> lora = LoRALinear(lin, rank=2, alpha=4.0)
>>> torch.allclose(lora(torch.ones(1, 4)), lin(torch.ones(1, 4)))   # B starts at zero: no change at first
True
>>> _ = torch.nn.init.normal_(lora.lora_b)
>>> merged = merge_lora(torch.nn.Sequential(lora))                   # one plain Linear, same outputs
>>> isinstance(merged[0], torch.nn.Linear), torch.allclose(merged(torch.ones(1, 4)), lora(torch.ones(1, 4)), atol=1e-6)
(True, True)
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

PREFIX = "encoder_lora."
# BERT's attention projections and feed-forward layers in every block.
DEFAULT_TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


class LoRALinear(nn.Module):
    """``base(x) + scale * x A^T B^T`` with ``base`` frozen."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.rank = rank
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, device=base.weight.device))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        for p in self.base.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


def add_lora(model: nn.Module, rank: int, alpha: float, targets: tuple[str, ...] = DEFAULT_TARGETS) -> nn.Module:
    """A deep copy of ``model`` with every linear layer whose name ends with a target wrapped in LoRA.

    The copy's own weights are frozen; only the LoRA tensors train. The original model is untouched.
    """
    adapted = copy.deepcopy(model)
    for p in adapted.parameters():
        p.requires_grad_(False)
    names = [n for n, m in adapted.named_modules() if isinstance(m, nn.Linear) and n.endswith(targets)]
    if not names:
        raise ValueError(f"no linear layer matches the LoRA targets {targets}")
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = adapted.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), rank, alpha))
    return adapted


def lora_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's tensors, prefixed for the weights file."""
    return {PREFIX + k: v for k, v in model.state_dict().items() if ".lora_" in k}


def load_lora_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = {k for k in model.state_dict() if ".lora_" in k}
    given = {k[len(PREFIX) :]: v for k, v in state.items() if k.startswith(PREFIX)}
    if set(given) != own:
        missing, extra = sorted(own - set(given))[:3], sorted(set(given) - own)[:3]
        raise ValueError(f"adapter tensors do not fit the encoder (missing {missing}, unexpected {extra})")
    model.load_state_dict(given, strict=False)


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA layer into a plain ``nn.Linear`` (``W + scale * B A``), in place, for inference: the
    tuned encoder then costs exactly what the stock one does. Not trainable as an adapter any more."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            base = module.base
            merged = nn.Linear(
                base.in_features,
                base.out_features,
                bias=base.bias is not None,
                device=base.weight.device,
                dtype=base.weight.dtype,
            )
            merged.weight.copy_(base.weight + module.scale * (module.lora_b @ module.lora_a))
            if base.bias is not None:
                merged.bias.copy_(base.bias)
            merged.requires_grad_(False)
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, merged)
    return model
