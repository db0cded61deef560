"""The emulator's /v1/models catalog over real HTTP: paging, filters, expansions, determinism
and the mutations incremental loads rely on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from fal_platform.devstack.emulator_process import EmulatorProcess

SIZE = 120
WELL_KNOWN = [
    "fal-ai/flux/dev",
    "fal-ai/flux/schnell",
    "fal-ai/fast-sdxl",
    "fal-ai/flux/dev/image-to-image",
    "fal-ai/kling-video/v2/master/image-to-video",
    "fal-ai/kling-video/v2/master/text-to-video",
    "fal-ai/kokoro/american-english",
    "fal-ai/whisper",
]
REQUIRED_METADATA = {
    "display_name",
    "category",
    "description",
    "status",
    "tags",
    "updated_at",
    "is_favorited",
    "thumbnail_url",
    "model_url",
    "date",
    "highlighted",
    "pinned",
}
OPTIONAL_METADATA = {
    "thumbnail_animated_url",
    "github_url",
    "license_type",
    "group",
    "kind",
    "training_endpoint_ids",
    "inference_endpoint_ids",
    "stream_url",
    "duration_estimate",
}


@pytest.fixture(scope="module")
def catalog_emulator() -> Iterator[EmulatorProcess]:
    """Read-only tests share one emulator; mutation tests start their own."""
    with EmulatorProcess(models=SIZE, seed=7) as process:
        yield process


def all_models(api_url: str, limit: int = 37, **params: Any) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = []
    cursor: str | None = None
    with httpx.Client(base_url=api_url, timeout=10) as client:
        while True:
            query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
            page = client.get("/models", params=query).raise_for_status().json()
            models += page["models"]
            cursor = page["next_cursor"]
            assert page["has_more"] is (cursor is not None)
            if cursor is None:
                return models


def test_first_page_has_five_models_and_a_cursor(catalog_emulator: EmulatorProcess) -> None:
    body = httpx.get(catalog_emulator.api_url + "/models", params={"limit": 5}).json()
    assert len(body["models"]) == 5
    assert isinstance(body["next_cursor"], str) and body["has_more"] is True
    assert [m["endpoint_id"] for m in body["models"]] == WELL_KNOWN[:5]


def test_paging_returns_every_model_exactly_once(catalog_emulator: EmulatorProcess) -> None:
    models = all_models(catalog_emulator.api_url)
    ids = [m["endpoint_id"] for m in models]
    assert len(ids) == SIZE == len(set(ids))
    assert ids[: len(WELL_KNOWN)] == WELL_KNOWN
    assert any(len(i.split("/")) > 2 for i in ids) and any(len(i.split("/")) == 2 for i in ids)


def test_metadata_fields_deprecated_and_missing_metadata(catalog_emulator: EmulatorProcess) -> None:
    models = all_models(catalog_emulator.api_url)
    with_meta = [m for m in models if "metadata" in m]
    assert len(with_meta) < len(models), "some endpoints have no registry entry"
    seen_optional: set[str] = set()
    for model in with_meta:
        meta = model["metadata"]
        assert set(meta) >= REQUIRED_METADATA
        assert set(meta) <= REQUIRED_METADATA | OPTIONAL_METADATA
        assert meta["is_favorited"] is None  # unauthenticated
        assert meta["updated_at"].endswith("Z") and len(meta["updated_at"]) == 20
        assert meta["status"] in ("active", "deprecated")
        seen_optional |= set(meta) & OPTIONAL_METADATA
    assert seen_optional == OPTIONAL_METADATA
    assert any(m["metadata"]["status"] == "deprecated" for m in with_meta)
    for model in models[: len(WELL_KNOWN)]:
        assert model["metadata"]["status"] == "active"
        assert model["metadata"]["model_url"] == f"https://fal.run/{model['endpoint_id']}"


def test_is_favorited_is_a_bool_when_authenticated(catalog_emulator: EmulatorProcess) -> None:
    body = httpx.get(
        catalog_emulator.api_url + "/models",
        params={"limit": 3},
        headers={"Authorization": "Key test"},
    ).json()
    assert all(isinstance(m["metadata"]["is_favorited"], bool) for m in body["models"])


def test_filters(catalog_emulator: EmulatorProcess) -> None:
    api = catalog_emulator.api_url
    flux = all_models(api, q="flux")
    assert "fal-ai/flux/dev" in [m["endpoint_id"] for m in flux]
    for model in flux:
        text = model["endpoint_id"] + " " + str(model.get("metadata", ""))
        assert "flux" in text.lower()
    videos = all_models(api, category="text-to-video")
    assert videos and all(m["metadata"]["category"] == "text-to-video" for m in videos)
    deprecated = all_models(api, status="deprecated")
    assert deprecated and all(m["metadata"]["status"] == "deprecated" for m in deprecated)
    active = all_models(api, status="active")
    assert not {m["endpoint_id"] for m in active} & {m["endpoint_id"] for m in deprecated}
    wanted = ["fal-ai/whisper", "fal-ai/flux/schnell", "no/such/model"]
    found = httpx.get(api + "/models", params=[("endpoint_id", i) for i in wanted]).json()
    assert sorted(m["endpoint_id"] for m in found["models"]) == sorted(wanted[:2])
    narrowed = all_models(api, endpoint_id=wanted[:2], category="speech-to-text")
    assert [m["endpoint_id"] for m in narrowed] == ["fal-ai/whisper"]


def test_expand_openapi_and_enterprise_status(catalog_emulator: EmulatorProcess) -> None:
    params = [("endpoint_id", "fal-ai/flux/dev"), ("expand", "openapi-3.0")]
    params.append(("expand", "enterprise_status"))
    (model,) = httpx.get(catalog_emulator.api_url + "/models", params=params).json()["models"]
    doc = model["openapi"]
    assert doc["openapi"] == "3.0.4"
    post = doc["paths"]["/fal-ai/flux/dev"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["required"] == ["prompt"]
    assert {"image_size", "num_images", "seed"} <= set(schema["properties"])
    assert any(name.endswith("Output") for name in doc["components"]["schemas"])
    assert "/fal-ai/flux/requests/{request_id}/status" in doc["paths"]
    assert model["enterprise_status"] in ("ready", "pending")

    bare = [m for m in all_models(catalog_emulator.api_url) if "metadata" not in m]
    ids = [("endpoint_id", m["endpoint_id"]) for m in bare] + [("expand", "openapi-3.0")]
    failed = httpx.get(catalog_emulator.api_url + "/models", params=ids).json()["models"]
    assert failed and all(m["openapi"]["error"]["code"] == "expansion_failed" for m in failed)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 101},
        {"limit": 0},
        {"limit": "ten"},
        {"cursor": "not base64!"},
        {"status": "retired"},
        {"expand": "everything"},
        {"endpoint_id": [f"o/a{i}" for i in range(51)]},
    ],
)
def test_bad_parameters_are_400_validation_errors(
    catalog_emulator: EmulatorProcess, params: dict[str, Any]
) -> None:
    response = httpx.get(catalog_emulator.api_url + "/models", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "validation_error" and error["message"]


def test_same_seed_same_catalog_other_seed_differs(
    catalog_emulator: EmulatorProcess, emulator_factory: Callable[..., EmulatorProcess]
) -> None:
    twin = emulator_factory(models=SIZE, seed=7)
    assert all_models(twin.api_url, limit=100) == all_models(catalog_emulator.api_url, limit=50)
    other = emulator_factory(models=SIZE, seed=8)
    other_ids = [m["endpoint_id"] for m in all_models(other.api_url, limit=100)]
    ids = [m["endpoint_id"] for m in all_models(catalog_emulator.api_url, limit=100)]
    assert other_ids[: len(WELL_KNOWN)] == WELL_KNOWN
    assert other_ids != ids


def test_catalog_size_below_the_well_known_set_still_has_them(
    emulator_factory: Callable[..., EmulatorProcess],
) -> None:
    tiny = emulator_factory(models=3)
    assert [m["endpoint_id"] for m in all_models(tiny.api_url)] == WELL_KNOWN


def test_touch_add_and_deprecate(emulator_factory: Callable[..., EmulatorProcess]) -> None:
    emu = emulator_factory(models=60, seed=3)
    before = {m["endpoint_id"]: m for m in all_models(emu.api_url)}
    latest = max(m["metadata"]["updated_at"] for m in before.values() if "metadata" in m)

    touched = emu.touch_models(3)
    assert len(touched) == 3
    after = {m["endpoint_id"]: m for m in all_models(emu.api_url)}
    for endpoint_id in touched:
        meta, old = after[endpoint_id]["metadata"], before[endpoint_id]["metadata"]
        assert meta["updated_at"] > latest
        assert meta["description"] != old["description"]
    untouched = set(before) - set(touched)
    assert all(after[i] == before[i] for i in untouched)

    added = emu.add_models(2)
    after_add = {m["endpoint_id"]: m for m in all_models(emu.api_url)}
    assert len(after_add) == 62 and set(added) <= set(after_add)
    newest = max(m["metadata"]["updated_at"] for m in after.values() if "metadata" in m)
    assert all(after_add[i]["metadata"]["updated_at"] > newest for i in added)

    deprecated = emu.deprecate_models(4)
    final = {m["endpoint_id"]: m for m in all_models(emu.api_url)}
    assert len(deprecated) == 4 and not set(deprecated) & set(WELL_KNOWN)
    for endpoint_id in deprecated:
        assert before.get(endpoint_id, after_add[endpoint_id])["metadata"]["status"] == "active"
        assert final[endpoint_id]["metadata"]["status"] == "deprecated"
        assert final[endpoint_id]["metadata"]["updated_at"] > max(
            m["metadata"]["updated_at"] for m in after_add.values() if "metadata" in m
        )
    listed = {m["endpoint_id"] for m in all_models(emu.api_url, status="deprecated")}
    assert set(deprecated) <= listed
