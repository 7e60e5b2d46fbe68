"""The wire formats ``verimap serve`` speaks: request models, reading a JSON body with errors that name the field,
and the response shapes of Cohere's and text-embeddings-inference's (TEI) rerank APIs.

Nothing here scores. Responses are built from the core's :class:`~verimap.policy.RankResult` with the core's result
keys (:mod:`verimap.results`): ``relevance_score`` (Cohere) or ``score`` (TEI) is :attr:`RankResult.score`, what
the results are ordered by; ``verifier_score`` and ``verifier_accepted`` ride alongside.

Every refusal is a :class:`RequestError`, rendered as ``{"message": "<field>: <what is wrong>", "detail": [{"loc":
[...], "msg": ..., "type": ...}]}``: ``message`` is one line naming the field (what Cohere's API returns), ``detail``
is FastAPI's list. Inputs are never echoed back (a refused body may be huge, or not encodable).

>>> field_name(("body", "documents", 3))
'documents[3]'
>>> RequestError(("body", "query"), "must not be empty").body()["message"]
'query: must not be empty'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from verimap.inputs import check_pairs, check_query, check_unicode
from verimap.policy import Mode, Ranking, RankResult
from verimap.results import RELEVANCE_SCORE, result_fields

Loc = tuple[str | int, ...]
Model = TypeVar("Model", bound=BaseModel)

JSON_TYPES = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string", list: "array"}


def json_type(value: Any) -> str:
    return JSON_TYPES.get(type(value), "object")


def field_name(loc: Sequence[str | int]) -> str:
    """A FastAPI ``loc`` as one would write the field: ``documents[3]``, ``content-type`` (for a header)."""
    name = ""
    for part in loc[1:] if loc and loc[0] in ("body", "header") else loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


class RequestError(Exception):
    """A request the service refuses (422 unless told otherwise), naming the field at fault.

    :param errors: ``(loc, message, type)`` triples; :meth:`from_pydantic` makes them from a ``ValidationError``.
    """

    def __init__(
        self,
        loc: Loc = ("body",),
        message: str = "",
        *,
        status: int = 422,
        kind: str = "value_error",
        errors: list[tuple[Loc, str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.errors = errors if errors is not None else [(loc, message, kind)]
        self.status = status
        self.headers = headers
        super().__init__(self.message)

    @classmethod
    def from_pydantic(cls, exc: ValidationError) -> RequestError:
        return cls(errors=[(("body", *e["loc"]), e["msg"], e["type"]) for e in exc.errors(include_input=False)])

    @property
    def message(self) -> str:
        lines = []
        for loc, msg, _ in self.errors:
            name = field_name(loc)
            # The core's messages start with the parameter they name ("query must be ..."): don't say it twice.
            lines.append(msg if msg.startswith(name) else f"{name}: {msg}")
        return "; ".join(lines)

    def body(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "detail": [{"loc": list(loc), "msg": msg, "type": kind} for loc, msg, kind in self.errors],
        }


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def read_json(content_type: str | None, body: bytes, model: type[Model]) -> Model:
    """``body`` as ``model``: JSON only (``Content-Type: application/json``; NaN and Infinity refused), every
    problem a :class:`RequestError` naming the field."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise RequestError(
            ("header", "content-type"),
            f"must be application/json, got {content_type!r}" if content_type else "missing: send application/json",
        )
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise RequestError(("body",), "not valid JSON: the bytes are not UTF-8 text", kind="json_invalid") from None
    except json.JSONDecodeError as exc:
        raise RequestError(
            ("body",), f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", kind="json_invalid"
        ) from None
    except ValueError as exc:  # NaN / Infinity
        raise RequestError(("body",), f"not valid JSON: {exc}", kind="json_invalid") from None
    except RecursionError:
        raise RequestError(("body",), "not valid JSON here: nested too deeply", kind="json_invalid") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestError.from_pydantic(exc) from None


# -- requests ----------------------------------------------------------------------------------------------------
class _Request(BaseModel):
    # Fields a client sends that verimap has no use for (Cohere's max_tokens_per_doc, priority, max_chunks_per_doc;
    # TEI's truncate, truncation_direction) are accepted and ignored: texts are read as the library reads them.
    model_config = ConfigDict(extra="ignore")


class _Rerank(_Request):
    query: str
    mode: Mode | None = Field(None, description="verimap: fuse | rerank | filter (default: the server's)")
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="verimap: drop documents whose verifier score is under it"
    )


