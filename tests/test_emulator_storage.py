"""The emulator's storage API and CDN under the official fal-client 1.0.1 (its `upload`,
`upload_file`, the `fal` fallback and multipart), and the 422 an image-to-X or speech-to-text
job fails with when an input URL cannot be fetched."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import fal_client
import fal_client.client
import httpx
import pytest

from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.emulator.media import png_bytes

VIDEO = "fal-ai/kling-video/v2/master/image-to-video"
WHISPER = "fal-ai/whisper"
FAST = {"queue_wait": 0.0, "inference_time": 0.05}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(models=20, **FAST) as process, pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAL_KEY", "anything")
        patch.setattr(fal_client.client, "QUEUE_URL_FORMAT", process.url + "/")
        patch.setattr(fal_client.client, "REST_URL", process.url + "/rest")
        patch.setattr(fal_client.client, "CDN_URL", process.url + "/cdn")
        yield process


@pytest.fixture
def fal(emu: EmulatorProcess) -> EmulatorProcess:
    emu.configure(storage_v3=True)
    emu.reset_stats()
    return emu


def test_fal_client_upload_and_upload_file(fal: EmulatorProcess, tmp_path: Path) -> None:
    client = fal_client.SyncClient()  # fresh: its token manager reads the patched REST_URL
    image = png_bytes(6, 4, "336699")
    url = client.upload(image, "image/png", "photo.png")
    served = httpx.get(url)
    assert served.content == image and served.headers["content-type"] == "image/png"
    assert url.startswith(f"{fal.url}/cdn/files/") and url.endswith("/photo.png")

    path = tmp_path / "voice.wav"
    path.write_bytes(b"RIFF0000WAVEfmt " + bytes(64))
    file_url = client.upload_file(path)
    assert httpx.get(file_url).content == path.read_bytes()

    via_storage = client.upload(b"plain text", "text/plain", repository="fal")
    assert httpx.get(via_storage).text == "plain text"
    stats = fal.stats()
    assert stats["uploads_by_flow"] == {"fal_v3": 2, "fal": 1}
    assert stats["requests"]["storage_token"] == 1  # the token is cached


def test_fal_client_falls_back_and_goes_multipart(
    fal: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fal.configure(storage_v3=False)
    client = fal_client.SyncClient()
    url = client.upload(b"fallback", "application/octet-stream", "x.bin")
    assert httpx.get(url).content == b"fallback"
    assert fal.stats()["uploads_by_flow"] == {"fal": 1}

    fal.configure(storage_v3=True)
    monkeypatch.setattr(fal_client.client, "MULTIPART_THRESHOLD", 1000)
    monkeypatch.setattr(fal_client.client, "MULTIPART_CHUNK_SIZE", 800)
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 9)
    multipart = fal_client.SyncClient().upload_file(big)
    assert httpx.get(multipart).content == big.read_bytes()

    async def async_upload() -> str:
        return await fal_client.AsyncClient().upload(b"async bytes", "text/plain", "a.txt")

    assert httpx.get(asyncio.run(async_upload())).content == b"async bytes"
    assert fal.stats()["uploads_by_flow"] == {"fal": 1, "multipart": 1, "fal_v3": 1}


def _result(url: str, endpoint: str, payload: dict[str, object]) -> httpx.Response:
    with httpx.Client(base_url=url) as client:
        submitted = client.post(f"/{endpoint}", json=payload).json()
        for _ in range(200):
            if client.get(submitted["status_url"]).json()["status"] == "COMPLETED":
                break
        return client.get(submitted["response_url"])


def test_unfetchable_input_urls_fail_at_result_time(fal: EmulatorProcess) -> None:
    uploaded = fal_client.SyncClient().upload(png_bytes(2, 2, "ffffff"), "image/png", "ok.png")
    ok = _result(fal.url, VIDEO, {"prompt": "pan", "image_url": uploaded})
    assert ok.status_code == 200 and ok.json()["video"]["url"]

    local = _result(fal.url, VIDEO, {"prompt": "pan", "image_url": "file:photos/a.png"})
    assert local.status_code == 422
    (detail,) = local.json()["detail"]
    assert detail["loc"] == ["body", "image_url"] and detail["type"] == "file_download_error"

    gone = uploaded.replace("/cdn/files/", "/cdn/files/0000")
    assert _result(fal.url, WHISPER, {"audio_url": gone}).status_code == 422
    # text-to-image models do not download anything
    assert _result(fal.url, "fal-ai/flux/dev", {"prompt": "x", "image_url": "file:a"}).is_success

    fal.configure(fetch_input_urls=True)
    try:
        refused = _result(fal.url, VIDEO, {"prompt": "p", "image_url": f"{fal.url}/nothing"})
    finally:
        fal.configure(fetch_input_urls=False)
    assert refused.status_code == 422
