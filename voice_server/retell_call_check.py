"""Does Retell know this call id? Asked once per id through retell-sdk's retrieve-call, cached.

Retell sends no credential on the LLM socket, so without this the call id in the URL is the only
handle: anyone who can reach the server could open sockets for made-up ids. With RETELL_API_KEY
set, an id Retell answers 404 for is refused. When Retell cannot be asked (network, 5xx) the
socket is let in and that is logged: a call in progress must not fail because Retell's REST API
has a bad minute.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

import retell

log = logging.getLogger(__name__)

KNOWN_TTL_SECS = 6 * 3600.0  # longer than any call
UNKNOWN_TTL_SECS = 30.0  # a call id may be one Retell is about to register
UNANSWERED_TTL_SECS = 10.0
CAPACITY = 50_000
LOOKUP_TIMEOUT_SECS = 2.0


class RetellCallDirectory:
    def __init__(self, api_key: str, base_url: str) -> None:
        self._client = retell.AsyncRetell(
            api_key=api_key, base_url=base_url, timeout=LOOKUP_TIMEOUT_SECS, max_retries=1
        )
        self._answers: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        self.lookups = 0

    async def knows(self, call_id: str) -> bool:
        cached = self._answers.get(call_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        self.lookups += 1
        try:
            await self._client.call.retrieve(call_id)
            known, ttl = True, KNOWN_TTL_SECS
        except retell.NotFoundError:
            known, ttl = False, UNKNOWN_TTL_SECS
        except retell.APIError as exc:
            log.warning("call %s: Retell could not confirm the call id (%s); let in", call_id, exc)
            known, ttl = True, UNANSWERED_TTL_SECS
        self._answers[call_id] = (known, time.monotonic() + ttl)
        self._answers.move_to_end(call_id)
        while len(self._answers) > CAPACITY:
            self._answers.popitem(last=False)
        return known

    async def close(self) -> None:
        await self._client.close()
