"""What handlers need, injected by type: `SettingsDep`, `StoreDep`, `PolicyDep`, `DispatchKeyDep`.

The settings, the Store and the agent's policy are built once in the app's lifespan and kept on
`app.state`; these aliases read them from there for HTTP and WebSocket handlers alike.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Header, HTTPException
from starlette.requests import HTTPConnection

from db import Store
from settings import Settings

if TYPE_CHECKING:
    from agent import Policy
else:
    Policy = Any


def get_app_settings(connection: HTTPConnection) -> Settings:
    return connection.app.state.settings


def get_store(connection: HTTPConnection) -> Store:
    store = getattr(connection.app.state, "store", None)
    if store is None:
        raise HTTPException(503, "The database is not open yet: check DATABASE_URL and /healthz.")
    return store


def get_policy(connection: HTTPConnection) -> Policy:
    return connection.app.state.policy


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
PolicyDep = Annotated[Policy, Depends(get_policy)]


def require_dispatch_key(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Bearer DISPATCH_API_KEY, compared in constant time; 503 when the server has none."""
    if settings.dispatch_api_key is None:
        raise HTTPException(
            503,
            "DISPATCH_API_KEY is not set on the voice server: add it to .env "
            "(`python settings.py init-env` writes a fresh one).",
        )
    expected = settings.dispatch_api_key.get_secret_value().encode()
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise HTTPException(
            401,
            "Missing or wrong bearer token: send Authorization: Bearer <DISPATCH_API_KEY>.",
            headers={"WWW-Authenticate": "Bearer"},
        )


DispatchKeyDep = Annotated[None, Depends(require_dispatch_key)]
