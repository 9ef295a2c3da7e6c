"""Loads for scheduled check calls: a TMS pushes them, operators read them.

Every route needs `Authorization: Bearer DISPATCH_API_KEY`.

- `POST /api/v1/loads`: bulk upsert by load number, a JSON array of loads; every row is checked
  first and any problem answers 422 naming the row and field, with nothing written.
- `GET /api/v1/loads`: the dispatch board's rows (active loads, open emergencies first).
- `GET /api/v1/loads/{load_number}`: one load with its slots and attempts.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path
from fastapi.exceptions import RequestValidationError

from db.load_models import AttemptRow, BoardFilters, BoardRow, Load, LoadIn, SlotRow
from voice_server.deps import DispatchKeyDep, StoreDep

router = APIRouter(tags=["loads"])
MAX_LOADS_PER_REQUEST = 5000


@router.post("/api/v1/loads")
async def upsert_loads(
    loads: Annotated[list[LoadIn], Body(max_length=MAX_LOADS_PER_REQUEST)],
    _auth: DispatchKeyDep,
    store: StoreDep,
) -> dict[str, int]:
    """Insert or replace loads by load number (all of them, or none when one is wrong)."""
    seen: dict[str, int] = {}
    for index, load in enumerate(loads):
        if load.load_number in seen:
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "loc": ("body", index, "load_number"),
                        "msg": f"the same load number as row {seen[load.load_number]}",
                        "input": load.load_number,
                    }
                ]
            )
        seen[load.load_number] = index
    written = await asyncio.to_thread(store.upsert_loads, loads)
    return {"upserted": written}


@router.get("/api/v1/loads")
async def dispatch_board(
    _auth: DispatchKeyDep,
    store: StoreDep,
    query: str | None = None,
    only_problems: bool = False,
    include_inactive: bool = False,
) -> list[BoardRow]:
    filters = BoardFilters(
        query=query, only_problems=only_problems, include_inactive=include_inactive
    )
    return await asyncio.to_thread(store.dispatch_board, filters)


@router.get("/api/v1/loads/{load_number}")
async def get_load(
    load_number: Annotated[str, Path(min_length=1, max_length=64)],
    _auth: DispatchKeyDep,
    store: StoreDep,
) -> dict[str, Any]:
    load: Load | None = await asyncio.to_thread(store.get_load, load_number)
    if load is None:
        raise HTTPException(404, f"No load {load_number!r}.")
    slots: list[SlotRow] = await asyncio.to_thread(store.load_slots, load_number)
    attempts: list[AttemptRow] = await asyncio.to_thread(store.load_attempts, load_number)
    return {"load": load, "slots": slots, "attempts": attempts}
