"""A local stand-in for a Supabase project's REST API, faithful where SupabaseStore relies on it.

A real HTTP server (Starlette on uvicorn, in a thread). Like Supabase's gateway it checks the
`apikey` header and maps the key to a database role; like PostgREST, `POST /rest/v1/rpc/<fn>`
with a JSON object calls `select fn(arg := value, ...)` on a real PostgreSQL database as that
role and answers with the function's JSON value, and PostgreSQL errors become PostgREST's error
body and HTTP status. Every request is recorded so tests can check the traffic request by
request; `fail_next` makes the next request fail the way a broken project would.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.served_app import ServesApp

INVALID_KEY_BODY = {
    "message": "Invalid API key",
    "hint": "Double check your Supabase `anon` or `service_role` API key.",
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class PostgrestDouble(ServesApp):
    database_url: str
    service_role_key: str = "service-role-key-for-tests"
    anon_key: str = "anon-key-for-tests"
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[tuple[int, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    what = "the PostgREST double"

    def fail_next(self, status: int, body: Any = None) -> None:
        """The next request gets this status and body (JSON) or an HTML proxy page."""
        self._failures.append((status, body))

    def rpc_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith("/rest/v1/rpc/")]

    # -- the HTTP surface --------------------------------------------------------------------

    async def rpc(self, request: Request) -> Response:
        body = json.loads(await request.body() or b"null")
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
            )
        )
        if self._failures:
            status, failure = self._failures.pop(0)
            if failure is None:
                return Response(
                    f"<html><body>{status} error</body></html>", status, media_type="text/html"
                )
            return JSONResponse(failure, status)
        role = {self.service_role_key: "service_role", self.anon_key: "anon"}.get(
            request.headers.get("apikey", "")
        )
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if role is None or bearer != request.headers.get("apikey"):
            return JSONResponse(INVALID_KEY_BODY, 401)
        if not isinstance(body, dict):
            return JSONResponse({"code": "PGRST102", "message": "Invalid body"}, 400)
        return await run_in_threadpool(self._call, request.path_params["function"], body, role)

    def _call(self, function: str, args: dict[str, Any], role: str) -> Response:
        call = sql.SQL("select {}({})").format(
            sql.Identifier(function),
            sql.SQL(", ").join(sql.SQL("{} := %s").format(sql.Identifier(name)) for name in args),
        )
        values = [_as_postgrest_text(value) for value in args.values()]
        with self._lock, psycopg.connect(self.database_url) as conn:
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
                    row = conn.execute(call, values).fetchone()
            except psycopg.Error as exc:
                return _error_response(exc, function, role)
        return JSONResponse(row[0] if row else None)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/rest/v1/rpc/{function}", self.rpc, methods=["POST"])])


def _as_postgrest_text(value: Any) -> str | None:
    """Arguments reach PostgreSQL as text of unknown type, cast to the parameter's type."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _error_response(exc: psycopg.Error, function: str, role: str) -> JSONResponse:
    code = exc.sqlstate or "XX000"
    if code == "42883":  # PostgREST resolves functions from its schema cache first
        return JSONResponse(
            {
                "code": "PGRST202",
                "message": f"Could not find the function public.{function} in the schema cache",
                "details": None,
                "hint": None,
            },
            404,
        )
    status = _postgrest_status(code, role)
    body = {
        "code": code,
        "message": exc.diag.message_primary,
        "details": exc.diag.message_detail,
        "hint": exc.diag.message_hint,
    }
    return JSONResponse(body, status)


def _postgrest_status(code: str, role: str) -> int:
    """PostgREST's translation of SQLSTATEs (docs.postgrest.org, errors reference)."""
    if code == "42501":
        return 401 if role == "anon" else 403
    exact = {"23503": 409, "23505": 409, "25006": 405, "42P01": 404, "P0001": 400, "53400": 500}
    if code in exact:
        return exact[code]
    by_class = {"08": 503, "53": 503, "28": 403, "0L": 403, "0P": 403, "XX": 500, "40": 500}
    return by_class.get(
        code[:2], 500 if code[:2] in {"25", "38", "39", "54", "55", "57", "58"} else 400
    )
