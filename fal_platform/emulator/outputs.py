"""Model outputs shaped like fal's per category (fal_protocol.md section 8).

Outputs are never stored: they are rebuilt from (seed, request id, input) whenever a result is
fetched, so 100,000 jobs cost no output memory and every fetch returns the same JSON. Media
URLs are built on the base URL of the fetching request, so they point back at this emulator.
"""

from __future__ import annotations

import random
from typing import Any

from fal_platform.emulator import categories as c
from fal_platform.emulator import media
from fal_platform.emulator.catalog import Model
from fal_platform.emulator.pricing import image_dimensions, video_seconds

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Welcome to the weekly product update.",
    "Our results show a clear improvement over the baseline.",
    "Please remember to submit your reports by Friday.",
    "The weather today is sunny with a light breeze.",
    "Thank you all for joining the call this morning.",
    "Let us review the numbers from the last quarter.",
    "Generative media pipelines are data pipelines too.",
)


def build_output(
    model: Model,
    payload: dict[str, Any],
    *,
    seed: int,
    request_id: str,
    inference_time: float,
    base_url: str,
    video_bytes_per_second: int = media.MP4_BYTES_PER_SECOND,
) -> dict[str, Any]:
    rng = random.Random(f"{seed}:output:{request_id}")
    media_base = f"{base_url}/media/{request_id}"
    if model.category in c.IMAGE_CATEGORIES:
        return _images(model, payload, rng, media_base, request_id, inference_time)
    if model.category in c.VIDEO_CATEGORIES:
        return _video(payload, rng, media_base, request_id, video_bytes_per_second)
    if model.category == c.TEXT_TO_SPEECH:
        return _speech(model, payload, media_base, request_id)
    return _transcript(payload, rng)


def _output_seed(payload: dict[str, Any], rng: random.Random) -> int:
    """The input seed if given, else a 63-bit one (usually above 2**53, like fal's)."""
    given = payload.get("seed")
    return given if isinstance(given, int) else rng.getrandbits(63)


def _images(
    model: Model,
    payload: dict[str, Any],
    rng: random.Random,
    media_base: str,
    request_id: str,
    inference_time: float,
) -> dict[str, Any]:
    width, height = image_dimensions(model, payload)
    count = int(payload.get("num_images", 1))
    images = []
    for index in range(count):
        colour = rng.choice(media.PALETTE)
        images.append(
            {
                "url": f"{media_base}/{index}.png?w={width}&h={height}&c={colour}",
                "width": width,
                "height": height,
                "content_type": "image/png",
                "file_name": f"{request_id[:8]}_{index}.png",
                "file_size": len(media.png_bytes(width, height, colour)),
            }
        )
    return {
        "images": images,
        "timings": {"inference": round(inference_time, 4)},
        "seed": _output_seed(payload, rng),
        "has_nsfw_concepts": [rng.random() < 0.02 for _ in range(count)],
        "prompt": payload.get("prompt", ""),
    }


def _video(
    payload: dict[str, Any],
    rng: random.Random,
    media_base: str,
    request_id: str,
    bytes_per_second: int,
) -> dict[str, Any]:
    duration_ms = video_seconds(payload) * 1000
    # The rate rides in the URL only when it is not the default, so default URLs never change.
    rate = "" if bytes_per_second == media.MP4_BYTES_PER_SECOND else f"&bps={bytes_per_second}"
    return {
        "video": {
            "url": f"{media_base}/0.mp4?ms={duration_ms}{rate}",
            "content_type": "video/mp4",
            "file_name": f"{request_id[:8]}_output.mp4",
            "file_size": media.mp4_size(duration_ms, bytes_per_second),
        },
        "seed": _output_seed(payload, rng),
    }


def speech_duration_ms(payload: dict[str, Any]) -> int:
    """About 2.5 words a second at speed 1, between 1 and 60 seconds."""
    words = len(str(payload.get("prompt", "")).split())
    speed = float(payload.get("speed", 1.0) or 1.0)
    seconds = min(60.0, max(1.0, words / 2.5 / speed))
    return int(seconds * 1000)


def _speech(
    model: Model, payload: dict[str, Any], media_base: str, request_id: str
) -> dict[str, Any]:
    duration_ms = speech_duration_ms(payload)
    return {
        model.audio_key: {
            "url": f"{media_base}/0.wav?ms={duration_ms}",
            "content_type": "audio/wav",
            "file_name": f"{request_id[:8]}_speech.wav",
            "file_size": media.wav_size(duration_ms),
            "duration": duration_ms / 1000,
        }
    }


def _transcript(payload: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    sentences = [rng.choice(SENTENCES) for _ in range(rng.randint(2, 5))]
    diarize = bool(payload.get("diarize"))
    chunks = []
    start = 0.0
    for index, sentence in enumerate(sentences):
        end = round(start + len(sentence.split()) / 2.5, 2)
        chunk: dict[str, Any] = {"timestamp": [start, end], "text": sentence}
        if diarize:
            chunk["speaker"] = f"SPEAKER_{index % 2:02d}"
        chunks.append(chunk)
        start = end
    output: dict[str, Any] = {
        "text": " ".join(sentences),
        "chunks": chunks,
        "languages": [payload.get("language") or "en"],
    }
    if diarize:
        output["diarization_segments"] = [
            {"speaker": ch["speaker"], "timestamp": ch["timestamp"]} for ch in chunks
        ]
    return output
