"""Moved to `protocols.retell.messages`; this path stays importable for existing callers."""

from protocols.retell.messages import *  # noqa: F403