class CohereRerank(_Rerank):
    """``POST /v1/rerank``, ``/v2/rerank``: Cohere's request."""

    documents: list[Any] = Field(description='strings, or objects with a string "text" (or the rank_fields)')
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = False
    model: str | None = None
    rank_fields: list[str] | None = Field(None, min_length=1)


class TEIRerank(_Rerank):
    """``POST /rerank``: text-embeddings-inference's request."""

    texts: list[Any]
    raw_scores: bool = Field(False, description="accepted; verimap's scores are what it ranks by either way")
    return_text: bool = False


class VerifyRequest(_Request):
    """``POST /verify``: pairs, ``[a, b]`` or ``{"a": ..., "b": ...}``, ``a`` read as the query."""

    pairs: list[Any]
    symmetric: bool = Field(False, description="read each pair both ways (two prompts, neither the query)")
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="verdict threshold (default: the card's)")


class ExplainRequest(_Request):
    """``POST /explain``: one pair."""

    query: str
    document: str
    png: bool = Field(False, description="also return the token map as a base64 PNG heatmap")


# -- checks that name the field ----------------------------------------------------------------------------------
def checked_query(query: str) -> str:
    try:
        return check_query(query)
    except (TypeError, ValueError) as exc:
        raise RequestError(("body", "query"), str(exc)) from None


def checked_text(text: str, loc: Loc) -> str:
    try:
        return check_unicode(text, field_name(loc))
    except ValueError as exc:
        raise RequestError(loc, str(exc)) from None


def check_count(items: Sequence[Any], name: str, limit: int) -> None:
    if len(items) > limit:
        raise RequestError(("body", name), f"at most {limit} per request, got {len(items)}", kind="too_long")


def document_texts(
    items: list[Any], name: str, limit: int, *, objects: bool = True, rank_fields: list[str] | None = None
) -> list[str]:
    """The text of each document: a string, or (with ``objects``: Cohere's documents) an object whose
    ``rank_fields`` (default ``["text"]``) are strings, joined by newlines in that order."""
    check_count(items, name, limit)
    fields = rank_fields or ["text"]
    texts = []
    for i, item in enumerate(items):
        loc = ("body", name, i)
        if isinstance(item, dict) and objects:
            values = [item[f] for f in fields if f in item]
            if not values or not all(isinstance(v, str) for v in values):
                raise RequestError(loc, f"an object needs string field(s) {', '.join(map(repr, fields))}")
            item = "\n".join(values)
        elif not isinstance(item, str):
            wanted = "a string or an object with a string 'text'" if objects else "a string"
            raise RequestError(loc, f"must be {wanted}, got {json_type(item)}")
        texts.append(checked_text(item, loc))
    return texts


def pair_texts(items: list[Any], limit: int) -> list[tuple[str, str]]:
    """``[a, b]`` lists or ``{"a", "b"}`` objects (the ``score-pairs`` line shape) as pairs, checked by the core."""
    check_count(items, "pairs", limit)
    pairs = [(p.get("a"), p.get("b")) if isinstance(p, dict) else p for p in items]
    try:
        return check_pairs(pairs)
    except (TypeError, ValueError) as exc:
        raise RequestError(("body", "pairs"), str(exc)) from None


# -- responses ---------------------------------------------------------------------------------------------------
def cohere_response(
    ranking: Ranking, request: CohereRerank, texts: list[str], *, request_id: str, model: str, version: str
) -> dict[str, Any]:
    """Cohere's rerank response: ``results`` best first, each ``index`` and ``relevance_score`` plus verimap's
    ``verifier_score`` and ``verifier_accepted`` (and ``document`` with ``return_documents``: an object sent is
    returned whole, a string as ``{"text": ...}``)."""
    results = []
    for r in ranking:
        item: dict[str, Any] = {"index": r.index, **result_fields(r)}
        if request.return_documents:
            sent = request.documents[r.index]
            item["document"] = sent if isinstance(sent, dict) else {"text": texts[r.index]}
        results.append(item)
    return {
        "id": request_id,
        "model": request.model or model,
        "results": results,
        "meta": {"api_version": {"version": version}},
    }


def tei_item(r: RankResult, texts: list[str], return_text: bool) -> dict[str, Any]:
    """One TEI rerank result: ``index``, ``score`` (what Cohere calls ``relevance_score``), verimap's fields, and
    ``text`` with ``return_text``."""
    fields = result_fields(r)
    item: dict[str, Any] = {"index": r.index, "score": fields.pop(RELEVANCE_SCORE), **fields}
    if return_text:
        item["text"] = texts[r.index]
    return item
