# First, so that without Haystack the error names the package to install.
import haystack_integrations.common.verimap  # noqa: F401
from haystack_integrations.components.embedders.verimap.document_embedder import VerimapDocumentEmbedder
from haystack_integrations.components.embedders.verimap.text_embedder import VerimapTextEmbedder

__all__ = ["VerimapDocumentEmbedder", "VerimapTextEmbedder"]
