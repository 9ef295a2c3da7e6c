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
    """What happened to an emergency's hand-off; "connected" only on the provider's word.

    The agent records what it did (asked for a transfer, or told the driver the office will
    call back); the voice server upgrades a transfer to connected or failed when Retell's
    transfer webhooks or Twilio's answer say so, and a later write never downgrades it (see
    `rank`).
    """

    CALLBACK_REQUESTED = "Callback Requested"  # no transfer line: the office calls the driver
    TRANSFER_REQUESTED = "Transfer Requested"  # the agent asked the provider to transfer
    TRANSFER_FAILED = "Transfer Failed"  # the provider could not bridge a human
    TRANSFER_CONNECTED = "Transfer Connected"  # the provider bridged a human dispatcher

    @property
    def rank(self) -> int:
        """Merge order: a status only ever moves to one of higher rank."""
        return _ESCALATION_RANK[self]


# Before the honest vocabulary, every escalated call said this whether or not anyone answered;
# migrations map it to TRANSFER_REQUESTED (all that was ever known).
LEGACY_CONNECTED_TO_HUMAN = "Connected to Human Dispatcher"

_ESCALATION_RANK = {
    EscalationStatus.CALLBACK_REQUESTED: 1,
    EscalationStatus.TRANSFER_REQUESTED: 1,
    EscalationStatus.TRANSFER_FAILED: 2,
    EscalationStatus.TRANSFER_CONNECTED: 3,
}


class OnTimeStatus(StrEnum):
    """The ETA against the appointment (`CallResult.on_time_status`; dispatch boards read it)."""

    ON_TIME = "On Time"
    AT_RISK = "At Risk"  # arriving less than 30 minutes before the appointment, or maybe after
    LATE = "Late"  # `CallResult.minutes_late` says by how much when the ETA is a clock time
