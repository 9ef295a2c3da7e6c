"""The one signature on every webhook we send (emergency alerts, TMS results).

Retell's own scheme, from retell-sdk: `X-Dispatch-Signature: v=<unix ms>,d=<hex HMAC-SHA256 of
body + ms>`, refused when older or newer than five minutes, so a receiver that already checks
Retell's webhooks checks ours with the same code (`retell.lib.webhook_auth.symmetric`).
"""

from __future__ import annotations

from retell.lib.webhook_auth import symmetric

SIGNATURE_HEADER = "X-Dispatch-Signature"
DELIVERY_HEADER = "X-Dispatch-Delivery"


def sign(body: str, secret: str, timestamp_ms: int | None = None) -> str:
    return symmetric["sign"](body, secret, timestamp_ms)


def verify(body: str, secret: str, signature: str, now_ms: int | None = None) -> bool:
    """True for a signature made with `secret` over `body` within five minutes of now."""
    options = {} if now_ms is None else {"timestamp": now_ms}
    return bool(symmetric["verify"](body, secret, signature, options))
