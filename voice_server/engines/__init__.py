"""The voice engines by name. A third vendor is one module here and one line in `ENGINES`.

Engines load lazily: an engine whose module (or its libraries) cannot be imported is reported
as unavailable with the reason, and every other engine keeps working.
"""

from __future__ import annotations

from collections.abc import Callable

from voice_server.engines.base import Engine


class EngineUnavailable(LookupError):
    """No such engine, or it cannot start calls here; the message says why."""


def _retell() -> Engine:
    from voice_server.engines.retell import RetellEngine

    return RetellEngine()


def _pipecat() -> Engine:
    from voice_server.engines.pipecat import PipecatEngine

    return PipecatEngine()


ENGINES: dict[str, Callable[[], Engine]] = {"retell": _retell, "pipecat": _pipecat}


def load_engine(name: str) -> Engine:
    factory = ENGINES.get(name)
    if factory is None:
        raise EngineUnavailable(f"No voice engine named {name!r}; known: {', '.join(ENGINES)}.")
    try:
        return factory()
    except ImportError as exc:
        raise EngineUnavailable(f"The {name} engine cannot be loaded here: {exc}") from None
