"""Split plain text / Markdown into passages for the store.

The rule, in order:

1. Paragraphs are separated by blank lines (lines holding only whitespace count as blank).
2. Inside a paragraph, line breaks and runs of whitespace become single spaces; Markdown heading markers
   (``#``) at the start of a line are dropped, the heading text kept and ended with ``.`` unless it ends in
   punctuation. A paragraph made only of headings is not a passage of its own: it is put in front of the next
   paragraph, so ``## Can I bring my cat?`` stays with its answer.
3. A paragraph of at most ``max_words`` words is one passage. A longer one is cut at sentence ends
   (``.``, ``!`` or ``?`` followed by whitespace), sentences packed greedily into passages of at most
   ``max_words`` words; a single sentence longer than that is cut every ``max_words`` words.

``max_words`` defaults to 120, about 160 word-pieces: well inside the encoder's 256-token window.
:func:`paragraphs` applies rules 1 and 2 only: ``verimap index`` takes each paragraph as a document and cuts the
long ones into windows measured in word pieces (:mod:`verimap.passages`).

>>> split_text("First paragraph.\\n\\nSecond one,\\nover two lines.")
['First paragraph.', 'Second one, over two lines.']
>>> split_text("One. Two. Three.", max_words=2)
['One. Two.', 'Three.']
>>> split_text("## Pets\\n\\nSmall pets may travel in the cabin.")
['Pets. Small pets may travel in the cabin.']
"""

from __future__ import annotations

import re

MAX_WORDS = 120

_BLANK = re.compile(r"\n[ \t\r\f\v]*\n")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(paragraph: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(paragraph) if s]


def paragraphs(text: str) -> list[str]:
    """The paragraphs of ``text`` (rules 1 and 2), in order; empty input gives ``[]``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    heading = ""
    for block in _BLANK.split(text):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        parts = []
        for line in lines:
            if _HEADING.match(line):
                line = _HEADING.sub("", line).strip()
                if line and line[-1] not in ".:!?":
                    line += "."
            parts.append(line)
        paragraph = " ".join(" ".join(parts).split())
        if not paragraph:
            continue
        if all(_HEADING.match(line) for line in lines):
            heading = f"{heading} {paragraph}".strip()
            continue
        if heading:
            paragraph, heading = f"{heading} {paragraph}", ""
        out.append(paragraph)
    if heading:  # headings with nothing after them
        out.append(heading)
    return out


def split_text(text: str, max_words: int = MAX_WORDS) -> list[str]:
    """Passages of ``text``, in order; empty input gives ``[]``."""
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1 (got {max_words})")
    passages: list[str] = []
    for paragraph in paragraphs(text):
        if len(paragraph.split()) <= max_words:
            passages.append(paragraph)
            continue
        current: list[str] = []
        for sentence in split_sentences(paragraph):
            words = sentence.split()
            while len(words) > max_words:  # one overlong sentence: cut it by words
                if current:
                    passages.append(" ".join(current))
                    current = []
                passages.append(" ".join(words[:max_words]))
                words = words[max_words:]
            if not words:
                continue
            if len(current) + len(words) > max_words:
                passages.append(" ".join(current))
                current = []
            current.extend(words)
        if current:
            passages.append(" ".join(current))
    return passages
