"""`python -m bot [--host 127.0.0.1] [--port 7860] [-t webrtc|twilio]`: Pipecat's runner.

Adds to the runner's FastAPI app the routes the voice server uses to register a session
(`POST /dispatch/sessions`, bearer PIPECAT_API_KEY) and to read this process's capacity
(`GET /dispatch/health`), and the middleware that ties the prebuilt browser client to it (see
bot.sessions). Configuration is checked, this process's spool file claimed (bot.spool) and the
session registry's database migrated before the server starts.
"""

from __future__ import annotations

import asyncio
import sys

from loguru import logger

from bot.bot import bot, event_client_for  # the runner looks for `bot` on __main__
from bot.capacity import capacity_router
from bot.services import check_bot_config, warm_up
from bot.sessions import SessionBodyMiddleware, registry_for, session_router
from bot.spool import claim_spool
from db import StoreError, StoreUnavailable
from settings import ConfigError, get_settings

__all__ = ["bot", "main"]


def main() -> None:
    from pipecat.runner.run import app
    from pipecat.runner.run import main as run_runner

    try:
        settings = get_settings()
        services = check_bot_config(settings)
        spool = claim_spool(settings.pipecat_spool_path)
    except ConfigError as exc:
        sys.exit(str(exc))
    for warning in services.warnings:
        logger.warning(warning)
    logger.info(f"Speech: {services.stt} hears, {services.tts} speaks; spool {spool.path}")
    try:
        registry_for(settings).prepare()
    except StoreUnavailable as exc:
        logger.warning(f"Sessions cannot be registered until the database is back: {exc}")
    except StoreError as exc:
        sys.exit(str(exc))
    warm_up(settings)
    # Summaries spooled while the voice server was unreachable go out now.
    report = asyncio.run(event_client_for(settings).flush())
    if report.delivered or report.pending:
        print(f"Spool: {report.delivered} event(s) delivered, {report.pending} still waiting.")
    app.include_router(session_router(settings))
    app.include_router(capacity_router())
    app.add_middleware(SessionBodyMiddleware)
    run_runner()


if __name__ == "__main__":
    main()
