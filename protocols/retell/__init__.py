"""Retell's custom-LLM WebSocket protocol, for both ends.

- `messages`: every message in both directions, as pydantic models (the voice server's socket).
- `caller`: the Retell side of a call (tests, benchmarks and the Streamlit simulated call).
"""
