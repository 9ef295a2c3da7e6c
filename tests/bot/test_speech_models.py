"""The offline speech models as the bot runs them: Whisper's shortened window, Piper's chunks."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import soxr
from faster_whisper.audio import pad_or_trim

from bench.phone_caller import espeak_pcm
from bot.stt_whisper import CallWhisper, default_model_dir, shared_model
from bot.tts_piper import (
    LEAD_IN_SECS,
    QUIET_SAMPLE,
    default_voice_paths,
    espeak_phonemes,
    load_voice,
    speaking_chunks,
    without_lead_in,
)

FRAMES_PER_SEC = 100  # Whisper's mel frames; the encoder halves them


def phone_audio(text: str, *, silence_after: float = 0.9) -> np.ndarray:
    """`text` as the bot's Whisper gets it from a phone line: 16 kHz float, quiet after it."""
    speech = soxr.resample(espeak_pcm(text).astype(np.float32) / 32768, 8000, 16000)
    return np.concatenate(
        [np.zeros(12800, np.float32), speech, np.zeros(int(16000 * silence_after), np.float32)]
    )


def heard(model, line: str, prompt: str) -> str:  # type: ignore[no-untyped-def]
    """What the bot's Whisper on `model` makes of `line` said on a phone line, given the call's
    prompt."""
    segments, _ = CallWhisper(model).transcribe(
        phone_audio(line), language="en", initial_prompt=prompt
    )
    return " ".join(s.text for s in segments)


@pytest.fixture(scope="module")
def windowed():  # type: ignore[no-untyped-def]
    return shared_model(default_model_dir(), window_secs=10.0)


def test_a_short_line_is_encoded_in_a_ten_second_window_not_thirty(windowed) -> None:  # type: ignore[no-untyped-def]
    features = pad_or_trim(windowed.feature_extractor(phone_audio("Around 4 PM.")))
    assert features.shape[-1] == 30 * FRAMES_PER_SEC  # what faster-whisper hands the encoder

    encoded = windowed.encode(features)

    assert encoded.shape[1] == 10 * FRAMES_PER_SEC // 2


def test_a_line_longer_than_the_window_is_encoded_whole(windowed) -> None:  # type: ignore[no-untyped-def]
    audio = phone_audio("I'm on I 40 near Amarillo. " * 7, silence_after=0.5)
    assert len(audio) / 16000 > 12
    features = pad_or_trim(windowed.feature_extractor(audio))

    encoded = windowed.encode(features)

    assert encoded.shape[1] >= len(audio) / 16000 * FRAMES_PER_SEC // 2 - 1


def test_the_windowed_model_hears_a_driver_line_with_the_call_prompt(windowed) -> None:  # type: ignore[no-untyped-def]
    text = heard(
        windowed,
        "I'm on I 40 near Amarillo.",
        "Dispatch check call from Oklahoma City to Albuquerque. Passing Amarillo. On I-40.",
    )
    assert "Amarillo" in text and "40" in text


def test_the_windowed_model_hears_a_breakdown_as_a_breakdown(windowed) -> None:  # type: ignore[no-untyped-def]
    # Greedy decoding in the 10 s window heard "My truck, road down" here; 5 beams do not.
    text = heard(
        windowed,
        "My truck broke down near Oklahoma City, at mile marker 125.",
        "Dispatch check call with Tom Becker from Memphis, TN to Amarillo, TX. "
        "Passing Little Rock, Oklahoma City. ETA, mile marker, breakdown, tow truck.",
    )
    assert "broke down" in text.lower()


def test_a_short_line_is_transcribed_once_not_decoded_again_from_its_last_timestamp(
    windowed,
) -> None:  # type: ignore[no-untyped-def]
    text = heard(windowed, "Probably 5 PM.", "Dispatch check call.").lower()
    assert text.count("5") == 1 and text.count("probably") == 1


def test_clauses_are_joined_into_chunks_of_six_words_and_the_first_may_be_shorter() -> None:
    reply = "Got it, I have you on I-40 near Amarillo, with an ETA of 4 pm."
    assert speaking_chunks(reply) == [
        "Got it, I have you on I-40 near Amarillo,",
        "with an ETA of 4 pm.",
    ]
    assert speaking_chunks(reply, first_min_words=2) == [
        "Got it,",
        "I have you on I-40 near Amarillo,",
        "with an ETA of 4 pm.",
    ]
    # one word alone would leave a gap after it; a later short clause joins its neighbour
    assert speaking_chunks("Okay, so where are you, and is anyone hurt?", first_min_words=2) == [
        "Okay, so where are you,",
        "and is anyone hurt?",
    ]
    assert speaking_chunks("Thanks, Maria, drive safe.", first_min_words=2) == [
        "Thanks, Maria,",
        "drive safe.",
    ]


def test_the_first_chunk_starts_with_the_voice_not_with_its_opening_quiet() -> None:
    voice = load_voice(*default_voice_paths())
    phonemes = asyncio.run(
        espeak_phonemes("Just so I can update the board,", voice.espeak_voice, "espeak-ng")
    )
    spoken = voice.synthesize(phonemes)

    trimmed = np.frombuffer(without_lead_in(spoken, voice.sample_rate), dtype=np.int16)

    original = np.frombuffer(spoken, dtype=np.int16)
    first_sound = np.flatnonzero(np.abs(trimmed.astype(np.int32)) > QUIET_SAMPLE)[0]
    assert first_sound <= LEAD_IN_SECS * voice.sample_rate + 1
    assert len(trimmed) < len(original)
    assert np.array_equal(trimmed, original[len(original) - len(trimmed) :])  # nothing else cut
