from haystack_integrations.components.retrievers.verimap.retriever import VerifiedRetriever

__all__ = ["VerifiedRetriever"]
