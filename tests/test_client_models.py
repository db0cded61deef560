"""Queue value types, endpoint-id rules and settings: pure logic, no network."""

from __future__ import annotations

import pytest

from fal_platform.client import (
    ApiKey,
    AppId,
    ClientSettings,
    Completed,
    FalResponseError,
    InProgress,
    LogEntry,
    Queued,
    RequestHandle,
)
from fal_platform.client.models import parse_status

URL = "http://127.0.0.1:1/fal-ai/flux/requests/r/status"


@pytest.mark.parametrize(
    ("endpoint_id", "app_path", "path"),
    [
        ("fal-ai/flux/dev", "fal-ai/flux", "dev"),
        ("fal-ai/flux", "fal-ai/flux", None),
        ("fal-ai/kling-video/o3/pro/text-to-video", "fal-ai/kling-video", "o3/pro/text-to-video"),
        ("workflows/alice/my-flow", "workflows/alice/my-flow", None),
        ("comfy/bob/graph/extra", "comfy/bob/graph", "extra"),
        ("12345-my-app", "12345/my-app", None),
    ],
)
def test_app_id_rule(endpoint_id: str, app_path: str, path: str | None) -> None:
    app = AppId.parse(endpoint_id)
    assert app.app_path == app_path
    assert app.path == path


@pytest.mark.parametrize(
    "endpoint_id", ["", "flux", "workflows/alice", "fal-ai//dev", "fal-ai/flux?x=1", "a/../b"]
)
def test_invalid_endpoint_ids(endpoint_id: str) -> None:
    with pytest.raises(ValueError):
        AppId.parse(endpoint_id)


def test_handle_from_ids_uses_the_app_only() -> None:
    handle = RequestHandle.from_ids("https://queue.fal.run/", "fal-ai/flux/dev", "abc")
    assert handle.status_url == "https://queue.fal.run/fal-ai/flux/requests/abc/status"
    assert handle.response_url == "https://queue.fal.run/fal-ai/flux/requests/abc"
    assert handle.cancel_url == "https://queue.fal.run/fal-ai/flux/requests/abc/cancel"
    assert handle.endpoint_id == "fal-ai/flux/dev"
    namespaced = RequestHandle.from_ids("https://q", "workflows/alice/flow/sub", "x")
    assert namespaced.response_url == "https://q/workflows/alice/flow/requests/x"


def test_handle_identity_ignores_queue_position() -> None:
    a = RequestHandle("e/a", "r", "s", "p", "c", queue_position=3)
    assert a == RequestHandle("e/a", "r", "s", "p", "c")


def test_parse_queued() -> None:
    assert parse_status({"status": "IN_QUEUE", "queue_position": 4}, url=URL) == Queued(4)


def test_parse_in_progress_tolerates_missing_or_null_logs() -> None:
    assert parse_status({"status": "IN_PROGRESS"}, url=URL) == InProgress([])
    assert parse_status({"status": "IN_PROGRESS", "logs": None}, url=URL) == InProgress([])


def test_parse_completed_with_metrics_and_error() -> None:
    status = parse_status(
        {
            "status": "COMPLETED",
            "logs": [{"message": "done", "level": "INFO", "source": "user", "timestamp": "t"}],
            "metrics": {"inference_time": 1.25},
            "error": "boom",
            "error_type": "runner_server_error",
        },
        url=URL,
    )
    assert status == Completed(
        logs=[LogEntry("done", "INFO", "user", "t")],
        inference_time=1.25,
        error="boom",
        error_type="runner_server_error",
    )


def test_parse_completed_without_metrics() -> None:
    status = parse_status({"status": "COMPLETED", "logs": None, "metrics": {}}, url=URL)
    assert status == Completed(logs=[], inference_time=None)


def test_log_entries_tolerate_labels_and_missing_fields() -> None:
    entry = LogEntry.from_json({"message": "hi", "labels": {"level": "WARN", "source": "gpu"}})
    assert (entry.level, entry.source, entry.timestamp) == ("WARN", "gpu", None)
    assert LogEntry.from_json({}).message == ""
    assert LogEntry.from_json("raw line").message == "raw line"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "FAILED"},
        {"status": "IN_QUEUE"},
        {"queue_position": 1},
        ["not", "an", "object"],
    ],
)
def test_bad_status_bodies_raise_response_error(body: object) -> None:
    with pytest.raises(FalResponseError) as info:
        parse_status(body, url=URL)
    assert info.value.url == URL


def test_settings_defaults_and_validation() -> None:
    settings = ClientSettings()
    assert settings.api_url == "https://api.fal.ai/v1"
    assert settings.queue_url == "https://queue.fal.run"
    assert settings.run_url == "https://fal.run"
    assert settings.user_agent.startswith("fal-platform/")
    assert not settings.api_key.is_set
    with pytest.raises(ValueError, match="start_timeout"):
        ClientSettings(start_timeout=1.0)
    with pytest.raises(ValueError, match="priority"):
        ClientSettings(priority="high")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ClientSettings(queue_url="queue.fal.run")


def test_settings_repr_hides_the_key_and_strips_slashes() -> None:
    settings = ClientSettings(api_key=ApiKey("s3cr3t-key"), queue_url="http://x/")
    assert "s3cr3t-key" not in repr(settings)
    assert settings.queue_url == "http://x"
    plain = ClientSettings(api_key="s3cr3t-key")  # type: ignore[arg-type]
    assert isinstance(plain.api_key, ApiKey) and "s3cr3t-key" not in repr(plain)


def test_settings_for_emulator() -> None:
    settings = ClientSettings.for_emulator("http://127.0.0.1:9999/")
    assert settings.api_url == "http://127.0.0.1:9999/v1"
    assert settings.queue_url == "http://127.0.0.1:9999"
    assert settings.run_url == "http://127.0.0.1:9999/run"
