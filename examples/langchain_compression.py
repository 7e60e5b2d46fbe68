"""verimap in LangChain: Chroma for recall, the structural verifier (a document compressor) for judgment. Offline.

    pip install -e "integrations/langchain[test]"    # from the checkout: langchain-verimap, langchain-chroma, ...
    python examples/langchain_compression.py

Indexes a small corpus into a persistent Chroma (in a temp dir) with VerimapEmbeddings (the bundled encoder,
no download), then asks "Did the dog bite the man?" two ways:

1. VerifiedRetriever wrapping Chroma's retriever, with the defaults: ``mode="fuse"`` orders the candidates by the
   verifier fused with MaxSim and drops nothing (the policy that ranked best on SciFact, docs/benchmarks.md);
   ``verifier_accepted`` still reports each document's verdict at the weights card's threshold;
2. ContextualCompressionRetriever with StructuralVerifierCompressor(mode="rerank", return_rejected=True), which
   orders by the verifier alone and drops what it rejects, to show the verdict on the near-miss "The man bit the
   dog." (the same words as the true match, with the roles swapped).
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # Chroma telemetry off, before chromadb is imported

import chromadb  # noqa: E402
from langchain_chroma import Chroma  # noqa: E402
from langchain_classic.retrievers import ContextualCompressionRetriever  # noqa: E402
from langchain_core.documents import Document  # noqa: E402

from langchain_verimap import StructuralVerifierCompressor, VerifiedRetriever, VerimapEmbeddings  # noqa: E402

QUERY = "Did the dog bite the man?"

# id -> text: the true match, its structural near-miss (the same words, the roles swapped), topical and off-topic text
CORPUS = {
    "near-miss": "The man bit the dog.",
    "true-match": "The dog bit the man.",
    "postman": "A dog chased the postman down the street.",
    "bark": "Dogs bark at strangers who come near the house.",
    "cat": "The cat slept on the warm windowsill all afternoon.",
    "rates": "Interest rates rose by a quarter point in March.",
}


def show(title: str, docs: list[Document]) -> None:
    print(f"\n{title}")
    if not docs:
        print("  (nothing passed the verifier)")
    for d in docs:
        if "verifier_score" not in d.metadata:  # not verified (plain Chroma)
            print(f"  {'':8} {'':20}  [{d.id}] {d.page_content}")
            continue
        if d.metadata.get("verimap_rejected"):
            flag = "REJECTED"  # dropped under the threshold, returned only because return_rejected=True
        else:
            flag = "accepted" if d.metadata["verifier_accepted"] else "under"  # kept either way (fuse drops nothing)
        print(
            f"  {flag:8} score {d.metadata['relevance_score']:.3f} p {d.metadata['verifier_score']:.3f}"
            f"  [{d.id}] {d.page_content}"
        )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="verimap-chroma-") as path:
        store = Chroma(
            collection_name="verimap-example",
            embedding_function=VerimapEmbeddings(),  # offline; the verifier below reuses the same loaded encoder
            persist_directory=path,
            client_settings=chromadb.config.Settings(
                anonymized_telemetry=False, is_persistent=True, persist_directory=path
            ),
        )
        store.add_documents([Document(page_content=text, id=key) for key, text in CORPUS.items()])
        candidates = store.as_retriever(search_kwargs={"k": 50})  # recall: every plausible candidate

        print(f"Query: {QUERY}")
        show("Chroma alone (pooled-vector similarity, top 4):", candidates.invoke(QUERY)[:4])

        verified = VerifiedRetriever(base_retriever=candidates, k=3)  # default: fuse with MaxSim, drop nothing
        show(
            "VerifiedRetriever (k=3): the verifier fused with MaxSim, nothing dropped "
            "(score = fused score, p = verifier probability):",
            verified.invoke(QUERY),
        )

        compression = ContextualCompressionRetriever(
            base_compressor=StructuralVerifierCompressor(mode="rerank", top_n=3, return_rejected=True),
            base_retriever=candidates,
        )
        docs = compression.invoke(QUERY)
        show(
            'ContextualCompressionRetriever + StructuralVerifierCompressor(mode="rerank", return_rejected=True):', docs
        )
        verdict = {d.id: d.metadata["verifier_accepted"] for d in docs}
        print(
            f"\nnear-miss {'kept' if verdict.get('near-miss') else 'rejected'}, "
            f"true match {'kept' if verdict.get('true-match') else 'rejected'}"
            f" (threshold {verified.active_verifier.threshold:.2f}, from the weights card)"
        )


if __name__ == "__main__":
    main()
