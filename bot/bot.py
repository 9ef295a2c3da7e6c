"""The Pipecat bot: one dispatch call per session, over WebRTC (browser) or Twilio media streams.

    transport in -> STT -> user turns -> dispatch agent -> TTS -> transport out -> recorder
        -> assistant turns

The runner (`python -m bot`) calls `bot(runner_args)` for each session. The call's context comes
from the session body (see bot.sessions); the agent speaks first, as soon as the driver can hear
it (a phone call when it connects, a browser when its client is ready); the
SessionObserver reports the session to the voice server when it ends.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.runner.types import RunnerArguments, WebSocketRunnerArguments
from pipecat.runner.utils import create_transport, parse_telephony_websocket
from pipecat.transports.base_transport import BaseTransport, TransportParams
from pipecat.workers.runner import WorkerRunner

from agent.types import CallContext
from bot.agent_processor import DispatchAgentProcessor
from bot.call_control import CallControl, NoTransfer, TwilioTransfer
from bot.capacity import SESSIONS
from bot.event_client import EventClient
from bot.observer import SessionObserver
from bot.recorder import CallRecorder
from bot.services import check_bot_config, make_stt, make_tts, user_turn_params
from bot.sessions import SessionRefused, SessionSpec, registry_for
from bot.speech_prompt import speech_prompt
from bot.spool import claimed_spool_path
from db.recordings import open_recordings
from protocols.twilio_dial import dial_status_url
from settings import Settings, get_settings

# A browser says when it is ready to hear the agent (RTVI client-ready); a WebRTC peer that does
# not speak RTVI is greeted this long after it connected.
CLIENT_READY_WAIT_SECS = 2.0
POLICY_VIOLATION = 1008  # WebSocket close code for a refused session token


_event_clients: dict[tuple[int, str, str, Path], EventClient] = {}


def event_client_for(settings: Settings) -> EventClient:
    """The process's client for its spool file (bot/spool.py), one per event loop: sessions
    running at once share it, so one's rewrite of the spool never drops another's event."""
    api_key = settings.pipecat_api_key.get_secret_value() if settings.pipecat_api_key else ""
    path = claimed_spool_path(settings.pipecat_spool_path)
    try:
        loop = id(asyncio.get_running_loop())
    except RuntimeError:
        return EventClient(settings.voice_server_url, api_key, path)
    key = (loop, settings.voice_server_url, api_key, path)
    if key not in _event_clients:
        _event_clients[key] = EventClient(settings.voice_server_url, api_key, path)
    return _event_clients[key]


@dataclass
class DispatchSession:
    """The per-call parts around which the pipeline is assembled."""

    spec: SessionSpec
    call_context: CallContext
    context: LLMContext
    aggregators: LLMContextAggregatorPair
    agent: DispatchAgentProcessor
    observer: SessionObserver

    def agent_said_last(self) -> str | None:
        """The agent's latest reply in the conversation so far (what the driver answers)."""
        for message in reversed(self.context.get_messages()):
            if message.get("role") == "assistant":
                content = message.get("content")
                return content if isinstance(content, str) else None
        return None


def dispatch_session(
    spec: SessionSpec,
    settings: Settings,
    *,
    policy: Any,
    event_client: EventClient,
    call_control: CallControl | None = None,
    user_params: LLMUserAggregatorParams | None = None,
    silence_timeout_secs: float | None = 8.0,
) -> DispatchSession:
    control = call_control or NoTransfer()
    call_context = CallContext.from_mapping(
        spec.context,
        transfer_number=settings.dispatch_transfer_number if control.can_transfer else None,
    )
    context = LLMContext()
    return DispatchSession(
        spec=spec,
        call_context=call_context,
        context=context,
        aggregators=LLMContextAggregatorPair(context, user_params=user_params),
        agent=DispatchAgentProcessor(
            policy=policy,
            call_context=call_context,
            call_control=control,
            silence_timeout_secs=silence_timeout_secs,
        ),
        observer=SessionObserver(
            provider_call_id=spec.provider_call_id,
            call_context=call_context,
            session_context=spec.context | {"transport": spec.transport},
            event_client=event_client,
            keywords=settings.keywords,
        ),
    )


