"""Injected faults and auth on the emulator, seen from a plain httpx client."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.emulator.stats import input_hash

FLUX = "fal-ai/flux/dev"
PAYLOAD = {"prompt": "a lighthouse at dusk"}


def test_gateway_5xx_on_submit_happens_before_acceptance(
    emulator_factory: Callable[..., EmulatorProcess],
) -> None:
    emu = emulator_factory(models=20, fail_rate=1.0, fault_routes=["submit"])
    response = httpx.post(f"{emu.url}/{FLUX}", json=PAYLOAD)
    assert response.status_code == 503
    assert "x-fal-request-id" not in response.headers
    assert "nginx" in response.text  # what fal_client's ingress-retry heuristic looks for
    stats = emu.stats()
    assert stats["accepted_submits"] == 0 and stats["accepted_submits_by_input_hash"] == {}
    assert stats["responses"]["submit"] == {"503": 1} and stats["faults"]["submit"] == {"fail": 1}
    # Other routes are untouched when faults are restricted to submit.
    assert httpx.get(emu.api_url + "/models", params={"limit": 1}).status_code == 200

    emu.configure(fail_rate=0.0, fail_status=502)
    assert httpx.post(f"{emu.url}/{FLUX}", json=PAYLOAD).status_code == 200


def test_dropped_submit_was_accepted_and_can_be_reconciled(
    emulator_factory: Callable[..., EmulatorProcess],
) -> None:
    emu = emulator_factory(models=20, drop_rate=1.0, fault_routes=["submit"])
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{emu.url}/{FLUX}", json=PAYLOAD)
    stats = emu.stats()
    assert stats["accepted_submits"] == 1
    assert stats["accepted_submits_by_input_hash"] == {input_hash(PAYLOAD): 1}
    assert stats["faults"]["submit"] == {"drop": 1}
    # The lost request id can be recovered from the request history, as against real fal.
    history = httpx.get(
        emu.api_url + "/models/requests/by-endpoint",
        params={"endpoint_id": FLUX, "expand": "payloads"},
    ).json()
    (item,) = history["items"]
    assert item["json_input"] == PAYLOAD


def test_dropped_status_and_models_responses(
    emulator_factory: Callable[..., EmulatorProcess],
) -> None:
    emu = emulator_factory(models=20, queue_wait=30.0)
    job = httpx.post(f"{emu.url}/{FLUX}", json=PAYLOAD).json()
    emu.configure(drop_rate=1.0, fault_routes=["status", "models", "status_stream"])
    for url in (job["status_url"], emu.api_url + "/models"):
        with pytest.raises(httpx.TransportError):
            httpx.get(url)
    with (
        pytest.raises(httpx.TransportError),
        httpx.stream("GET", job["status_url"] + "/stream") as r,
    ):
        r.read()
    emu.configure(drop_rate=0.0)
    assert httpx.get(job["status_url"]).status_code == 202


def test_hung_submit_times_out_on_the_client_but_was_accepted(
    emulator_factory: Callable[..., EmulatorProcess],
) -> None:
    emu = emulator_factory(models=20, timeout_rate=1.0, hang_seconds=3.0, fault_routes=["submit"])
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{emu.url}/{FLUX}", json=PAYLOAD, timeout=httpx.Timeout(5.0, read=0.3))
    stats = emu.stats()
    assert stats["accepted_submits"] == 1 and stats["faults"]["submit"] == {"timeout": 1}


def test_random_429_with_and_without_retry_after(
    emulator_factory: Callable[..., EmulatorProcess],
) -> None:
    emu = emulator_factory(
        models=20, rate_limit_rate=1.0, retry_after=3, fault_routes=["submit", "models"]
    )
    queue = httpx.post(f"{emu.url}/{FLUX}", json=PAYLOAD)
    assert queue.status_code == 429 and queue.headers["retry-after"] == "3"
    assert queue.json() == {"detail": "Rate limit exceeded"}
    platform = httpx.get(emu.api_url + "/models")
    assert platform.status_code == 429 and platform.json()["error"]["type"] == "rate_limited"
    assert emu.stats()["accepted_submits"] == 0

    emu.configure(retry_after_header=False)
    bare = httpx.post(f"{emu.url}/{FLUX}", json=PAYLOAD)
    assert bare.status_code == 429 and "retry-after" not in bare.headers


def test_token_bucket_limits_queue_routes(emulator_factory: Callable[..., EmulatorProcess]) -> None:
    emu = emulator_factory(models=20, rate_limit_rps=1.0, rate_limit_burst=2, queue_wait=30.0)
    with httpx.Client() as client:
        codes = [
            client.post(f"{emu.url}/{FLUX}", json={"prompt": str(i)}).status_code for i in range(5)
        ]
        limited = client.post(f"{emu.url}/{FLUX}", json=PAYLOAD)
        models = client.get(emu.api_url + "/models", params={"limit": 1})
    assert codes[:2] == [200, 200] and 429 in codes
    assert int(limited.headers["retry-after"]) >= 1
    assert models.status_code == 200  # the platform API is outside the queue bucket
    assert emu.stats()["accepted_submits"] == codes.count(200)


def test_faults_are_deterministic_for_a_seed(
    emulator_factory: Callable[..., EmulatorProcess],
) -> None:
    def codes(emu: EmulatorProcess) -> list[int]:
        with httpx.Client() as client:
            return [
                client.get(emu.api_url + "/models", params={"limit": 1}).status_code
                for _ in range(30)
            ]

    first = codes(emulator_factory(models=20, seed=5, fail_rate=0.5))
    again = codes(emulator_factory(models=20, seed=5, fail_rate=0.5))
    assert first == again and {200, 503} == set(first)


def test_require_key_answers_401_in_both_formats(
    emulator_factory: Callable[..., EmulatorProcess],
) -> None:
    emu = emulator_factory(models=20, require_key=True, queue_wait=0.0, inference_time=0.0)
    platform = httpx.get(emu.api_url + "/models")
    assert platform.status_code == 401
    assert platform.json()["error"]["type"] == "authorization_error"
    queue = httpx.post(f"{emu.url}/{FLUX}", json=PAYLOAD)
    assert queue.status_code == 401 and isinstance(queue.json()["detail"], str)
    bearer = httpx.post(f"{emu.url}/{FLUX}", json=PAYLOAD, headers={"Authorization": "Bearer x"})
    assert bearer.status_code == 401

    key = {"Authorization": "Key anything-goes"}
    assert httpx.get(emu.api_url + "/models", headers=key).status_code == 200
    job = httpx.post(f"{emu.url}/{FLUX}", json=PAYLOAD, headers=key).json()
    assert httpx.get(job["status_url"]).status_code == 401
    assert httpx.get(job["status_url"], headers=key).status_code in (200, 202)
    assert emu.stats()["accepted_submits"] == 1


def test_accepted_key_is_enforced_and_never_exposed(
    emulator_factory: Callable[..., EmulatorProcess],
) -> None:
    secret = "s3cret-key-value"
    emu = emulator_factory(models=20, require_key=True, accepted_key=secret)
    wrong = httpx.get(emu.api_url + "/models", headers={"Authorization": "Key nope"})
    assert wrong.status_code == 401
    right = httpx.get(emu.api_url + "/models", headers={"Authorization": f"Key {secret}"})
    assert right.status_code == 200
    assert secret not in str(emu.get_config()) and secret not in repr(emu)
    assert secret not in emu.output()
    emu.configure(require_key=False)
    assert httpx.get(emu.api_url + "/models").status_code == 200


def test_invalid_runtime_configuration_is_rejected(
    emulator_factory: Callable[..., EmulatorProcess],
) -> None:
    emu = emulator_factory(models=20)
    for bad in ({"fail_rate": 2}, {"no_such_option": 1}, {"seed": 99}, {"fault_routes": ["nope"]}):
        with pytest.raises(ValueError):
            emu.configure(**bad)
    with pytest.raises(TypeError):
        EmulatorProcess(port=1234)
    assert emu.configure(fault_routes="submit,status")["fault_routes"] == ["submit", "status"]
