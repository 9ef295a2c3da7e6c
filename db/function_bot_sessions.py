"""Bot sessions through the SQL functions of db/migrations/definitions/bot_sessions.sql: one
implementation for PostgresStore (psycopg) and SupabaseStore (PostgREST `.rpc()`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from db.models import BotSession


class FunctionBotSessions:
    """The bot-session part of the Store over SQL functions."""

    def _function(self, name: str, params: dict[str, Any], *, write: bool = False) -> Any:
        """Call `name(p_x => ...)` and return its JSON value (a backend implements this)."""
        raise NotImplementedError

    def register_bot_session(self, session: BotSession) -> None:
        self._function(
            "register_bot_session",
            {
                "p_token": session.token,
                "p_provider_call_id": session.provider_call_id,
                "p_transport": session.transport,
                "p_context": session.context,
                "p_expires_at": _utc(session.expires_at),
            },
            write=True,
        )

    def join_bot_session(self, token: str, joined_by: str, now: datetime) -> BotSession | None:
        row = self._function(
            "join_bot_session",
            {"p_token": token, "p_joined_by": joined_by, "p_now": _utc(now)},
            write=True,
        )
        return BotSession.model_validate(row) if row else None

    def waiting_bot_session(self, provider_call_id: str, now: datetime) -> BotSession | None:
        row = self._function(
            "waiting_bot_session", {"p_provider_call_id": provider_call_id, "p_now": _utc(now)}
        )
        return BotSession.model_validate(row) if row else None


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are UTC, as the SQLite backend reads them."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
