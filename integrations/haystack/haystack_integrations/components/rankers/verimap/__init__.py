from haystack_integrations.components.rankers.verimap.ranker import StructuralVerifierRanker

__all__ = ["StructuralVerifierRanker"]
