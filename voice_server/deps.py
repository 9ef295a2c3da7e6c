"""What handlers need, injected by type: settings, Store, policy, API key checks, filters.

Each dependency is `async def` although none awaits: FastAPI runs a plain `def` dependency in its
thread pool, a thread hop per dependency per request that the event loop pays for under load.

The settings, the Store and the agent's policy are built once in the app's lifespan and kept on
`app.state`; these aliases read them from there for HTTP and WebSocket handlers alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Query
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from starlette.requests import HTTPConnection

from agent.vocabulary import OnTimeStatus
from db import Store
from db.models import CallFilters, CallStatus, Provider
from protocols.bearer_auth import bearer_key
from settings import Settings
from voice_server.emergency_alerts import EmergencyAlerts

if TYPE_CHECKING:
    from agent import Policy
else:
    Policy = Any


async def get_app_settings(connection: HTTPConnection) -> Settings:
    return connection.app.state.settings


async def get_store(connection: HTTPConnection) -> Store:
    store = getattr(connection.app.state, "store", None)
    if store is None:
        raise HTTPException(503, "The database is not open yet: check DATABASE_URL and /healthz.")
    return store


async def get_policy(connection: HTTPConnection) -> Policy:
    return connection.app.state.policy


async def get_alerts(connection: HTTPConnection) -> EmergencyAlerts:
    return connection.app.state.alerts


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
AlertsDep = Annotated[EmergencyAlerts, Depends(get_alerts)]
StoreDep = Annotated[Store, Depends(get_store)]
PolicyDep = Annotated[Policy, Depends(get_policy)]


require_dispatch_key = bearer_key(
    "DISPATCH_API_KEY",
    lambda connection: connection.app.state.settings.dispatch_api_key,
    "DISPATCH_API_KEY is not set on the voice server: add it to .env "
    "(`python settings.py init-env` writes a fresh one).",
)
require_pipecat_key = bearer_key(
    "PIPECAT_API_KEY",
    lambda connection: connection.app.state.settings.pipecat_api_key,
    "PIPECAT_API_KEY is not set on the voice server: add it to .env (and the bot's).",
)
DispatchKeyDep = Annotated[None, Depends(require_dispatch_key)]
PipecatKeyDep = Annotated[None, Depends(require_pipecat_key)]


OFFICE_TIME_HELP = (
    "ISO 8601; without an offset, the office's local time (DISPATCH_TIMEZONE): 2026-03-08 is "
    "midnight starting that day in the office"
)


def office_time(moment: datetime | None, settings: Settings) -> datetime | None:
    """A time given without an offset is the office's wall-clock time, as the app's dates are."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=ZoneInfo(settings.dispatch_timezone))


async def call_filters(
    settings: SettingsDep,
    query: Annotated[
        str | None, Query(max_length=200, description="Full text over transcripts")
    ] = None,
    provider: Provider | None = None,
    status: CallStatus | None = None,
    call_outcome: Annotated[str | None, Query(max_length=64)] = None,
    driver_status: Annotated[str | None, Query(max_length=64)] = None,
    emergency_type: Annotated[str | None, Query(max_length=64)] = None,
    driver_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    driver_name: Annotated[str | None, Query(max_length=120)] = None,
    load_number: Annotated[str | None, Query(max_length=64)] = None,
    created_from: Annotated[
        datetime | None, Query(description=f"Inclusive. {OFFICE_TIME_HELP}")
    ] = None,
    created_to: Annotated[
        datetime | None, Query(description=f"Exclusive. {OFFICE_TIME_HELP}")
    ] = None,
    failed_start: Annotated[
        bool | None,
        Query(description="true: only calls that never connected; false: all the others"),
    ] = None,
    on_time_status: Annotated[
        OnTimeStatus | None, Query(description="The ETA against the appointment")
    ] = None,
    include_simulated: Annotated[
        bool,
        Query(
            description="Figures (metrics) count simulated calls (the Trigger page's) only when "
            "true; lists show every call"
        ),
    ] = False,
) -> CallFilters:
    """The read APIs' filters, one query parameter per `CallFilters` field."""
    return CallFilters(
        query=query,
        provider=provider,
        status=status,
        call_outcome=call_outcome,
        driver_status=driver_status,
        emergency_type=emergency_type,
        driver_id=driver_id,
        driver_name=driver_name,
        load_number=load_number,
        created_from=office_time(created_from, settings),
        created_to=office_time(created_to, settings),
        failed_start=failed_start,
        on_time_status=on_time_status.value if on_time_status else None,
        include_simulated=include_simulated,
    )


CallFiltersDep = Annotated[CallFilters, Depends(call_filters)]


@dataclass(frozen=True, slots=True)
class Paging:
    page: int
    page_size: int


async def paging(
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Paging:
    """The list APIs' page parameters, with the same bounds everywhere."""
    return Paging(page, page_size)


PagingDep = Annotated[Paging, Depends(paging)]


def declared_query_names(dependant: Dependant) -> frozenset[str]:
    """Every query parameter a route reads, through all of its dependencies."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(field.alias for field in current.query_params)
        pending.extend(current.dependencies)
    return frozenset(names)


_DECLARED_QUERY: dict[int, frozenset[str]] = {}


async def reject_unknown_query_parameters(connection: HTTPConnection) -> None:
    """422 naming each query parameter the route does not read: `?q=deer` or a misspelt
    `page_sise` must not silently return everything."""
    route = connection.scope.get("route")
    if connection.scope["type"] != "http" or route is None or not connection.query_params:
        return
    declared = _DECLARED_QUERY.get(id(route))
    if declared is None:
        declared = _DECLARED_QUERY[id(route)] = declared_query_names(route.dependant)
    takes = ", ".join(sorted(declared)) if declared else "no query parameters"
    errors = [
        {
            "type": "extra_forbidden",
            "loc": ("query", name),
            "msg": f"Unknown query parameter {name!r}: {route.path} takes {takes}.",
            "input": connection.query_params.get(name),
        }
        for name in connection.query_params
        if name not in declared
    ]
    if errors:
        raise RequestValidationError(errors)
