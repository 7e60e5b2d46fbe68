"""The dependency parse beside the token vectors: canonical roles, negation scope, numbers, caching, clear errors."""

import math

import pytest

from verimap import Verifier
from verimap.cache import TokenCache
from verimap.encoder import TokenEncoder
from verimap.errors import ParserError, WeightsError
from verimap.parse import PARSER_PACKAGE, ROLES


def tags(encoder, text: str) -> dict[str, tuple[str, int, float]]:
    """word piece → (canonical role, negated, numeric value) for a text whose word pieces are distinct."""
    out = encoder.encode([text])[0]
    p = out.parse
    return {t: (ROLES[p.role[i]], int(p.neg[i]), float(p.num[i])) for i, t in enumerate(out.tokens)}


def test_voice_keeps_the_canonical_roles(encoder):
    active, passive = tags(encoder, "The man bit the dog."), tags(encoder, "The dog was bitten by the man.")
    assert active["man"][0] == passive["man"][0] == "subj"
    assert active["dog"][0] == passive["dog"][0] == "obj"
    swapped = tags(encoder, "The dog bit the man.")
    assert swapped["dog"][0] == "subj" and swapped["man"][0] == "obj"


def test_negation_marks_its_scope_only_in_the_negated_text(encoder):
    negated, plain = tags(encoder, "Smoking does not cause cancer."), tags(encoder, "Smoking causes cancer.")
    assert negated["cause"][1] == 1
    assert all(neg == 0 for _, neg, _ in plain.values())


def test_number_words_and_digits_carry_their_value(encoder):
    assert tags(encoder, "I need 3 tickets.")["3"][2] == 3.0
    assert tags(encoder, "I need three tickets.")["three"][2] == 3.0
    assert math.isnan(tags(encoder, "I need tickets.")["tickets"][2])


def test_directions_are_roles(encoder):
    there, back = tags(encoder, "Flights from Paris to Rome."), tags(encoder, "Flights from Rome to Paris.")
    assert there["paris"][0] == back["rome"][0] == "prep:from"
    assert there["rome"][0] == back["paris"][0] == "prep:to"


def counting(encoder):
    """The encoder's real parser, counting the texts it is asked to parse."""
    parsed: list[str] = []
    real = encoder.parser.parse

    def parse(texts, offsets):
        parsed.extend(texts)
        return real(texts, offsets)

    encoder.parser.parse = parse
    return parsed


def test_a_warm_rerank_parses_only_the_query(encoder):
    mine = encoder.with_cache(TokenCache())
    mine.parser = type(encoder.parser)()  # an instance of our own to count on (the spaCy model is shared)
    parsed = counting(mine)
    verifier = Verifier(encoder=mine)
    docs = ["The dog bit the man.", "The man bit the dog.", "A cat sat on the mat."]
    verifier.rank("Did the dog bite the man?", docs)
    assert len(parsed) == 4
    parsed.clear()
    verifier.rank("Who bit the man?", docs)
    assert parsed == ["Who bit the man?"]


def test_token_files_keep_the_parses(encoder, tmp_path):
    path = tmp_path / "tokens.sqlite"
    docs = ["The dog bit the man.", "Smoking does not cause cancer."]
    first = encoder.with_cache(TokenCache(path=path)).encode(docs, persist=path)
    reader = encoder.with_cache(TokenCache(path=path))
    reader.parser = type(encoder.parser)()
    parsed = counting(reader)
    again = reader.encode(docs)
    assert parsed == []
    for a, b in zip(first, again):
        assert (a.parse.role == b.parse.role).all() and (a.parse.neg == b.parse.neg).all()


@pytest.mark.parametrize("module, words", [("no_such_parser_module", "not installed"), ("json", "could not be loaded")])
def test_a_missing_or_broken_parser_model_names_the_package(monkeypatch, module, words):
    import verimap.parse as parse

    monkeypatch.setattr(parse, "_shared_nlp", None)
    monkeypatch.setattr(parse, "PARSER_MODULE", module)
    with pytest.raises(ParserError, match=words) as info:
        parse.load_spacy()
    assert PARSER_PACKAGE in str(info.value)


def test_weights_that_read_the_parse_refuse_an_encoder_without_a_parser():
    with pytest.raises(WeightsError, match="parser"):
        Verifier(encoder=TokenEncoder(parser=False))
