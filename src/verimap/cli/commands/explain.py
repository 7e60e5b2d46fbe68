"""``verimap explain "query" "candidate" [--png out.png]``: why the verifier decided as it did.

The terminal view lists each query token's best-matching candidate token with its cosine, the tokens with no
good match, and the verdict. ``--png`` also draws the token similarity map (query tokens × candidate tokens)
as a heatmap, best match per query token boxed, with the score and verdict in the title.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from verimap.cli.options import (
    add_config_argument,
    add_model_arguments,
    help_text,
    make_verifier,
    resolve,
    text_argument,
)
from verimap.errors import CLIError

TRUNCATION_HINT = "the encoder reads the start of each text: split a longer candidate to explain all of it"


def heatmap(explanation, query: str, candidate: str, path: str | Path, *, dpi: int = 150) -> Path:
    """Write the explanation's token map as a PNG (matplotlib's Agg canvas; no display needed)."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle
    except ImportError as exc:
        raise CLIError("--png needs matplotlib: pip install 'verimap[cli]' (or pip install matplotlib)") from exc

    ex = explanation
    m, n = ex.map.shape
    cell = 0.34
    fig = Figure(
        figsize=(min(40.0, max(5.5, 2.8 + n * cell)), min(40.0, max(3.8, 2.4 + m * cell))), layout="constrained"
    )
    ax = fig.add_subplot()
    if n == 0 or m == 0:
        ax.text(0.5, 0.5, "no tokens to compare", ha="center", va="center")
        ax.set_axis_off()
    else:
        vmin = min(0.0, float(ex.map.min()))
        image = ax.imshow(ex.map, cmap="viridis", vmin=vmin, vmax=1.0, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(n), ex.doc_tokens, rotation=90, fontsize=9)
        ax.set_yticks(range(m), ex.query_tokens, fontsize=9)
        ax.set_xlabel("candidate tokens")
        ax.set_ylabel("query tokens")
        for i, (j, s) in enumerate(ex.best_match):
            if j >= 0:
                ax.add_patch(
                    Rectangle(
                        (j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red" if s < 0.5 else "white", linewidth=1.5
                    )
                )
        if m * n <= 400:
            for i in range(m):
                for j in range(n):
                    v = float(ex.map[i, j])
                    ax.text(
                        j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="black" if v > 0.6 else "white"
                    )
        fig.colorbar(image, ax=ax, label="token cosine", shrink=0.9)
    verdict = "ACCEPT" if ex.accepted else "REJECT"
    wrap = lambda s: textwrap.shorten(s, 90, placeholder="…")  # noqa: E731
    ax.set_title(
        f"Q: {wrap(query)}\nC: {wrap(candidate)}\n"
        f"verimap score {ex.score:.3f} → {verdict} (threshold {ex.threshold:.4g})",
        fontsize=10,
    )
    path = Path(path)
    try:
        fig.savefig(path, dpi=dpi, format="png")
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def cmd_explain(args: argparse.Namespace) -> int:
    text_argument(args.query, "the query", query=True)
    text_argument(args.candidate, "the candidate")
    if args.png and not Path(args.png).resolve().parent.is_dir():
        raise CLIError(f"cannot write {args.png}: directory does not exist")
    cfg = resolve(args)
    verifier = make_verifier(cfg)
    ex = verifier.explain(args.query, args.candidate)
    if args.json:
        print(
            json.dumps(
                {
                    "query": args.query,
                    "candidate": args.candidate,
                    "score": round(ex.score, 6),
                    "accepted": ex.accepted,
                    "threshold": ex.threshold,
                    "query_tokens": ex.query_tokens,
                    "candidate_tokens": ex.doc_tokens,
                    "best_match": [
                        {"token": t, "match": ex.doc_tokens[j] if j >= 0 else None, "cosine": round(s, 4)}
                        for t, (j, s) in zip(ex.query_tokens, ex.best_match)
                    ],
                    "unmatched": ex.unmatched(),
                    "map": [[round(float(v), 4) for v in row] for row in ex.map],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        print(ex.to_text())
        missing = ex.unmatched()
        print(f"unmatched query tokens (best cosine < 0.50): {', '.join(missing) if missing else 'none'}")
    if args.png:
        path = heatmap(ex, args.query, args.candidate, args.png)
        if not args.json:
            print(f"wrote {path}")
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="show token matches and the verdict; --png draws the similarity map",
        description=help_text(__doc__),
    )
    p.add_argument("query")
    p.add_argument("candidate")
    p.add_argument("--png", metavar="FILE", help="also write the query × candidate token heatmap to FILE")
    p.add_argument("--json", action="store_true", help="print JSON (tokens, best matches, full map)")
    add_config_argument(p)
    add_model_arguments(p)
    p.set_defaults(func=cmd_explain, truncation_hint=TRUNCATION_HINT)
