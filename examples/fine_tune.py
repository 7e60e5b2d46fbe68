"""Fine-tune verimap's verifier on your own labelled pairs, then use the new weights. Offline, about 20 seconds.

What it shows:

1. the file you bring: JSONL, one pair a line, ``{"a": ..., "b": ..., "label": 1 or 0}`` (1: ``b`` matches ``a``;
   0: it does not). Here a few dozen pairs about shipments, where the near-misses swap the direction
   ("from Berlin to Paris" vs "from Paris to Berlin"), written to a temporary folder;
2. one command, the same you would type: ``verimap train --pairs mine.jsonl --out mine.safetensors --epochs 1``.
   It starts from the shipped weights (``--from-scratch`` would not), holds some of your pairs out as dev data,
   and writes ``mine.safetensors`` with its ``mine.json`` card (threshold, dev AUC) beside it;
3. ``Verifier("mine.safetensors")``: the new weights in the Python API, scoring unseen pairs next to the shipped
   weights.

A real run wants hundreds of pairs or more and a few epochs; one short epoch on 48 rows is to show the steps.

    python examples/fine_tune.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from verimap import Verifier

CITIES = ["Berlin", "Paris", "Rome", "Madrid", "Vienna", "Prague", "Lisbon", "Oslo"]


def my_pairs() -> list[dict]:
    """24 matches (the same shipment, other words) and 24 near-misses (the direction swapped)."""
    rows = []
    for i in range(24):
        src, dst = CITIES[i % len(CITIES)], CITIES[(i * 3 + 1) % len(CITIES)]
        a = f"Order {100 + i} ships from {src} to {dst}."
        rows.append({"a": a, "b": f"Order {100 + i} goes from {src} to {dst}.", "label": 1})
        rows.append({"a": a, "b": f"Order {100 + i} ships from {dst} to {src}.", "label": 0})
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="verimap-fine-tune-") as folder:
        pairs, out = Path(folder) / "mine.jsonl", Path(folder) / "mine.safetensors"
        rows = my_pairs()
        pairs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} labelled pairs, e.g. {json.dumps(rows[1])}\n")

        print("$ verimap train --pairs mine.jsonl --out mine.safetensors --epochs 1 --no-cache")
        train = [sys.executable, "-m", "verimap", "train", "--pairs", str(pairs), "--out", str(out)]
        subprocess.run([*train, "--epochs", "1", "--no-cache"], check=True, stdout=subprocess.DEVNULL)
        card = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
        print(f"wrote {out.name} and its card {out.with_suffix('.json').name}:")
        print(
            f"  threshold {card['threshold']:.3f}, dev AUC {card['metrics']['dev_auc']:.3f} "
            f"on {card['dev_rows']} held-out pairs\n"
        )

        mine = Verifier(out)
        shipped = Verifier(encoder=mine.encoder)  # the shipped weights on the same loaded encoder
        query = "Order 7 ships from Lisbon to Oslo."
        candidates = ["Order 7 goes from Lisbon to Oslo.", "Order 7 ships from Oslo to Lisbon."]
        print(f"unseen query: {query}")
        for doc, before, after in zip(candidates, shipped.score(query, candidates), mine.score(query, candidates)):
            print(f"  P(match): shipped {before:.3f}  fine-tuned {after:.3f}  {doc}")


if __name__ == "__main__":
    main()
