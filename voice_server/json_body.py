"""Request bodies are strict JSON, checked once for every route before any handler runs.

Python's `json` module accepts what JSON does not (`NaN`, `Infinity`, `1e309` read as `inf`,
duplicate keys with the last one winning, unpaired surrogates) and fails with a `RecursionError`
on deep nesting. Any of those reaching a handler ends in a 500 (the 422 answer holding a `NaN`
cannot be serialised) or in a row the database cannot take. `StrictJSONBody` answers 422 with
the reason in plain words instead, so handlers only ever see bodies every backend can store.
"""

from __future__ import annotations

import json
import math
from email.message import Message as MimeMessage
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from protocols.asgi_body import read_body, replaying

MAX_DEPTH = 32
INT_RANGE = (-(2**63), 2**63 - 1)  # what a BIGINT column and every JSON parser hold
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyRejected(ValueError):
    """The body is not JSON this API takes; the message says why, for a person."""

    def __init__(self, message: str, kind: str = "json_invalid") -> None:
        super().__init__(message)
        self.kind = kind


def _reject_constant(name: str) -> Any:
    raise BodyRejected(f"{name} is not a JSON number: send a finite number, or null.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyRejected(f"The number {text[:40]} is too large to be a finite number.")
    return value


def _int_in_range(text: str) -> int:
    # Checked on the digits first: int() of thousands of digits is slow, past 4300 it raises.
    digits = text.lstrip("-")
    if len(digits) > 19 or not INT_RANGE[0] <= int(text) <= INT_RANGE[1]:
        shown = text if len(text) <= 24 else f"{text[:12]}…({len(digits)} digits)"
        raise BodyRejected(
            f"The integer {shown} is outside the range this API accepts "
            f"({INT_RANGE[0]} to {INT_RANGE[1]})."
        )
    return int(text)


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BodyRejected(f"The key {key[:60]!r} appears twice in one object.")
        result[key] = value
    return result


def _has_unpaired_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def _check_shape(document: Any) -> None:
    """Nesting depth and text every database stores (an escaped lone surrogate is valid JSON
    syntax but not text: PostgreSQL and UTF-8 encoders refuse it)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _has_unpaired_surrogate(value):
                raise BodyRejected("The body holds text with an unpaired \\ud800-\\udfff escape.")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise BodyRejected(f"The body nests objects or arrays deeper than {MAX_DEPTH} levels.")
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            if isinstance(key, str) and _has_unpaired_surrogate(key):
                raise BodyRejected("The body holds a key with an unpaired \\ud800-\\udfff escape.")
            if isinstance(child, dict | list | str):
                stack.append((child, depth + 1))


def parse_strict_json(raw: bytes) -> Any:
    """The document in `raw`, or `BodyRejected` saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRejected(
            f"The body is not valid UTF-8 (byte {exc.start} cannot start or continue a "
            "character): send JSON encoded as UTF-8."
        ) from None
    try:
        document = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_int_in_range,
            object_pairs_hook=_object_without_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise BodyRejected(
            f"The body is not valid JSON: {exc.msg} at character {exc.pos}."
        ) from None
    except RecursionError:
        raise BodyRejected(
            f"The body nests objects or arrays deeper than {MAX_DEPTH} levels."
        ) from None
    _check_shape(document)
    return document


def content_type_problem(content_type: str | None) -> str | None:
    """None for JSON (or no Content-Type, which FastAPI reads as JSON); else why not."""
    if content_type is None:
        return None
    mime = MimeMessage()
    mime["content-type"] = content_type
    subtype = mime.get_content_subtype()
    if mime.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    ):
        return None
    return (
        f"The body must be JSON sent with Content-Type: application/json "
        f"(got {content_type[:80]!r})."
    )


# Twilio posts its callbacks as forms (and signs the form's fields): these routes read forms.
FORM_PATH_PREFIXES = ("/api/v1/twilio/",)
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def _takes_a_form(scope: Scope) -> bool:
    if not str(scope.get("path", "")).startswith(FORM_PATH_PREFIXES):
        return False
    content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
    return content_type.split(";")[0].strip().lower() == FORM_CONTENT_TYPE


class StrictJSONBody:
    """Reads a request's body, answers 422 unless it is strict JSON, else replays it unchanged.

    Inside `BodySizeLimit`, so a body is only read here once it is known to fit.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS_WITH_BODY:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:  # the client left: nothing to answer
            return
        if body and not _takes_a_form(scope):
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type")
            problem = content_type_problem(content_type.decode("latin-1") if content_type else None)
            kind = "content_type"
            if problem is None:
                try:
                    parse_strict_json(body)
                except BodyRejected as exc:
                    problem, kind = str(exc), exc.kind
            if problem is not None:
                error = {"type": kind, "loc": ["body"], "msg": problem, "input": None}
                await JSONResponse({"detail": [error]}, status_code=422)(scope, receive, send)
                return
        await self.app(scope, replaying(body, receive), send)


def _finite(value: Any) -> Any:
    """The value with every non-finite float spelled as a string (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 answer, which cannot fail to serialise: the rejected input may be a float
    pydantic parsed from "NaN" or "inf", which JSON cannot carry."""
    return JSONResponse({"detail": _finite(jsonable_encoder(exc.errors()))}, status_code=422)