async def transport_for(
    runner_args: RunnerArguments, settings: Settings
) -> tuple[BaseTransport, SessionSpec, CallControl]:
    """WebRTC through the runner's factory; Twilio built here so it runs without credentials."""
    if (
        isinstance(runner_args, WebSocketRunnerArguments)
        and runner_args.transport_type != "websocket"
    ):
        from pipecat.serializers.twilio import TwilioFrameSerializer
        from pipecat.transports.websocket.fastapi import (
            FastAPIWebsocketParams,
            FastAPIWebsocketTransport,
        )

        kind, call_data = await parse_telephony_websocket(runner_args.websocket)
        if kind != "twilio":
            raise ValueError(f"Only Twilio media streams are supported, not {kind!r}")
        account_sid = settings.twilio_account_sid
        auth_token = (
            settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
        )
        has_credentials = bool(account_sid and auth_token)
        serializer = TwilioFrameSerializer(
            stream_sid=call_data["stream_id"],
            call_sid=call_data["call_id"],
            account_sid=account_sid or "",
            auth_token=auth_token or "",
            # Hanging up goes through Twilio's REST API; without credentials closing the
            # stream ends the <Connect> and so the call.
            # Pipecat's default clears the resampler after 0.2 s without audio, dropping ~50 ms
            # of buffered speech each time: a jittery line or a busy bot then chops the driver's
            # words ("broke down near Oklahoma City" came out "road, niroke, lumper, city").
            params=TwilioFrameSerializer.InputParams(
                auto_hang_up=has_credentials, resampler_clear_after_secs=None
            ),
        )
        transport = FastAPIWebsocketTransport(
            websocket=runner_args.websocket,
            params=FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
                serializer=serializer,
            ),
        )
        spec = await asyncio.to_thread(
            registry_for(settings).resolve,
            call_data.get("body") or {},
            fallback_id=str(call_data["call_id"]),
            transport="twilio",
            timezone=settings.dispatch_timezone,
        )
        public_url = settings.voice_server_public_url
        control: CallControl = (
            TwilioTransfer(
                account_sid=account_sid or "",
                auth_token=auth_token or "",
                call_sid=call_data["call_id"],
                dial_status_url=dial_status_url(public_url, spec.provider_call_id)
                if public_url
                else None,
            )
            if has_credentials
            else NoTransfer()
        )
        return transport, spec, control

    spec = await asyncio.to_thread(
        registry_for(settings).resolve,
        runner_args.body,
        fallback_id=runner_args.session_id or "adhoc",
        transport="webrtc",
        timezone=settings.dispatch_timezone,
    )
    transport = await create_transport(
        runner_args,
        {"webrtc": lambda: TransportParams(audio_in_enabled=True, audio_out_enabled=True)},
    )
    return transport, spec, NoTransfer()


async def run_bot(
    transport: BaseTransport,
    spec: SessionSpec,
    settings: Settings,
    *,
    call_control: CallControl,
    handle_sigint: bool = False,
) -> None:
    events = event_client_for(settings)
    session = dispatch_session(
        spec,
        settings,
        policy=settings.agent_policy(),
        event_client=events,
        call_control=call_control,
        user_params=user_turn_params(settings),
    )
    recorder = CallRecorder(spec.provider_call_id, open_recordings(settings), events)
    pipeline = Pipeline(
        [
            transport.input(),
            make_stt(
                settings,
                prompt=speech_prompt(session.call_context),
                agent_said_last=session.agent_said_last,
            ),
            session.aggregators.user(),
            session.agent,
            make_tts(settings),
            transport.output(),
            recorder.processor,  # driver left, bot right
            session.aggregators.assistant(),
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
        observers=[session.observer],
    )

    greeted = False
    pending_greeting: asyncio.Task | None = None

    async def greet() -> None:
        nonlocal greeted
        if not greeted:
            greeted = True
            await worker.queue_frames([LLMRunFrame()])  # the agent speaks first

    async def greet_unless_client_ready() -> None:
        await asyncio.sleep(CLIENT_READY_WAIT_SECS)
        await greet()

    @worker.rtvi.event_handler("on_client_ready")
    async def on_client_ready(_rtvi: Any) -> None:
        await greet()

    @transport.event_handler("on_client_connected")
    async def on_client_connected(_transport: Any, _client: Any) -> None:
        nonlocal pending_greeting
        logger.info(f"Driver connected to session {spec.provider_call_id}")
        if spec.transport == "webrtc":
            # A browser client first sets up playback and captions, then says it is ready
            # (RTVI client-ready): greeting before that, the driver misses its first words.
            pending_greeting = asyncio.create_task(greet_unless_client_ready())
        else:
            await greet()

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport: Any, _client: Any) -> None:
        logger.info(f"Driver left session {spec.provider_call_id}")
        if pending_greeting is not None:
            pending_greeting.cancel()
        await session.observer.finish("client_disconnected")
        await worker.cancel()

    @worker.event_handler("on_pipeline_finished")
    async def on_pipeline_finished(_worker: Any, _frame: Any) -> None:
        await session.observer.finish("pipeline_finished")

    runner = WorkerRunner(handle_sigint=handle_sigint)
    await runner.add_workers(worker)
    with SESSIONS.session():
        await runner.run()


async def refuse(runner_args: RunnerArguments) -> None:
    """Close a connection whose session token is refused (Twilio's stream, a WebRTC peer)."""
    if isinstance(runner_args, WebSocketRunnerArguments):
        await runner_args.websocket.close(code=POLICY_VIOLATION, reason="session refused")
        return
    connection = getattr(runner_args, "webrtc_connection", None)
    if connection is not None:
        await connection.disconnect()


async def bot(runner_args: RunnerArguments) -> None:
    """Entry point the Pipecat runner calls for every session."""
    settings = get_settings()
    check_bot_config(settings)
    try:
        transport, spec, control = await transport_for(runner_args, settings)
    except SessionRefused as exc:
        logger.warning(f"{exc}: the connection is closed")
        await refuse(runner_args)
        return
    logger.info(f"Session {spec.provider_call_id} over {spec.transport}")
    await run_bot(
        transport, spec, settings, call_control=control, handle_sigint=runner_args.handle_sigint
    )


if __name__ == "__main__":
    from bot.__main__ import main

    main()
