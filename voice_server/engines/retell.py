"""Retell: web calls (`create_web_call`) and phone calls (`create_phone_call`) via retell-sdk.

The agent (`RETELL_AGENT_ID`) must use this server's custom-LLM socket
(`wss://<host>/api/v1/retell/llm-webhook`), so Retell's call id is the id our row is keyed by.
"""

from __future__ import annotations

from typing import Any, Literal

import retell
from retell import AsyncRetell

from db.models import Call
from protocols.start_call import StartCallRequest, StartedCall
from settings import Settings
from voice_server.engines.base import EngineError, call_start_time


def _retell_message(exc: retell.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    detail = body.get("error_message") or body.get("message") or exc.message
    return str(detail)[:300]


def provider_error(exc: Exception) -> EngineError:
    """A retell-sdk failure as our API's answer: 4xx when the request was at fault, else 502."""
    if isinstance(exc, retell.APIStatusError):
        detail = _retell_message(exc)
        if exc.status_code in (400, 422):
            return EngineError(f"Retell rejected the call: {detail}", 422)
        if exc.status_code == 429:
            return EngineError(f"Retell is rate limiting calls, retry shortly: {detail}", 429)
        if exc.status_code in (401, 403):
            return EngineError(f"Retell refused RETELL_API_KEY ({exc.status_code}): {detail}", 502)
        if exc.status_code == 404:
            return EngineError(f"Retell does not know RETELL_AGENT_ID or the number: {detail}", 502)
        return EngineError(f"Retell failed ({exc.status_code}): {detail}", 502)
    if isinstance(exc, retell.APITimeoutError):
        return EngineError("Retell did not answer in time.", 502)
    if isinstance(exc, retell.APIConnectionError):
        return EngineError("Could not reach Retell (RETELL_BASE_URL).", 502)
    return EngineError(f"Retell call failed: {type(exc).__name__}", 502)


class RetellEngine:
    name: Literal["retell"] = "retell"

    def unavailable_reason(self, settings: Settings, mode: str) -> str | None:
        if settings.retell_api_key is None:
            return "RETELL_API_KEY is not set: add it to .env to place Retell calls."
        if not settings.retell_agent_id:
            return "RETELL_AGENT_ID is not set: add the id of the custom-LLM agent to .env."
        if mode == "phone" and not settings.retell_from_number:
            return (
                "RETELL_FROM_NUMBER is not set: add a Retell number (E.164) to place phone calls."
            )
        return None

    def client(self, settings: Settings) -> AsyncRetell:
        assert settings.retell_api_key is not None
        return AsyncRetell(
            api_key=settings.retell_api_key.get_secret_value(),
            base_url=settings.retell_base_url,
            max_retries=0,  # a retried create could place the same call twice
            timeout=15.0,
        )

    async def start_call(
        self, settings: Settings, request: StartCallRequest, call: Call
    ) -> StartedCall:
        metadata = {"dispatch_ref": call.provider_call_id, "driver_phone": request.driver_phone}
        metadata = {k: v for k, v in metadata.items() if v}
        variables = request.dynamic_variables() | {"local_time": call_start_time(settings, call)}
        async with self.client(settings) as client:
            try:
                if request.mode == "web":
                    web = await client.call.create_web_call(
                        agent_id=settings.retell_agent_id or "",
                        metadata=metadata,
                        retell_llm_dynamic_variables=variables,
                    )
                    return StartedCall(
                        provider="retell",
                        provider_call_id=web.call_id,
                        status=web.call_status,
                        access_token=web.access_token,
                        details={"call_type": "web_call", "agent_id": web.agent_id},
                    )
                if not request.driver_phone:
                    raise EngineError("driver_phone is required for phone calls.", 422)
                phone = await client.call.create_phone_call(
                    from_number=settings.retell_from_number or "",
                    to_number=request.driver_phone,
                    override_agent_id=settings.retell_agent_id,
                    metadata=metadata,
                    retell_llm_dynamic_variables=variables,
                )
            except retell.RetellError as exc:
                raise provider_error(exc) from None
        return StartedCall(
            provider="retell",
            provider_call_id=phone.call_id,
            status=phone.call_status,
            details={
                "call_type": "phone_call",
                "agent_id": phone.agent_id,
                "from_number": phone.from_number,
                "to_number": phone.to_number,
            },
        )

    async def describe(self, settings: Settings, provider_call_id: str) -> dict[str, Any]:
        if reason := self.unavailable_reason(settings, "web"):
            return {"available": False, "reason": reason}
        async with self.client(settings) as client:
            try:
                found = await client.call.retrieve(provider_call_id)
            except retell.RetellError as exc:
                error = provider_error(exc)
                return {"available": True, "error": str(error), "status_code": error.status_code}
        return {
            "available": True,
            "call_id": found.call_id,
            "call_type": found.call_type,
            "call_status": found.call_status,
            "disconnection_reason": getattr(found, "disconnection_reason", None),
        }
