"""The model catalog: a deterministic list of endpoints with fal-shaped metadata.

It is built from the seed alone, so two emulators with the same seed and size serve the same
catalog. Mutations (touch, add, deprecate) exist so incremental loads have something to see;
each one moves `updated_at` strictly past every timestamp already in the catalog.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from fal_platform.emulator import catalog_data as data
from fal_platform.emulator import categories as c
from fal_platform.emulator.timeutil import iso_seconds, parse_iso

CATALOG_START = parse_iso("2024-01-01T00:00:00Z")
CATALOG_END = parse_iso("2026-03-01T12:00:00Z")
APP_NAMESPACES = ("workflows", "comfy")  # fal_client keeps these as a URL prefix (protocol 1.1)
MUTATION_STEP_SECONDS = 60.0


def app_path_of(endpoint_id: str) -> str:
    """The part of an endpoint id the status/result/cancel URLs use: [namespace/]owner/app."""
    parts = endpoint_id.split("/")
    keep = 3 if parts[0] in APP_NAMESPACES else 2
    return "/".join(parts[:keep])


@dataclass
class ModelMetadata:
    """fal's `metadata` object. Optional fields left as None are omitted from the JSON."""

    display_name: str
    category: str
    description: str
    status: str
    tags: list[str]
    updated_at: float
    thumbnail_url: str
    model_url: str
    date: float
    highlighted: bool
    pinned: bool
    favorite: bool = False  # what is_favorited says to an authenticated caller
    thumbnail_animated_url: str | None = None
    github_url: str | None = None
    license_type: str | None = None
    group: tuple[str, str] | None = None
    kind: str | None = None
    training_endpoint_ids: list[str] | None = None
    inference_endpoint_ids: list[str] | None = None
    stream_url: str | None = None
    duration_estimate: float | None = None

    def to_json(self, authenticated: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "display_name": self.display_name,
            "category": self.category,
            "description": self.description,
            "status": self.status,
            "tags": list(self.tags),
            "updated_at": iso_seconds(self.updated_at),
            "is_favorited": self.favorite if authenticated else None,
            "thumbnail_url": self.thumbnail_url,
            "model_url": self.model_url,
            "date": iso_seconds(self.date),
            "highlighted": self.highlighted,
            "pinned": self.pinned,
        }
        optional: dict[str, Any] = {
            "thumbnail_animated_url": self.thumbnail_animated_url,
            "github_url": self.github_url,
            "license_type": self.license_type,
            "group": {"key": self.group[0], "label": self.group[1]} if self.group else None,
            "kind": self.kind,
            "training_endpoint_ids": self.training_endpoint_ids,
            "inference_endpoint_ids": self.inference_endpoint_ids,
            "stream_url": self.stream_url,
            "duration_estimate": self.duration_estimate,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body


@dataclass
class Model:
    """One endpoint: what the catalog shows plus what the queue needs to serve it."""

    endpoint_id: str
    category: str
    metadata: ModelMetadata | None
    unit: str
    unit_price: float
    audio_key: str = "audio"
    default_image_size: str = "landscape_4_3"
    enterprise_status: str = "ready"
    fixed: bool = False
    base_description: str = ""
    revision: int = 0

    @property
    def app_path(self) -> str:
        return app_path_of(self.endpoint_id)

    @property
    def status(self) -> str | None:
        return self.metadata.status if self.metadata else None

    def search_text(self) -> str:
        parts = [self.endpoint_id]
        if self.metadata:
            meta = self.metadata
            parts += [meta.display_name, meta.description, meta.category, *meta.tags]
        return " ".join(parts).lower()


class Catalog:
    """Ordered, deterministic set of models with search and mutation."""

    def __init__(self, size: int, seed: int) -> None:
        self.seed = seed
        self.models: list[Model] = []
        self._by_id: dict[str, Model] = {}
        self._generated = 0
        self._mutations = 0
        fixed = list(data.REQUIRED_MODELS)
        fixed += data.EXTRA_MODELS[: max(0, size - len(fixed))]
        for spec in fixed:
            self._append(_fixed_model(spec))
        rng = random.Random(f"{seed}:catalog")
        generated = [self._generate(rng) for _ in range(max(0, size - len(fixed)))]
        if generated:
            # A few endpoints have no registry entry, some are deprecated (fal protocol 3.1).
            without_meta = rng.sample(generated, max(1, round(0.01 * len(generated))))
            for model in without_meta:
                model.metadata = None
            with_meta = [m for m in generated if m.metadata is not None]
            count = min(len(with_meta), max(1, round(0.08 * len(generated))))
            for model in rng.sample(with_meta, count):
                assert model.metadata is not None
                model.metadata.status = "deprecated"
        for model in generated:
            self._append(model)

    def __len__(self) -> int:
        return len(self.models)

    def get(self, endpoint_id: str) -> Model | None:
        return self._by_id.get(endpoint_id)

    @property
    def max_updated_at(self) -> float:
        return max((m.metadata.updated_at for m in self.models if m.metadata), default=0.0)

    def search(
        self,
        *,
        endpoint_ids: list[str] | None = None,
        q: str | None = None,
        category: str | None = None,
        status: str | None = None,
    ) -> list[Model]:
        """fal's list/find/search modes. Models without metadata have no category or status,
        so those two filters exclude them; `q` still matches their endpoint id."""
        if endpoint_ids:
            wanted = set(endpoint_ids)
            found = [m for m in self.models if m.endpoint_id in wanted]
        else:
            found = list(self.models)
        if q:
            tokens = q.lower().split()
            found = [m for m in found if all(t in m.search_text() for t in tokens)]
        if category:
            found = [m for m in found if m.metadata and m.metadata.category == category]
        if status:
            found = [m for m in found if m.metadata and m.metadata.status == status]
        return found

    # --- mutations ---------------------------------------------------------------------------

    def touch(self, count: int) -> list[str]:
        """Bump updated_at (strictly past every current one) and change the description."""
        rng, stamp = self._next_mutation("touch")
        candidates = [m for m in self.models if m.metadata]
        chosen = rng.sample(candidates, min(count, len(candidates)))
        for model in chosen:
            assert model.metadata is not None
            model.revision += 1
            model.metadata.description = f"{model.base_description} (revision {model.revision})"
            model.metadata.updated_at = stamp
        return self._in_catalog_order(chosen)

    def add(self, count: int) -> list[str]:
        rng, stamp = self._next_mutation("add")
        added = [self._generate(rng) for _ in range(count)]
        for model in added:
            assert model.metadata is not None
            model.metadata.status = "active"
            model.metadata.date = stamp
            model.metadata.updated_at = stamp
            self._append(model)
        return [m.endpoint_id for m in added]

    def deprecate(self, count: int) -> list[str]:
        """Deprecate active models; the fixed well-known ones stay active so tests can use them."""
        rng, stamp = self._next_mutation("deprecate")
        candidates = [
            m for m in self.models if m.metadata and m.metadata.status == "active" and not m.fixed
        ]
        chosen = rng.sample(candidates, min(count, len(candidates)))
        for model in chosen:
            assert model.metadata is not None
            model.metadata.status = "deprecated"
            model.metadata.updated_at = stamp
        return self._in_catalog_order(chosen)

    # --- internals ---------------------------------------------------------------------------

    def _append(self, model: Model) -> None:
        self.models.append(model)
        self._by_id[model.endpoint_id] = model

    def _next_mutation(self, kind: str) -> tuple[random.Random, float]:
        self._mutations += 1
        rng = random.Random(f"{self.seed}:{kind}:{self._mutations}")
        return rng, self.max_updated_at + MUTATION_STEP_SECONDS

    def _in_catalog_order(self, chosen: list[Model]) -> list[str]:
        ids = {m.endpoint_id for m in chosen}
        return [m.endpoint_id for m in self.models if m.endpoint_id in ids]

    def _generate(self, rng: random.Random) -> Model:
        self._generated += 1
        number = self._generated
        category = rng.choices(
            list(data.CATEGORY_WEIGHTS), weights=list(data.CATEGORY_WEIGHTS.values())
        )[0]
        owner = rng.choice(data.OWNERS)
        adjective = rng.choice(data.ADJECTIVES)
        noun = rng.choice(data.NOUNS[category])
        app = f"{adjective}-{noun}-{number}"
        subpath = rng.choice(data.SUBPATHS[category])
        endpoint_id = f"{owner}/{app}" + (f"/{subpath}" if subpath else "")
        if rng.random() < 0.03:
            endpoint_id = f"{rng.choice(APP_NAMESPACES)}/{endpoint_id}"
        display_name = " ".join(w.capitalize() for w in app.split("-"))
        if subpath:
            display_name += f" ({subpath.replace('/', ' ').replace('-', ' ').title()})"
        description = rng.choice(data.DESCRIPTIONS[category]).format(
            name=display_name, style=rng.choice(data.STYLES)
        )
        unit, prices = rng.choice(data.PRICES[category])
        date = rng.uniform(CATALOG_START, CATALOG_END - 86400.0)
        updated = rng.uniform(date, CATALOG_END)
        is_video = category in c.VIDEO_CATEGORIES
        slug = app.replace("-", "_")
        metadata = ModelMetadata(
            display_name=display_name,
            category=category,
            description=description,
            status="active",
            tags=sorted(rng.sample(data.TAGS[category], rng.randint(1, 3))),
            updated_at=float(int(updated)),
            thumbnail_url=f"https://v3.fal.media/files/{adjective}/{rng.getrandbits(40):010x}_{slug}.jpg",
            model_url=f"https://fal.run/{endpoint_id}",
            date=float(int(date)),
            highlighted=rng.random() < 0.05,
            pinned=rng.random() < 0.02,
            favorite=rng.random() < 0.05,
        )
        _add_optional_metadata(metadata, rng, endpoint_id, owner=owner, app=app, is_video=is_video)
        return Model(
            endpoint_id=endpoint_id,
            category=category,
            metadata=metadata,
            unit=unit,
            unit_price=rng.choice(prices),
            audio_key="audio_url" if rng.random() < 0.3 else "audio",
            default_image_size=rng.choice(data.IMAGE_SIZE_NAMES),
            enterprise_status="pending" if rng.random() < 0.1 else "ready",
            base_description=description,
        )


def _add_optional_metadata(
    metadata: ModelMetadata,
    rng: random.Random,
    endpoint_id: str,
    *,
    owner: str,
    app: str,
    is_video: bool,
) -> None:
    """The fields only some of fal's models carry, each drawn with its own frequency.

    Draws from `rng` in a fixed order, so a seed keeps producing the same catalog.
    """
    if is_video and rng.random() < 0.6:
        metadata.thumbnail_animated_url = metadata.thumbnail_url.replace(".jpg", ".gif")
    if rng.random() < 0.2:
        metadata.github_url = f"https://github.com/{owner}/{app}"
    if rng.random() < 0.7:
        metadata.license_type = rng.choice(("commercial", "research", "private"))
    if rng.random() < 0.3:
        metadata.group = (f"{owner}-{app}", metadata.display_name.split(" (")[0])
    if rng.random() < 0.6:
        metadata.kind = "inference"
    if rng.random() < 0.1:
        metadata.training_endpoint_ids = [f"{owner}/{app}-trainer"]
    if rng.random() < 0.05:
        metadata.inference_endpoint_ids = [endpoint_id]
    if rng.random() < 0.1:
        metadata.stream_url = f"https://fal.run/{endpoint_id}/stream"
    if rng.random() < 0.4:
        metadata.duration_estimate = round(rng.uniform(0.5, 5.0) if is_video else 0.1, 2)


def _fixed_model(spec: data.FixedModel) -> Model:
    metadata = ModelMetadata(
        display_name=spec.display_name,
        category=spec.category,
        description=spec.description,
        status="active",
        tags=list(spec.tags),
        updated_at=parse_iso(spec.updated_at),
        thumbnail_url=f"https://v3.fal.media/files/fixed/{spec.endpoint_id.replace('/', '_')}.jpg",
        model_url=f"https://fal.run/{spec.endpoint_id}",
        date=parse_iso(spec.date),
        highlighted=spec.highlighted,
        pinned=spec.pinned,
        favorite=spec.pinned,
        github_url=spec.github_url,
        license_type=spec.license_type,
        group=spec.group,
        kind="inference",
        training_endpoint_ids=list(spec.training_endpoint_ids) or None,
        stream_url=f"https://fal.run/{spec.endpoint_id}/stream" if spec.stream else None,
        duration_estimate=spec.duration_estimate,
    )
    return Model(
        endpoint_id=spec.endpoint_id,
        category=spec.category,
        metadata=metadata,
        unit=spec.unit,
        unit_price=spec.unit_price,
        audio_key=spec.audio_key,
        default_image_size=spec.image_size,
        fixed=True,
        base_description=spec.description,
    )
