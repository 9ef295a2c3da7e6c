"""The protocol models: what is a frame, in both directions."""

from __future__ import annotations

import json

import pytest

from protocols.retell.messages import (
    ConfigResponse,
    ProtocolError,
    ResponseRequiredRequest,
    ResponseResponse,
    encode,
    parse_retell_request,
    parse_server_message,
)


def test_a_response_required_frame_with_retells_extra_fields():
    frame = {
        "interaction_type": "response_required",
        "response_id": 4,
        "transcript": [
            {"role": "agent", "content": "Hi.", "words": [{"word": "Hi.", "start": 0, "end": 0.4}]},
            {"role": "user", "content": "Hello."},
        ],
        "some_future_field": True,
    }
    request = parse_retell_request(json.dumps(frame))
    assert isinstance(request, ResponseRequiredRequest)
    assert [u.as_turn() for u in request.transcript] == [
        {"role": "agent", "content": "Hi."},
        {"role": "user", "content": "Hello."},
    ]


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "null",
        '"text"',
        '{"interaction_type": "response_required", "response_id": "4", "transcript": []}',
        '{"interaction_type": "response_required", "response_id": 4.0, "transcript": []}',
        '{"interaction_type": "response_required", "response_id": 4}',
        '{"interaction_type": "call_details"}',
        '{"interaction_type": "nope"}',
        '{"response_type": "response"}',
    ],
)
def test_what_is_not_a_retell_request(frame):
    with pytest.raises(ProtocolError):
        parse_retell_request(frame)


def test_server_frames_omit_unset_fields_and_round_trip():
    frame = encode(ResponseResponse(response_id=2, content="Okay.", content_complete=True))
    assert json.loads(frame) == {
        "response_type": "response",
        "response_id": 2,
        "content": "Okay.",
        "content_complete": True,
    }
    assert parse_server_message(frame) == ResponseResponse.model_validate_json(frame)
    assert json.loads(encode(ConfigResponse()))["config"] == {
        "auto_reconnect": True,
        "call_details": True,
        "transcript_with_tool_calls": False,
    }


def test_content_complete_must_be_a_bool():
    with pytest.raises(ProtocolError):
        parse_server_message(
            '{"response_type": "response", "response_id": 1, "content": "", "content_complete": 1}'
        )
