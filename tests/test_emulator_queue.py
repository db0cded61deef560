"""The emulator's queue protocol over real HTTP: lifecycle, status stream, cancel, error
shapes, media bytes and the sync run route."""

from __future__ import annotations

import io
import json
import struct
import time
import wave
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from emulator_support import wait_completed
from PIL import Image

from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.emulator.media import png_bytes
from fal_platform.emulator.stats import input_hash

FLUX = "fal-ai/flux/dev"
STEADY = {"queue_wait_jitter": 0.0, "inference_time_jitter": 0.0}


@pytest.fixture(scope="module")
def queue_emulator() -> Iterator[EmulatorProcess]:
    """Shared by tests that only need short jobs and do not change the config."""
    with EmulatorProcess(models=40, queue_wait=0.05, inference_time=0.05) as process:
        yield process


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20) as http:
        yield http


def submit(client: httpx.Client, base: str, endpoint: str, payload: Any) -> dict[str, Any]:
    response = client.post(f"{base}/{endpoint}", json=payload)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["x-fal-request-id"] == body["request_id"]
    return body


def png_size(data: bytes) -> tuple[int, int]:
    """Check the PNG structure and that the pixel data decompresses to exactly w x h pixels of
    one palette entry (1 bit each, a filter byte per row)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks = 8, {}
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + payload
        offset += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour_type) == (1, 3) and len(chunks[b"PLTE"]) == 3 and b"IEND" in chunks
    assert zlib.decompress(chunks[b"IDAT"]) == bytes(height * (1 + (width + 7) // 8))
    return width, height


def test_an_image_is_its_colour_everywhere_at_any_size() -> None:
    for width, height, colour in ((7, 3, "336699"), (9, 17, "e63946"), (1, 1, "000000")):
        data = png_bytes(width, height, colour)
        assert png_size(data) == (width, height)
        with Image.open(io.BytesIO(data)) as image:
            pixels = set(image.convert("RGB").getdata())
        assert pixels == {tuple(bytes.fromhex(colour))}


def test_lifecycle_status_codes_logs_and_result(
    emulator_factory: Callable[..., EmulatorProcess], client: httpx.Client
) -> None:
    emu = emulator_factory(models=20, queue_wait=0.3, inference_time=0.3, **STEADY)
    payload = {"prompt": "a red fox", "num_images": 2, "image_size": "square", "seed": 42}
    job = submit(client, emu.url, FLUX, payload)
    assert job["status"] == "IN_QUEUE" and job["queue_position"] == 0
    base = f"{emu.url}/fal-ai/flux/requests/{job['request_id']}"
    assert (job["response_url"], job["status_url"], job["cancel_url"]) == (
        base,
        base + "/status",
        base + "/cancel",
    )
    early = client.get(job["response_url"])
    assert early.status_code == 400 and early.json() == {"detail": "Request is still in progress"}

    seen: list[tuple[int, dict[str, Any]]] = []
    while not seen or seen[-1][1]["status"] != "COMPLETED":
        response = client.get(job["status_url"], params={"logs": 1})
        assert response.headers["x-fal-request-id"] == job["request_id"]
        seen.append((response.status_code, response.json()))
        time.sleep(0.02)
    states = [body["status"] for _, body in seen]
    assert states[0] == "IN_QUEUE" and "IN_PROGRESS" in states
    assert states.index("IN_PROGRESS") > max(i for i, s in enumerate(states) if s == "IN_QUEUE")
    for code, body in seen:
        assert code == (200 if body["status"] == "COMPLETED" else 202)
        assert body["request_id"] == job["request_id"] and "logs" in body
    assert seen[0][1]["queue_position"] == 0
    done = seen[-1][1]
    assert done["metrics"]["inference_time"] > 0 and "error" not in done
    assert {"message", "level", "source", "timestamp"} <= set(done["logs"][0])
    assert len(done["logs"]) >= 3
    assert client.get(job["status_url"], params={"logs": "false"}).json()["logs"] is None

    result = client.get(job["response_url"])
    assert result.status_code == 200
    assert result.headers["x-fal-request-id"] == job["request_id"]
    assert result.headers["x-fal-billable-units"] == "2"
    output = result.json()
    assert output == client.get(job["response_url"]).json()  # rebuilt identically
    assert output["seed"] == 42 and output["prompt"] == "a red fox"
    assert len(output["images"]) == 2 and output["has_nsfw_concepts"] == [False, False]
    for image in output["images"]:
        assert (image["width"], image["height"], image["content_type"]) == (512, 512, "image/png")
        media = client.get(image["url"])
        assert media.status_code == 200 and media.headers["content-type"] == "image/png"
        assert len(media.content) == image["file_size"]
        assert png_size(media.content) == (512, 512)

    stats = emu.stats()
    assert stats["accepted_submits"] == 1
    assert stats["accepted_submits_by_input_hash"] == {input_hash(payload): 1}
    assert stats["responses"]["status"]["200"] >= 1 and stats["responses"]["status"]["202"] >= 2
    assert stats["responses"]["result"] == {"400": 1, "200": 2}


def test_queue_positions_count_earlier_queued_jobs(
    emulator_factory: Callable[..., EmulatorProcess], client: httpx.Client
) -> None:
    emu = emulator_factory(models=20, queue_wait=30.0, **STEADY)
    jobs = [submit(client, emu.url, FLUX, {"prompt": f"p{i}"}) for i in range(3)]
    assert [j["queue_position"] for j in jobs] == [0, 1, 2]
    other_app = submit(client, emu.url, "fal-ai/whisper", {"audio_url": "https://x/a.wav"})
    assert other_app["queue_position"] == 0
    assert client.get(jobs[2]["status_url"]).json()["queue_position"] == 2
    assert client.put(jobs[0]["cancel_url"]).status_code == 202
    assert client.get(jobs[2]["status_url"]).json()["queue_position"] == 1


def test_status_stream_sends_changes_pings_and_closes(
    emulator_factory: Callable[..., EmulatorProcess], client: httpx.Client
) -> None:
    emu = emulator_factory(
        models=20, queue_wait=0.3, inference_time=0.3, stream_ping_interval=0.05, **STEADY
    )
    job = submit(client, emu.url, FLUX, {"prompt": "stream me"})
    events: list[dict[str, Any]] = []
    pings = 0
    with client.stream("GET", job["status_url"] + "/stream", params={"logs": 1}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-fal-request-id"] == job["request_id"]
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))
            elif line == ": ping":
                pings += 1
    states = [e["status"] for e in events]
    assert states[0] == "IN_QUEUE" and "IN_PROGRESS" in states and states[-1] == "COMPLETED"
    assert states.count("COMPLETED") == 1 and pings >= 1
    assert events[0]["queue_position"] == 0
    assert events[-1]["metrics"]["inference_time"] > 0
    streamed_logs = [line for e in events for line in e["logs"]]
    final = client.get(job["status_url"], params={"logs": 1}).json()["logs"]
    assert streamed_logs == final  # each event carries only the new lines


def test_status_stream_can_be_switched_off(
    emulator_factory: Callable[..., EmulatorProcess], client: httpx.Client
) -> None:
    """Off, the stream route answers 404 like a server without SSE; polling still works."""
    emu = emulator_factory(models=20, queue_wait=0.0, inference_time=0.0, status_stream=False)
    job = submit(client, emu.url, FLUX, {"prompt": "no stream"})
    missing = client.get(job["status_url"] + "/stream")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    assert client.get(job["status_url"]).json()["status"] == "COMPLETED"
    assert emu.configure(status_stream=True)["status_stream"] is True
    with client.stream("GET", job["status_url"] + "/stream") as response:
        assert response.status_code == 200
        assert any('"COMPLETED"' in line for line in response.iter_lines())
    assert emu.stats()["responses"]["status_stream"] == {"404": 1, "200": 1}


def test_cancel_queued_in_progress_and_completed(
    emulator_factory: Callable[..., EmulatorProcess], client: httpx.Client
) -> None:
    emu = emulator_factory(models=20, queue_wait=30.0, inference_time=30.0, **STEADY)
    queued = submit(client, emu.url, FLUX, {"prompt": "never"})
    cancel = client.put(queued["cancel_url"])
    assert cancel.status_code == 202 and cancel.json() == {"status": "CANCELLATION_REQUESTED"}
    assert cancel.headers["x-fal-request-id"] == queued["request_id"]
    status = client.get(queued["status_url"])
    assert status.status_code == 200
    assert status.json()["error_type"] == "client_cancelled"
    result = client.get(queued["response_url"])
    assert result.status_code == 499
    assert result.json() == {"detail": "Request was cancelled", "error_type": "client_cancelled"}
    assert result.headers["x-fal-error-type"] == "client_cancelled"
    again = client.put(queued["cancel_url"])
    assert again.status_code == 400 and again.json() == {"status": "ALREADY_COMPLETED"}

    emu.configure(queue_wait=0.0)
    running = submit(client, emu.url, FLUX, {"prompt": "running"})
    while client.get(running["status_url"]).json()["status"] != "IN_PROGRESS":
        time.sleep(0.01)
    assert client.put(running["cancel_url"]).status_code == 202
    assert client.get(running["status_url"]).json()["status"] == "COMPLETED"

    emu.configure(inference_time=0.05)
    finished = submit(client, emu.url, FLUX, {"prompt": "quick"})
    wait_completed(client, finished["status_url"])
    late = client.put(finished["cancel_url"])
    assert late.status_code == 400 and late.json() == {"status": "ALREADY_COMPLETED"}
    assert emu.stats()["responses"]["cancel"] == {"202": 2, "400": 2}


def test_schema_errors_surface_at_result_time(
    queue_emulator: EmulatorProcess, client: httpx.Client
) -> None:
    job = submit(client, queue_emulator.url, FLUX, {"num_images": 9, "image_size": "huge"})
    status = wait_completed(client, job["status_url"])
    assert status["error_type"] == "validation_error" and status["error"]
    result = client.get(job["response_url"])
    assert result.status_code == 422
    assert result.headers["x-fal-request-id"] == job["request_id"]
    detail = result.json()["detail"]
    assert {
        "loc": ["body", "prompt"],
        "msg": "field required",
        "type": "value_error.missing",
    } in detail
    assert ["body", "num_images"] in [item["loc"] for item in detail]
    assert ["body", "image_size"] in [item["loc"] for item in detail]


def test_request_errors(queue_emulator: EmulatorProcess, client: httpx.Client) -> None:
    url = queue_emulator.url
    malformed = client.post(
        f"{url}/{FLUX}", content=b'{"prompt": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["type"] == "json_invalid"
    assert "x-fal-request-id" not in malformed.headers
    not_object = client.post(f"{url}/{FLUX}", json=["a", "list"])
    assert not_object.status_code == 422
    assert not_object.json()["detail"][0]["loc"] == ["body"]
    unknown = client.post(f"{url}/nobody/nothing/here", json={"prompt": "x"})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Application 'nobody/nothing/here' not found"}
    missing_id = "00000000-0000-4000-8000-000000000000"
    for method, suffix in (
        ("GET", "/status"),
        ("GET", ""),
        ("PUT", "/cancel"),
        ("GET", "/status/stream"),
    ):
        response = client.request(method, f"{url}/fal-ai/flux/requests/{missing_id}{suffix}")
        assert response.status_code == 404 and response.json() == {"detail": "Request not found"}
    job = submit(client, url, FLUX, {"prompt": "x"})
    wrong_app = client.get(f"{url}/fal-ai/fast-sdxl/requests/{job['request_id']}/status")
    assert wrong_app.status_code == 404
    full_id = client.get(f"{url}/{FLUX}/requests/{job['request_id']}/status")
    assert full_id.status_code == 404  # status URLs carry owner/app only
    for value in ("1", "0", "true", "false", "True"):
        assert client.get(job["status_url"], params={"logs": value}).status_code in (200, 202)
    assert client.get(job["status_url"], params={"logs": "maybe"}).status_code == 422


def test_media_for_every_kind(queue_emulator: EmulatorProcess, client: httpx.Client) -> None:
    url = queue_emulator.url
    jobs = {
        "image": submit(
            client,
            url,
            "fal-ai/fast-sdxl",
            {"prompt": "x", "image_size": {"width": 300, "height": 200}},
        ),
        "i2i": submit(
            client,
            url,
            "fal-ai/flux/dev/image-to-image",
            {"prompt": "x", "image_url": "https://a/b.png"},
        ),
        "speech": submit(
            client,
            url,
            "fal-ai/kokoro/american-english",
            {"prompt": "Hello there, this is a test of speech."},
        ),
        "video": submit(
            client,
            url,
            "fal-ai/kling-video/v2/master/image-to-video",
            {"prompt": "x", "image_url": "https://a/b.png", "duration": "10"},
        ),
        "transcript": submit(
            client, url, "fal-ai/whisper", {"audio_url": "https://a/b.wav", "diarize": True}
        ),
    }
    outputs = {}
    for kind, job in jobs.items():
        wait_completed(client, job["status_url"])
        result = client.get(job["response_url"])
        assert result.status_code == 200, (kind, result.text)
        outputs[kind] = result.json()

    (image,) = outputs["image"]["images"]
    assert png_size(client.get(image["url"]).content) == (300, 200)
    assert outputs["image"]["seed"] >= 0 and "timings" in outputs["image"]
    assert png_size(client.get(outputs["i2i"]["images"][0]["url"]).content) == (1024, 768)

    audio = outputs["speech"]["audio"]
    assert audio["content_type"] == "audio/wav"
    wav = client.get(audio["url"])
    assert wav.headers["content-type"] == "audio/wav" and len(wav.content) == audio["file_size"]
    with wave.open(io.BytesIO(wav.content)) as reader:
        assert reader.getnchannels() == 1 and reader.getsampwidth() == 2
        assert reader.getnframes() / reader.getframerate() == pytest.approx(audio["duration"])

    video = outputs["video"]["video"]
    assert video["content_type"] == "video/mp4" and isinstance(outputs["video"]["seed"], int)
    mp4 = client.get(video["url"])
    assert mp4.headers["content-type"] == "video/mp4" and len(mp4.content) == video["file_size"]
    assert mp4.content[4:8] == b"ftyp"

    transcript = outputs["transcript"]
    assert transcript["text"] and transcript["chunks"]
    for chunk in transcript["chunks"]:
        start, end = chunk["timestamp"]
        assert end > start and chunk["text"] and chunk["speaker"].startswith("SPEAKER_")

    assert client.get(f"{url}/media/x/0.png?w=0&h=5").status_code == 404
    assert queue_emulator.stats()["responses"]["media"]["200"] >= 4


def test_audio_url_key_and_workflow_namespace(
    queue_emulator: EmulatorProcess, client: httpx.Client
) -> None:
    url = queue_emulator.url
    tts = submit(client, url, "fal-ai/f5-tts", {"prompt": "Hi"})
    wait_completed(client, tts["status_url"])
    assert set(client.get(tts["response_url"]).json()) == {"audio_url"}

    workflow = submit(
        client, url, "workflows/fal-ai/sdxl-sticker", {"prompt": "x", "image_url": "y"}
    )
    assert (
        workflow["status_url"]
        == f"{url}/workflows/fal-ai/sdxl-sticker/requests/{workflow['request_id']}/status"
    )
    wait_completed(client, workflow["status_url"])
    assert client.get(workflow["response_url"]).status_code == 200


def test_injected_job_failures_and_start_timeout(
    emulator_factory: Callable[..., EmulatorProcess], client: httpx.Client
) -> None:
    emu = emulator_factory(models=20, queue_wait=0.05, inference_time=0.05, job_failure_rate=1.0)
    job = submit(client, emu.url, FLUX, {"prompt": "doomed"})
    status = wait_completed(client, job["status_url"])
    result = client.get(job["response_url"])
    assert result.status_code >= 500
    body = result.json()
    assert body["error_type"] == status["error_type"] == result.headers["x-fal-error-type"]
    assert body["error_type"] in {
        "runner_server_error",
        "runner_disconnected",
        "runner_incomplete_response",
    }
    assert result.headers["x-fal-request-id"] == job["request_id"]

    emu.configure(job_failure_rate=0.0, job_user_error_rate=1.0)
    flagged = submit(client, emu.url, FLUX, {"prompt": "flagged"})
    wait_completed(client, flagged["status_url"])
    rejected = client.get(flagged["response_url"])
    assert rejected.status_code == 422
    assert rejected.json()["detail"][0]["type"] == "content_policy_violation"

    emu.configure(job_user_error_rate=0.0, queue_wait=30.0)
    response = client.post(
        f"{emu.url}/{FLUX}", json={"prompt": "x"}, headers={"X-Fal-Request-Timeout": "0.2"}
    )
    timed_out = response.json()
    wait_completed(client, timed_out["status_url"])
    late = client.get(timed_out["response_url"])
    assert late.status_code == 504 and late.json()["error_type"] == "request_timeout"
    assert late.headers["x-fal-request-timeout-type"] == "user"


def test_guess_alternatives_are_configurable(
    emulator_factory: Callable[..., EmulatorProcess], client: httpx.Client
) -> None:
    emu = emulator_factory(
        models=20, submit_status_code=202, result_pending_status=202, queue_wait=30.0
    )
    response = client.post(f"{emu.url}/{FLUX}", json={"prompt": "x"})
    assert response.status_code == 202
    pending = client.get(response.json()["response_url"])
    assert pending.status_code == 202 and pending.json()["status"] == "IN_QUEUE"


def test_sync_run(queue_emulator: EmulatorProcess, client: httpx.Client) -> None:
    response = client.post(f"{queue_emulator.run_url}/fal-ai/flux/schnell", json={"prompt": "now"})
    assert response.status_code == 200
    assert response.headers["x-fal-request-id"]
    assert response.json()["images"][0]["url"].startswith(queue_emulator.url + "/media/")
    invalid = client.post(f"{queue_emulator.run_url}/fal-ai/flux/schnell", json={})
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == ["body", "prompt"]
    missing = client.post(f"{queue_emulator.run_url}/nobody/nothing", json={"prompt": "x"})
    assert missing.status_code == 404
    assert queue_emulator.stats()["requests"]["run"] >= 3


def test_submit_rejects_when_queue_is_longer_than_max(
    emulator_factory: Callable[..., EmulatorProcess], client: httpx.Client
) -> None:
    emu = emulator_factory(models=20, queue_wait=30.0)
    url = f"{emu.url}/{FLUX}"
    assert (
        client.post(url, params={"fal_max_queue_length": 0}, json={"prompt": "a"}).status_code
        == 200
    )
    assert (
        client.post(url, params={"fal_max_queue_length": 0}, json={"prompt": "b"}).status_code
        == 429
    )
    assert emu.stats()["accepted_submits"] == 1
