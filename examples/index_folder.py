"""A folder of documents indexed and searched from the command line. Offline, about 35 seconds.

What it shows, as the commands you would type (each is run here with this Python's ``verimap``):

1. a folder of small Markdown and text files (written to a temporary folder; in your case, your notes or docs);
2. ``verimap index FOLDER --store STORE``: every paragraph of every file becomes a document (a Markdown heading
   stays with the paragraph after it), embedded with the bundled encoder into an embedded Chroma store;
3. ``verimap search "..." --store STORE``: recall by vector similarity, then the verifier judges every candidate.
   Each row shows the score it is ordered by, the verifier's probability, the recall score and the verdict;
4. the same search with ``--threshold 0.5 --show-rejected``: what falls under a strict threshold is set aside and
   shown apart.

The queries are chosen so that a near-miss (the opposite direction, the other party) sits right next to the answer
in vector space. docs/cli.md has every option.

    python examples/index_folder.py
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

DOCUMENTS = {
    "travel.md": """# Trains

Night trains from Vienna to Rome leave at 19:30 and arrive the next morning.

Night trains from Rome to Vienna were cancelled for the winter.

# Luggage

Each passenger may take two suitcases and one small bag on board.
""",
    "sales.txt": """Bob sold his old car to Alice in March.

Alice sold her bicycle to Carol after the race.
""",
    "notes/pets.md": """# Dogs

The neighbour's dog bit the postman on Tuesday.

The postman was not bitten by the cat.
""",
}

QUERIES = ["Night trains from Vienna to Rome", "Who sold a car to Alice?"]


def verimap(*args: str, cwd: Path) -> None:
    """Print ``$ verimap ARGS`` and run it in ``cwd`` (``python -m verimap``: the ``verimap`` command of this Python)."""
    print("$ verimap " + shlex.join(args))
    subprocess.run([sys.executable, "-m", "verimap", *args], check=True, cwd=cwd)
    print()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="verimap-folder-") as tmp:
        here = Path(tmp)  # the commands run here: the folder is ./docs, the index goes to ./index
        for name, text in DOCUMENTS.items():
            (here / "docs" / name).parent.mkdir(parents=True, exist_ok=True)
            (here / "docs" / name).write_text(text, encoding="utf-8")
        print(f"{len(DOCUMENTS)} files in ./docs: {', '.join(DOCUMENTS)}\n")

        verimap("index", "docs", "--store", "index", "--quiet", cwd=here)
        for query in QUERIES:
            verimap("search", query, "--store", "index", "--k", "3", "--width", "100", cwd=here)
        strict = ["--threshold", "0.5", "--show-rejected", "--width", "100"]
        verimap("search", QUERIES[0], "--store", "index", *strict, cwd=here)


if __name__ == "__main__":
    main()
