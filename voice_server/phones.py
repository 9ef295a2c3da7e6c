"""Moved to `protocols.phones` (the start-call contract needs it); this path stays importable."""

from protocols.phones import *  # noqa: F403
