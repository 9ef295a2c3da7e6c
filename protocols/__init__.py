"""Wire formats shared by the two ends of a connection, so that a mismatch is a type error.

- `protocols.pipecat_events`: the events the Pipecat bot posts to the voice server.
"""
