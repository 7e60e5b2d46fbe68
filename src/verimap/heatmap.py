"""The token map of one :class:`~verimap.Explanation` drawn as a PNG heatmap: what ``verimap explain --png`` writes
and ``POST /explain`` with ``"png": true`` returns.

Query tokens down the side, candidate tokens along the bottom, each query token's best match boxed (red where it
is under 0.5), the cosines written in the cells of small maps, the score and verdict in the title. matplotlib's
Agg canvas: no display needed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from verimap.optional import require

if TYPE_CHECKING:
    from verimap.verifier import Explanation


def heatmap(
    explanation: Explanation, query: str, candidate: str, out: str | Path | BinaryIO, *, dpi: int = 150
) -> None:
    """Write the explanation's map as a PNG to ``out`` (a path, or a binary file such as ``io.BytesIO``).

    :raises ImportError: matplotlib is not installed (the message says what to install).
    :raises OSError: ``out`` cannot be written.
    """
    require("matplotlib", install="matplotlib (or 'verimap[cli]')", who="drawing the explain heatmap")
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

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
    fig.savefig(out if hasattr(out, "write") else Path(out), dpi=dpi, format="png")
