"""What the bot can do with the call beyond speaking: hand it to a human dispatcher."""

from __future__ import annotations

from typing import Protocol
from xml.sax.saxutils import escape, quoteattr

import httpx
from loguru import logger

TWILIO_API_URL = "https://api.twilio.com"


class CallControl(Protocol):
    # Whether this transport has a phone line a human can be bridged onto at all; without
    # one the agent is never told a transfer number, so it never promises a transfer.
    can_transfer: bool

    async def transfer(self, number: str) -> bool:
        """Hand the call to a human at `number`; False when this transport cannot."""
        ...


class NoTransfer:
    """WebRTC sessions (and Twilio without credentials) have no phone line to transfer."""

    can_transfer = False

    async def transfer(self, number: str) -> bool:
        logger.warning(f"This transport cannot transfer calls; a dispatcher should call {number}")
        return False


class TwilioTransfer:
    """Redirects the live Twilio call to `<Dial>` the dispatcher (Calls API, call update).

    Twilio's 2xx means the call was handed to the dial, not that a dispatcher picked up: the
    result records the transfer as requested, and with `dial_status_url` (VOICE_SERVER_PUBLIC_URL)
    Twilio posts the dial's outcome there (connected or failed, see
    voice_server/routers/twilio_dial.py). A refusal or an error is a failed transfer and the
    agent tells the driver the office will call back instead.
    """

    can_transfer = True

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        call_sid: str,
        base_url: str = TWILIO_API_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        dial_status_url: str | None = None,
    ) -> None:
        self._account_sid = account_sid
        self._auth = (account_sid, auth_token)
        self._call_sid = call_sid
        self._base_url = base_url.rstrip("/")
        self._transport = transport
        self._dial_status_url = dial_status_url

    def twiml(self, number: str) -> str:
        if self._dial_status_url is None:
            return f"<Response><Dial>{escape(number)}</Dial></Response>"
        # Twilio posts the dial's outcome (did the dispatcher pick up?) to the voice server.
        action = quoteattr(self._dial_status_url)
        return f'<Response><Dial action={action} method="POST">{escape(number)}</Dial></Response>'

    async def transfer(self, number: str) -> bool:
        url = (
            f"{self._base_url}/2010-04-01/Accounts/{self._account_sid}/Calls/{self._call_sid}.json"
        )
        try:
            async with httpx.AsyncClient(timeout=10, transport=self._transport) as client:
                response = await client.post(
                    url, auth=self._auth, data={"Twiml": self.twiml(number)}
                )
        except httpx.HTTPError as exc:
            logger.error(f"Twilio transfer to {number} failed: {exc!r}")
            return False
        if response.status_code >= 300:
            logger.error(
                f"Twilio refused the transfer ({response.status_code}): {response.text[:300]}"
            )
            return False
        logger.info(f"Twilio call {self._call_sid} transferred to {number}")
        return True
