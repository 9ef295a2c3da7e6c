"""`Authorization: Bearer <key>`: how our own services check their callers (keys from settings)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header, HTTPException
from pydantic import SecretStr
from starlette.requests import HTTPConnection

KeyReader = Callable[[HTTPConnection], SecretStr | None]


def bearer_key(key_name: str, read_key: KeyReader, missing: str) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency: 503 `missing` when the key is not configured, 401 unless the
    request's bearer token is the key (compared in constant time)."""

    async def require_key(
        connection: HTTPConnection, authorization: Annotated[str | None, Header()] = None
    ) -> None:
        key = read_key(connection)
        if key is None:
            raise HTTPException(503, missing)
        scheme, _, token = (authorization or "").partition(" ")
        expected = key.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            raise HTTPException(
                401,
                f"Missing or wrong bearer token: send Authorization: Bearer <{key_name}>.",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_key
