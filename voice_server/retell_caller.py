"""Moved to `protocols.retell.caller`; this path stays importable for existing callers."""

from protocols.retell.caller import *  # noqa: F403
