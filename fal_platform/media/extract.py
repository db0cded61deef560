"""Find the generated files in any fal model's result, whatever its shape.

fal models do not share an output schema: images come as `images[]`, videos as `video`, audio
as `audio`, `audio_url` or `audio_file`, sometimes nested, sometimes as bare URL strings. Rather
than a table of per-model parsers that rots as models are added, the result JSON is walked for
things that look like fal file objects:

- a dict with a `url` string and a `content_type` key, anywhere;
- under a known media key (`images`, `image`, `video`, `audio`, `audio_url`, `file`...): a dict
  with a `url`, or a bare URL string, or a list of those.

A speech-to-text result (`text` + `chunks`) has no such objects, so it yields no media.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, fields
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from fal_platform.batch.rows import MediaRow, RequestRow, RequestState
from fal_platform.batch.tables import HUGEINT_LIMIT

MEDIA_KINDS = ("image", "video", "audio", "other")

KNOWN_MEDIA_KEYS: dict[str, str | None] = {
    "images": "image",
    "image": "image",
    "mask": "image",
    "masks": "image",
    "video": "video",
    "videos": "video",
    "audio": "audio",
    "audios": "audio",
    "audio_url": "audio",
    "audio_file": "audio",
    "file": None,
    "files": None,
    "model_mesh": None,
}
"""Keys whose value is a file (or list of files) even without a content_type; kind they imply."""

_EXTENSION_KINDS = {
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tiff", ".avif"), "image"),
    **dict.fromkeys((".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v"), "video"),
    **dict.fromkeys((".wav", ".mp3", ".ogg", ".flac", ".m4a", ".aac", ".opus"), "audio"),
}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
_DATA_URI = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?[;,]")


@dataclass(frozen=True)
class MediaFile:
    """One file found in a result. `path` says where, e.g. `$.images[0]`.

    It knows nothing of the request the result came from; `as_row` is the one conversion to the
    `media.files` row (`batch/rows.py`'s `MediaRow`): every field but `path` is a column there.
    """

    position: int
    media_kind: str
    url: str
    path: str
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    file_size: int | None = None
    file_name: str | None = None
    nsfw: bool | None = None
    seed: int | None = None

    def as_row(self, request: RequestRow, result_seed: int | None) -> MediaRow:
        """The file's row; its own seed wins over the result's, a seed too large is dropped."""
        facts = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "path"}
        facts["seed"] = _storable_seed(self.seed if self.seed is not None else result_seed)
        return MediaRow(
            prompt_set=request.prompt_set,
            request_id=request.request_id,
            endpoint_id=request.endpoint_id,
            item_key=request.item_key,
            **facts,
        )


def extract_media(output: object) -> list[MediaFile]:
    """Every file object in a result, in the order found (depth first, keys in order)."""
    found: list[MediaFile] = []
    _walk(output, "$", known=False, key_kind=None, nsfw=None, found=found)
    return found


def extract_seed(output: object) -> int | None:
    """The result's seed: the shallowest integer `seed` key (fal puts it at the top)."""
    queue: deque[object] = deque([output])
    while queue:
        value = queue.popleft()
        if isinstance(value, dict):
            seed = _as_seed(value.get("seed"))
            if seed is not None:
                return seed
            queue.extend(value.values())
        elif isinstance(value, list):
            queue.extend(value)
    return None


def media_rows(request: RequestRow) -> list[MediaRow]:
    """The `media.files` rows of one request: none unless it completed with a result."""
    if request.state is not RequestState.COMPLETED or request.result is None:
        return []
    seed = extract_seed(request.result)
    return [file.as_row(request, seed) for file in extract_media(request.result)]


# --- walking -------------------------------------------------------------------------------


def _walk(
    value: object,
    path: str,
    *,
    known: bool,
    key_kind: str | None,
    nsfw: bool | None,
    found: list[MediaFile],
) -> None:
    """`known`: the value sits directly under a known media key (or in its list)."""
    if isinstance(value, dict):
        if _is_file_object(value, known):
            found.append(_file_from_dict(value, path, len(found), key_kind, nsfw))
        else:
            _walk_object(value, path, found)
    elif isinstance(value, list):
        for index, element in enumerate(value):
            _walk(
                element,
                f"{path}[{index}]",
                known=known,
                key_kind=key_kind,
                nsfw=None,
                found=found,
            )
    elif isinstance(value, str) and known and _looks_like_url(value):
        found.append(
            MediaFile(
                position=len(found),
                media_kind=_media_kind(_data_uri_type(value), key_kind, value, None),
                url=value,
                path=path,
                content_type=_data_uri_type(value),
                nsfw=nsfw,
            )
        )


def _walk_object(value: dict[str, Any], path: str, found: list[MediaFile]) -> None:
    """A plain object's values; its `has_nsfw_concepts` flags the images beside it, by index."""
    flags = _nsfw_flags(value.get("has_nsfw_concepts"))
    for key, child in value.items():
        child_known = key in KNOWN_MEDIA_KEYS
        child_kind = KNOWN_MEDIA_KEYS.get(key)
        child_path = f"{path}.{key}"
        if child_known and isinstance(child, list):
            for index, element in enumerate(child):
                flag = flags[index] if flags and index < len(flags) else None
                _walk(
                    element,
                    f"{child_path}[{index}]",
                    known=True,
                    key_kind=child_kind,
                    nsfw=flag if key == "images" else None,
                    found=found,
                )
        else:
            flag = flags[0] if key == "image" and flags and len(flags) == 1 else None
            _walk(
                child,
                child_path,
                known=child_known,
                key_kind=child_kind,
                nsfw=flag,
                found=found,
            )


def _is_file_object(value: dict[str, Any], known: bool) -> bool:
    url = value.get("url")
    return isinstance(url, str) and bool(url.strip()) and (known or "content_type" in value)


def _file_from_dict(
    value: dict[str, Any], path: str, position: int, key_kind: str | None, nsfw: bool | None
) -> MediaFile:
    url: str = value["url"]
    content_type = value.get("content_type")
    content_type = content_type if isinstance(content_type, str) and content_type else None
    content_type = content_type or _data_uri_type(url)
    file_name = value.get("file_name")
    file_name = file_name if isinstance(file_name, str) and file_name else None
    own_flag = value.get("nsfw", value.get("has_nsfw_concepts"))
    return MediaFile(
        position=position,
        media_kind=_media_kind(content_type, key_kind, url, file_name),
        url=url,
        path=path,
        content_type=content_type,
        width=_as_int(value.get("width")),
        height=_as_int(value.get("height")),
        duration_seconds=_as_float(value.get("duration", value.get("duration_seconds"))),
        file_size=_as_int(value.get("file_size")),
        file_name=file_name,
        nsfw=nsfw if nsfw is not None else (own_flag if isinstance(own_flag, bool) else None),
        seed=_as_seed(value.get("seed")),
    )


def _media_kind(
    content_type: str | None, key_kind: str | None, url: str, file_name: str | None
) -> str:
    """content_type first (most specific), then what the key implies, then the extension."""
    if content_type:
        major = content_type.split("/", 1)[0].strip().lower()
        if major in ("image", "video", "audio"):
            return major
    if key_kind:
        return key_kind
    for name in (file_name, urlparse(url).path if _URL.match(url) else None):
        if name:
            kind = _EXTENSION_KINDS.get(PurePosixPath(name).suffix.lower())
            if kind:
                return kind
    return "other"


def _looks_like_url(value: str) -> bool:
    return bool(_URL.match(value)) or bool(_DATA_URI.match(value))


def _data_uri_type(url: str) -> str | None:
    match = _DATA_URI.match(url)
    return match.group(1) if match and match.group(1) else None


def _nsfw_flags(value: object) -> list[bool | None] | None:
    if not isinstance(value, list):
        return None
    return [flag if isinstance(flag, bool) else None for flag in value]


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _as_seed(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _storable_seed(seed: int | None) -> int | None:
    return seed if seed is not None and abs(seed) < HUGEINT_LIMIT else None
