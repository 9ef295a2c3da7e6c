"""Wire formats shared by the two ends of a connection, so that a mismatch is a type error.

- `protocols.retell`: Retell's custom-LLM WebSocket protocol and the Retell side of a call.
- `protocols.pipecat_events`: the events the Pipecat bot posts to the voice server.
- `protocols.start_call`: what the app sends to start a call, and the answer.
- `protocols.bearer_auth`: the `Authorization: Bearer` check our services run on callers.
"""
