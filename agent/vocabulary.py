"""The structured result's exact vocabulary: the one place these strings are defined."""

from enum import StrEnum


class CallOutcome(StrEnum):
    IN_TRANSIT_UPDATE = "In-Transit Update"
    ARRIVAL_CONFIRMATION = "Arrival Confirmation"
    EMERGENCY_ESCALATION = "Emergency Escalation"
    INCOMPLETE = "Incomplete"


class DriverStatus(StrEnum):
    DRIVING = "Driving"
    DELAYED = "Delayed"
    ARRIVED = "Arrived"  # at the facility, not yet unloading
    UNLOADING = "Unloading"


class EmergencyType(StrEnum):
    ACCIDENT = "Accident"
    BREAKDOWN = "Breakdown"
    MEDICAL = "Medical"
    OTHER = "Other"


class EscalationStatus(StrEnum):
    CONNECTED_TO_HUMAN = "Connected to Human Dispatcher"
