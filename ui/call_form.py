"""The Trigger call form: which engine places the call, and its fields checked as the voice
server will check them (`StartCallRequest`), so mistakes show before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from protocols.start_call import StartCallRequest

SIMULATED = "Simulated call"
Vendor = Literal["retell", "pipecat"]
Mode = Literal["web", "phone"]
ENGINES: dict[str, tuple[Vendor, Mode]] = {
    SIMULATED: ("retell", "web"),
    "Retell web call": ("retell", "web"),
    "Retell phone call": ("retell", "phone"),
    "Pipecat session": ("pipecat", "web"),
}
FIELD_LABELS = {
    "driver_name": "Driver name",
    "driver_phone": "Driver phone",
    "load_number": "Load number",
    "origin": "Origin",
    "destination": "Destination",
    "appointment": "Appointment",
}


@dataclass(frozen=True)
class CallForm:
    engine: str
    driver_name: str
    driver_phone: str
    load_number: str
    origin: str
    destination: str
    appointment: str

    def start_request(self) -> StartCallRequest:
        """The request the voice server receives; raises ValidationError on bad fields."""
        vendor, mode = ENGINES[self.engine]
        return StartCallRequest(
            vendor=vendor,
            mode=mode,
            driver_name=self.driver_name,
            driver_phone=self.driver_phone.strip() or None,
            load_number=self.load_number,
            origin=self.origin,
            destination=self.destination,
            appointment=self.appointment.strip() or None,
            scenario="simulated" if self.engine == SIMULATED else None,
        )


def form_errors(form: CallForm) -> list[str]:
    """One message per wrong field, naming the field; empty when the call can be placed."""
    if form.engine not in ENGINES:
        return [f"Choose an engine: {', '.join(ENGINES)}."]
    problems: list[str] = []
    try:
        form.start_request()
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "request"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{FIELD_LABELS.get(field, field)}: {message}")
    if ENGINES[form.engine][1] == "phone" and not form.driver_phone.strip():
        problems.append(
            "Driver phone: a Retell phone call needs the driver's number (+15551234567)."
        )
    return problems
