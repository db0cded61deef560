"""Pricing, price estimates and request history on the emulator's platform API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from emulator_support import wait_completed

from fal_platform.devstack.emulator_process import EmulatorProcess

UNITS = {"image", "megapixels", "video", "second", "1000 characters", "compute seconds"}
HISTORY = "/models/requests/by-endpoint"


@pytest.fixture(scope="module")
def platform_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(models=130, seed=11) as process:
        yield process


def every_endpoint_id(api_url: str) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(api_url + "/models", params=params).json()
        ids += [m["endpoint_id"] for m in page["models"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def test_every_endpoint_has_a_price(platform_emulator: EmulatorProcess) -> None:
    ids = every_endpoint_id(platform_emulator.api_url)
    assert len(ids) == 130
    prices: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 50):
        chunk = ids[start : start + 50]
        response = httpx.get(
            platform_emulator.api_url + "/models/pricing",
            params=[("endpoint_id", i) for i in chunk],
        )
        assert response.status_code == 200
        body = response.json()
        assert body["next_cursor"] is None and body["has_more"] is False
        assert [p["endpoint_id"] for p in body["prices"]] == chunk
        prices |= {p["endpoint_id"]: p for p in body["prices"]}
    assert set(prices) == set(ids)
    for price in prices.values():
        assert price["unit_price"] >= 0 and price["currency"] == "USD"
        assert price["unit"] in UNITS
    assert prices["fal-ai/flux/dev"]["unit"] == "image"
    assert prices["fal-ai/kling-video/v2/master/text-to-video"]["unit"] == "second"
    assert prices["fal-ai/whisper"]["unit"] == "compute seconds"


def test_pricing_accepts_comma_separated_ids(platform_emulator: EmulatorProcess) -> None:
    body = httpx.get(
        platform_emulator.api_url + "/models/pricing",
        params={"endpoint_id": "fal-ai/flux/dev,fal-ai/whisper"},
    ).json()
    assert [p["endpoint_id"] for p in body["prices"]] == ["fal-ai/flux/dev", "fal-ai/whisper"]


def test_pricing_errors(platform_emulator: EmulatorProcess) -> None:
    url = platform_emulator.api_url + "/models/pricing"
    ids = every_endpoint_id(platform_emulator.api_url)[:51]
    too_many = httpx.get(url, params=[("endpoint_id", i) for i in ids])
    assert too_many.status_code == 400
    assert too_many.json()["error"]["type"] == "validation_error"
    missing = httpx.get(url)
    assert missing.status_code == 400
    unknown = httpx.get(url, params={"endpoint_id": ["fal-ai/flux/dev", "nobody/nothing"]})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "not_found"
    assert "nobody/nothing" in unknown.json()["error"]["message"]


def test_price_estimates(platform_emulator: EmulatorProcess) -> None:
    url = platform_emulator.api_url + "/models/pricing/estimate"
    unit = httpx.post(
        url,
        json={
            "estimate_type": "unit_price",
            "endpoints": {"fal-ai/flux/dev": {"unit_quantity": 10}},
        },
    )
    assert unit.status_code == 200
    assert unit.json() == {"estimate_type": "unit_price", "total_cost": 0.25, "currency": "USD"}
    calls = httpx.post(
        url,
        json={
            "estimate_type": "historical_api_price",
            "endpoints": {
                "fal-ai/flux/dev": {"call_quantity": 100},
                "fal-ai/fast-sdxl": {"call_quantity": 40},
            },
        },
    ).json()
    assert calls["total_cost"] == pytest.approx(100 * 0.025 + 40 * 0.0025)
    bad = [
        {"estimate_type": "guess", "endpoints": {"fal-ai/flux/dev": {"unit_quantity": 1}}},
        {"estimate_type": "unit_price", "endpoints": {}},
        {
            "estimate_type": "historical_api_price",
            "endpoints": {"fal-ai/flux/dev": {"call_quantity": 0}},
        },
        {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux/dev": {"call_quantity": 1}}},
    ]
    for body in bad:
        assert httpx.post(url, json=body).status_code == 400
    assert httpx.post(url, content=b"{nope").status_code == 400
    unknown = {"estimate_type": "unit_price", "endpoints": {"x/y": {"unit_quantity": 1}}}
    assert httpx.post(url, json=unknown).status_code == 404


def test_request_history(emulator_factory: Callable[..., EmulatorProcess]) -> None:
    emu = emulator_factory(models=20, queue_wait=0.05, inference_time=0.05)
    endpoint = "fal-ai/fast-sdxl"
    inputs = [{"prompt": "a lighthouse"}, {"prompt": "a harbour", "num_images": 2}, {"seed": 1}]
    with httpx.Client(timeout=10) as client:
        submitted = [client.post(f"{emu.url}/{endpoint}", json=i).json() for i in inputs]
        for job in submitted:
            wait_completed(client, job["status_url"])
        emu.configure(queue_wait=30.0)
        in_flight = client.post(f"{emu.url}/{endpoint}", json={"prompt": "later"}).json()

        def history(**params: Any) -> dict[str, Any]:
            response = client.get(emu.api_url + HISTORY, params={"endpoint_id": endpoint, **params})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        items = history()["items"]
        ids = [item["request_id"] for item in items]
        assert sorted(ids) == sorted(
            [j["request_id"] for j in submitted] + [in_flight["request_id"]]
        )
        assert ids[0] == in_flight["request_id"]  # in-flight first, then newest ended first
        pending = items[0]
        assert pending["ended_at"] is None and pending["status_code"] is None
        assert pending["started_at"] is None and pending["sent_at"].endswith("Z")
        finished = items[1:]
        assert [i["ended_at"] for i in finished] == sorted(
            [i["ended_at"] for i in finished], reverse=True
        )
        assert {i["status_code"] for i in finished} == {200, 422}

        (one,) = history(request_id=submitted[1]["request_id"], expand="payloads")["items"]
        assert one["json_input"] == inputs[1]
        assert len(one["json_output"]["images"]) == 2
        assert one["status_code"] == 200 and one["duration"] >= 0

        (invalid,) = history(status="user_error", expand="payloads")["items"]
        assert invalid["request_id"] == submitted[2]["request_id"]
        assert invalid["json_output"]["detail"][0]["loc"] == ["body", "prompt"]
        assert len(history(status="success")["items"]) == 2
        assert history(status="error")["items"] == []

        first = history(limit=2)
        assert len(first["items"]) == 2 and first["has_more"] is True
        rest = history(limit=2, cursor=first["next_cursor"])
        assert rest["has_more"] is False
        assert [i["request_id"] for i in first["items"] + rest["items"]] == ids

        assert history(start="2000-01-01", end="2000-01-02")["items"] == []
        assert history(sort_by="duration")["items"][0]["request_id"] == in_flight["request_id"]

        for params in (
            {},
            {"endpoint_id": endpoint, "limit": 101},
            {"endpoint_id": endpoint, "status": "bad"},
        ):
            assert client.get(emu.api_url + HISTORY, params=params).status_code == 400
        assert client.get(emu.api_url + HISTORY, params={"endpoint_id": "x/y"}).status_code == 404
