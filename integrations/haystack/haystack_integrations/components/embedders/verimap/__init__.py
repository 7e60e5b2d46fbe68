from haystack_integrations.components.embedders.verimap.document_embedder import VerimapDocumentEmbedder
from haystack_integrations.components.embedders.verimap.text_embedder import VerimapTextEmbedder

__all__ = ["VerimapDocumentEmbedder", "VerimapTextEmbedder"]
