"""``VerimapDocumentEmbedder``: embeds documents offline with verimap's bundled encoder (all-MiniLM-L6-v2)."""

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from haystack import Document, component, default_from_dict, default_to_dict, logging
from haystack.utils import ComponentDevice
from tqdm import tqdm

from haystack_integrations.common.verimap import (
    deserialize_device,
    document_text,
    resolve_device,
    serialize_device,
    shared_encoder,
    shared_token_encoder,
)
from verimap.cache import attach_token_file, check_token_file

if TYPE_CHECKING:
    from verimap import TokenEncoder

logger = logging.getLogger(__name__)


@component
class VerimapDocumentEmbedder:
    """Computes document embeddings with the encoder the verifier reads (no download, no API key).

    The vectors are the L2-normalised mean-pooled sentence vectors of the bundled all-MiniLM-L6-v2 (384
    dimensions), so a document store filled by this embedder can be queried with :class:`VerimapTextEmbedder` or
    ``VerifiedRetriever``, and the encoder is loaded once per process for all verimap components.

    Output documents are copies with ``embedding`` set; inputs are not modified. A document whose ``content`` is
    ``None`` or blank is returned unchanged (no embedding) and a warning is logged.

    With ``token_file``, the token vectors of every text embedded are also written to that SQLite file, for a
    ``StructuralVerifierRanker`` or ``VerifiedRetriever`` given the same ``token_file`` (in this process or a later
    one) to read instead of encoding again (docs/token-files.md). They are the token vectors the verifier of
    ``weights`` reads (its tower's, when the weights have one), so give the ranker the same ``weights``; the
    embeddings are the same whatever the weights.

    ### Usage example

    ```python
    from haystack import Document
    from haystack_integrations.components.embedders.verimap import VerimapDocumentEmbedder

    embedder = VerimapDocumentEmbedder()
    embedder.warm_up()
    docs = embedder.run(documents=[Document(content="The dog bit the man.")])["documents"]
    len(docs[0].embedding)  # 384
    ```
    """

    def __init__(
        self,
        *,
        device: ComponentDevice | None = None,
        prefix: str = "",
        suffix: str = "",
        batch_size: int = 32,
        progress_bar: bool = True,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        token_file: str | None = None,
        weights: str | None = None,
    ) -> None:
        """
        :param device: the device to run on; ``None`` picks Haystack's default (the GPU if there is one, else CPU).
        :param prefix: text put before each document's text.
        :param suffix: text put after each document's text.
        :param batch_size: documents per progress-bar step (the encoder batches its forward passes itself).
        :param progress_bar: show a progress bar while embedding.
        :param meta_fields_to_embed: meta fields whose values are embedded together with the content.
        :param embedding_separator: separator between the meta values and the content.
        :param token_file: path of a verimap token file (SQLite, created if missing) to write the embedded texts'
            token vectors to. Only texts the ranker reads identically hit: the same ``meta_fields_to_embed`` and
            ``embedding_separator``, the ranker's ``document_prefix`` equal to this ``prefix``, and no ``suffix``
            here. ``None`` (default): nothing is written. How token files behave: docs/token-files.md.
        :param weights: the verifier weights (a ``.safetensors`` path; ``None``: shipped) whose token vectors go to
            ``token_file``: those of the ranker / retriever that will read it. Loaded at warm-up, and only with a
            ``token_file``; the embeddings do not depend on it.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.device = device
        self.prefix = prefix
        self.suffix = suffix
        self.batch_size = batch_size
        self.progress_bar = progress_bar
        self.meta_fields_to_embed = list(meta_fields_to_embed or [])
        self.embedding_separator = embedding_separator
        self.token_file = check_token_file(token_file)
        self.weights = weights
        self._encoder: TokenEncoder | None = None
        self._persist: Path | None = None  # token_file, resolved, once attached to the encoder's cache

    def warm_up(self) -> None:
        """Load the encoder (once per process, shared with the other verimap components) and open ``token_file``.

        With a ``token_file``, the encoder is the verifier's view of it for ``weights`` (the same loaded model and
        token cache; its token vectors the ones the ranker reads)."""
        if self._encoder is None:
            device = resolve_device(self.device)
            encoder = shared_token_encoder(self.weights, device) if self.token_file else shared_encoder(device)
            # Opened here so a bad file fails at warm-up; the component stays cold (and fails again) until fixed.
            # Resolved now, so a later change of working directory does not move where the vectors go.
            self._persist = attach_token_file(encoder.cache, self.token_file, type(self).__name__)
            self._encoder = encoder

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """
        Embed ``documents``.

        :param documents: the documents to embed.
        :returns: ``documents``: copies with ``embedding`` set (a list of floats); ``meta``: the id of the encoder the
            embeddings come from.
        """
        if not isinstance(documents, list) or not all(isinstance(d, Document) for d in documents):
            raise TypeError(
                "VerimapDocumentEmbedder expects a list of Documents as input. "
                "To embed a string, use VerimapTextEmbedder."
            )
        self.warm_up()
        assert self._encoder is not None
        texts: dict[int, str] = {}
        for i, doc in enumerate(documents):
            text = document_text(
                doc,
                meta_fields_to_embed=self.meta_fields_to_embed,
                embedding_separator=self.embedding_separator,
                prefix=self.prefix,
                suffix=self.suffix,
            )
            if text is None:
                logger.warning("Document {doc_id} has no text content and was not embedded", doc_id=doc.id)
            else:
                texts[i] = text
        embeddings: dict[int, list[float]] = {}
        items = list(texts.items())
        for start in tqdm(
            range(0, len(items), self.batch_size), disable=not self.progress_bar, desc="Calculating embeddings"
        ):
            chunk = items[start : start + self.batch_size]
            vectors = self._encoder.pooled([t for _, t in chunk], persist=self._persist).tolist()
            embeddings.update(zip((i for i, _ in chunk), vectors))
        out = [
            replace(doc, embedding=embeddings[i]) if i in embeddings else replace(doc)
            for i, doc in enumerate(documents)
        ]
        return {"documents": out, "meta": {"model": self._encoder.recall_id}}  # the embeddings' encoder

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component to a dictionary."""
        return default_to_dict(
            self,
            device=serialize_device(self.device),
            prefix=self.prefix,
            suffix=self.suffix,
            batch_size=self.batch_size,
            progress_bar=self.progress_bar,
            meta_fields_to_embed=self.meta_fields_to_embed,
            embedding_separator=self.embedding_separator,
            token_file=self.token_file,
            weights=self.weights,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VerimapDocumentEmbedder":
        """Deserialise the component from a dictionary."""
        data = {**data, "init_parameters": dict(data.get("init_parameters", {}))}
        if "device" in data["init_parameters"]:
            data["init_parameters"]["device"] = deserialize_device(data["init_parameters"]["device"])
        return default_from_dict(cls, data)
