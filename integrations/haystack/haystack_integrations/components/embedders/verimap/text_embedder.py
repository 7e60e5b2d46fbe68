"""``VerimapTextEmbedder``: embeds a query offline with verimap's bundled encoder (all-MiniLM-L6-v2)."""

from typing import TYPE_CHECKING, Any

from haystack import component, default_from_dict, default_to_dict
from haystack.utils import ComponentDevice

from haystack_integrations.common.verimap import deserialize_device, resolve_device, serialize_device, shared_encoder

if TYPE_CHECKING:
    from verimap import TokenEncoder


@component
class VerimapTextEmbedder:
    """Embeds a string (usually the query) with the encoder the verifier reads: no download, no API key.

    The vector is the L2-normalised mean-pooled sentence vector of the bundled all-MiniLM-L6-v2 (384 dimensions),
    the same space as :class:`VerimapDocumentEmbedder`'s.

    ### Usage example

    ```python
    from haystack_integrations.components.embedders.verimap import VerimapTextEmbedder

    embedder = VerimapTextEmbedder()
    embedder.warm_up()
    embedder.run(text="Did the dog bite the man?")["embedding"]  # 384 floats
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
    ) -> None:
        """
        :param device: the device to run on; ``None`` picks Haystack's default (the GPU if there is one, else CPU).
        :param prefix: text put before the text to embed.
        :param suffix: text put after the text to embed.
        :param batch_size: accepted for compatibility with Haystack's text embedders (one text per call).
        :param progress_bar: accepted for compatibility with Haystack's text embedders (one text per call).
        """
        self.device = device
        self.prefix = prefix
        self.suffix = suffix
        self.batch_size = batch_size
        self.progress_bar = progress_bar
        self._encoder: TokenEncoder | None = None

    def warm_up(self) -> None:
        """Load the encoder (once per process, shared with the other verimap components)."""
        if self._encoder is None:
            self._encoder = shared_encoder(resolve_device(self.device))

    @component.output_types(embedding=list[float], meta=dict[str, Any])
    def run(self, text: str) -> dict[str, Any]:
        """
        Embed ``text``.

        :param text: the string to embed.
        :returns: ``embedding``: a list of floats; ``meta``: the encoder's id.
        """
        if not isinstance(text, str):
            raise TypeError(
                "VerimapTextEmbedder expects a string as input. To embed Documents, use VerimapDocumentEmbedder."
            )
        self.warm_up()
        assert self._encoder is not None
        embedding = self._encoder.pooled([self.prefix + text + self.suffix])[0].tolist()
        return {"embedding": embedding, "meta": {"model": self._encoder.encoder_id}}

    def to_dict(self) -> dict[str, Any]:
        """Serialise the component to a dictionary."""
        return default_to_dict(
            self,
            device=serialize_device(self.device),
            prefix=self.prefix,
            suffix=self.suffix,
            batch_size=self.batch_size,
            progress_bar=self.progress_bar,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VerimapTextEmbedder":
        """Deserialise the component from a dictionary."""
        data = {**data, "init_parameters": dict(data.get("init_parameters", {}))}
        if "device" in data["init_parameters"]:
            data["init_parameters"]["device"] = deserialize_device(data["init_parameters"]["device"])
        return default_from_dict(cls, data)
