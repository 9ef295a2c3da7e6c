"""Trigger call: talk to the agent from this page (a Retell web call or a Pipecat session held
by the call widget), place a Retell phone call, or hold a simulated call where the manager types
as the driver and the agent answers over Retell's protocol."""

import streamlit as st

from db.models import Provider
from settings import ConfigError, get_settings
from ui import queries
from ui.call_form import ENGINES, SIMULATED, CallForm, form_errors
from ui.call_result import show_call_result
from ui.call_view import conversation_link, show_structured, show_transcript
from ui.call_widget import WidgetCall, call_widget
from ui.emergency_alerts import transfer_line_warning
from ui.filters import ENGINE_LABELS
from ui.live_calls import live_calls_panel
from ui.page_setup import through_app_navigation
from ui.simulated_call import SimulatedCall, SimulatedCallError
from ui.voice_api import VoiceServerError, call_status, start_call

through_app_navigation()
st.title("Trigger a call")

try:
    settings = get_settings()
except ConfigError as exc:
    st.error(str(exc))
    st.stop()
transfer_line_warning(settings)

with st.form("call_form", border=True):
    left, right = st.columns(2)
    driver_name = left.text_input("Driver name", "Mike Johnson", key="driver_name")
    driver_phone = right.text_input(
        "Driver phone",
        placeholder="+15551234567",
        key="driver_phone",
        help=(
            "Needed only for Retell phone calls. +<country code> and the number, or a "
            f"{settings.default_phone_region} number such as (415) 555-2671."
        ),
    )
    load_number = left.text_input("Load number", "7891-B", key="load_number")
    appointment = right.text_input("Appointment", "Tomorrow 8:00 AM", key="appointment")
    origin = left.text_input("Origin", "Phoenix, AZ", key="origin")
    destination = right.text_input("Destination", "Los Angeles, CA", key="destination")
    engine = st.radio("Engine", list(ENGINES), horizontal=True, key="engine")
    submitted = st.form_submit_button(
        "Start call", type="primary", icon=":material/call:", key="start_call"
    )

if submitted:
    form = CallForm(
        engine=engine,
        driver_name=driver_name,
        driver_phone=driver_phone,
        load_number=load_number,
        origin=origin,
        destination=destination,
        appointment=appointment,
    )
    problems = form_errors(form)
    if problems:
        for problem in problems:
            st.error(problem)
        st.stop()
    request = form.start_request()
    previous = st.session_state.pop("simulated_call", None)
    if previous is not None:
        previous.hang_up()
    st.session_state.pop("started_call", None)
    if engine == SIMULATED:
        try:
            with st.spinner("Connecting to the voice server…"):
                st.session_state["simulated_call"] = SimulatedCall.start(settings, request)
        except SimulatedCallError as exc:
            st.error(str(exc))
            st.stop()
    else:
        try:
            with st.spinner(f"Starting the {engine.lower()}…"):
                st.session_state["started_call"] = start_call(settings, request)
        except VoiceServerError as exc:
            st.error(str(exc), icon=":material/call_end:")
            st.stop()

started = st.session_state.get("started_call")
widget_call = WidgetCall.of(started) if started is not None else None
if started is not None and widget_call is not None:
    with st.container(border=True, key="browser_call"):
        st.markdown(
            f"**{ENGINE_LABELS.get(started.provider, started.provider)} call** in this browser · "
            f"call `{started.provider_call_id}`"
        )
        outcome = call_widget(widget_call)
        if outcome is None:
            st.markdown("**Live**: as the voice server saves it")
            live_calls_panel(
                started.provider_call_id,
                empty_text="The call shows here once the agent is connected.",
            )
        else:
            show_call_result(started.provider_call_id, Provider(started.provider), outcome)
elif started is not None:
    with st.container(border=True):
        st.success(f"{started.provider.capitalize()} call started: status **{started.status}**")
        st.markdown(f"Call id: `{started.provider_call_id}`")
        if started.join_url:
            st.markdown(f"Media stream: `{started.join_url}`")
        if started.details:
            st.json(started.details, expanded=False)
        if st.button("Refresh status", icon=":material/refresh:", key="refresh_status"):
            try:
                st.json(call_status(settings, started.provider_call_id))
            except VoiceServerError as exc:
                st.error(str(exc))
        conversation_link(started.provider_call_id, started.provider)

call = st.session_state.get("simulated_call")
if call is not None:
    st.subheader("Simulated call")
    st.caption(
        f"You are the driver. The agent answers through the voice server's Retell WebSocket "
        f"(call `{call.call_id}`)."
    )
    driver_says = None if call.ended else st.chat_input("Reply as the driver", key="driver_turn")
    if driver_says:
        try:
            with st.spinner("The agent is answering…"):
                call.say(driver_says)
        except SimulatedCallError as exc:
            st.error(str(exc))
        if call.ended:
            st.rerun()  # redraw without the chat box, with the result
    show_transcript(call.transcript)
    if not call.ended and st.button("Hang up", icon=":material/call_end:", key="hang_up"):
        call.hang_up()
        st.rerun()
    if call.ended:
        st.info(call.end_reason, icon=":material/call_end:")
        with queries.shown_errors():
            saved = call.saved_call(queries.store())
        queries.refresh()
        st.markdown("**Structured result**")
        if saved is None:
            st.warning("The call has not been saved yet; it will appear in Conversations shortly.")
        else:
            show_structured(saved.structured)
            conversation_link(saved.provider_call_id, saved.provider.value)
