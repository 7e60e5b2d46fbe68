"""``verimap eval``: baselines and the verifier side by side on dev data; optionally written to docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from verimap.cli import CLIError

BEGIN, END = "<!-- eval:begin -->", "<!-- eval:end -->"


class MemoEncoder:
    """Encodes each distinct text once for all scorers of one evaluation run."""

    def __init__(self, encoder) -> None:
        self.inner = encoder
        self.encoder_id = encoder.encoder_id
        self.memo: dict = {}

    def encode(self, texts, warn: bool = True):
        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if todo:
            self.memo.update(zip(todo, self.inner.encode(todo, warn=False)))
        return [self.memo[t] for t in texts]

    def pooled(self, texts):
        import torch

        return torch.stack([e.pooled for e in self.encode(texts)])


def cmd_eval(args: argparse.Namespace) -> int:
    from verimap import MaxSim, PooledCosine, TokenEncoder, Verifier
    from verimap.evaluation.suite import build_sets, evaluate, to_markdown, word_overlap
    from verimap.training.data import default_data_dir

    data = Path(args.data) if args.data else default_data_dir()
    if not data.is_dir():
        raise CLIError(f"data folder not found: {data}")
    encoder = MemoEncoder(TokenEncoder())
    verifier = Verifier(args.weights, encoder=encoder)  # type: ignore[arg-type]
    scorers = {
        "word overlap": word_overlap,
        "pooled cosine": PooledCosine(encoder).score_pairs,  # type: ignore[arg-type]
        "MaxSim": MaxSim(encoder).score_pairs,  # type: ignore[arg-type]
        "verifier": verifier.score_pairs,
    }
    sets = build_sets(data, limit=args.limit)
    table = evaluate(scorers, sets, {"verifier": verifier.threshold})
    if args.scifact:
        from verimap.evaluation.retrieval import scifact_ndcg

        maxsim = MaxSim(encoder)  # type: ignore[arg-type]

        def policy(query, texts, dense):
            kept, rejected = verifier.rank(query, texts, mode="fuse", return_rejected=True)
            order = [r.index for r in kept + rejected]
            return [-order.index(i) for i in range(len(texts))]

        ndcg = scifact_ndcg(encoder, {
            "MaxSim": lambda q, t, d: maxsim.score(q, t),
            "verifier": lambda q, t, d: verifier.score(q, t),
            "default policy": policy,
        }, data, n_queries=args.scifact)
        row = f"SciFact nDCG@10, dense top-100 → rerank ({args.scifact} queries)"
        table[row] = {"pooled cosine": ndcg["dense"], "MaxSim": ndcg["MaxSim"], "verifier": ndcg["verifier"]}
        table["SciFact nDCG@10, default policy (fuse verifier + MaxSim; rejected last)"] = {"verifier": ndcg["default policy"]}
    md = to_markdown(table, list(scorers))
    print(md)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")
    if args.write:
        path = Path(args.write)
        text = path.read_text() if path.exists() else "# Benchmarks\n"
        block = (f"{BEGIN}\nWeights: `{args.weights or 'shipped'}` (threshold {verifier.threshold:.3f}); "
                 f"sets capped at {args.limit or 'all'} rows.\n\n{md}\n{END}")
        if BEGIN in text and END in text:
            text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        path.write_text(text)
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="pooled cosine, MaxSim, word overlap and the verifier on dev data")
    p.add_argument("--weights", help="verifier weights to evaluate (default: shipped)")
    p.add_argument("--data", help="shared data folder (default: ../shared/data beside the checkout)")
    p.add_argument("--limit", type=int, default=1000, help="rows per set (0 = all)")
    p.add_argument("--scifact", type=int, default=0, help="also rank SciFact with this many queries (0 = skip)")
    p.add_argument("--json", help="also write the table as JSON here")
    p.add_argument("--write", help="replace the eval table in this markdown file (e.g. docs/benchmarks.md)")
    p.set_defaults(func=cmd_eval)
