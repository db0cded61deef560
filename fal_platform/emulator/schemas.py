"""Input/output schemas per category, the per-endpoint OpenAPI document, and input validation
that reports errors the way fal's FastAPI apps do ({"loc": ["body", ...], "msg", "type"}).

The schemas are plain JSON Schema that is also valid OpenAPI 3.0 (no `type: null` unions), so
one dict serves both the validator and `expand=openapi-3.0`.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from fal_platform.emulator import categories as c
from fal_platform.emulator.catalog import Model

IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
MAX_SIDE = 4096
VOICES = ("af_heart", "af_bella", "af_nicole", "am_adam", "am_michael", "bf_emma", "bm_george")
VIDEO_DURATIONS = ("5", "10")

_PROMPT: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "title": "Prompt",
    "description": "The prompt.",
}
_IMAGE_URL: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "title": "Image Url",
    "description": "URL (or data URI) of the input image.",
}
_SEED: dict[str, Any] = {
    "type": "integer",
    "title": "Seed",
    "description": "Same seed and input, same output.",
}
_IMAGE_SIZE_OBJECT: dict[str, Any] = {
    "type": "object",
    "title": "ImageSize",
    "properties": {
        "width": {"type": "integer", "minimum": 64, "maximum": MAX_SIDE, "default": 512},
        "height": {"type": "integer", "minimum": 64, "maximum": MAX_SIDE, "default": 512},
    },
    "required": ["width", "height"],
}
_IMAGE_OPTIONS: dict[str, Any] = {
    "image_size": {
        "title": "Image Size",
        "description": "A preset name or {width, height}.",
        "oneOf": [{"type": "string", "enum": list(IMAGE_SIZES)}, _IMAGE_SIZE_OBJECT],
    },
    "num_inference_steps": {"type": "integer", "minimum": 1, "maximum": 50, "default": 28},
    "guidance_scale": {"type": "number", "minimum": 0, "maximum": 20, "default": 3.5},
    "num_images": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
    "seed": _SEED,
    "enable_safety_checker": {"type": "boolean", "default": True},
    "output_format": {
        "type": "string",
        "enum": ["jpeg", "png", "webp"],
        "default": "png",
        "description": "Accepted for compatibility; the emulator always returns PNG.",
    },
    "sync_mode": {"type": "boolean", "default": False},
}
_VIDEO_OPTIONS: dict[str, Any] = {
    "duration": {"type": "string", "enum": list(VIDEO_DURATIONS), "default": "5"},
    "aspect_ratio": {"type": "string", "enum": ["16:9", "9:16", "1:1"], "default": "16:9"},
    "negative_prompt": {"type": "string", "default": "blur, distort, and low quality"},
    "cfg_scale": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
    "seed": _SEED,
}

INPUT_SCHEMAS: dict[str, dict[str, Any]] = {
    c.TEXT_TO_IMAGE: {
        "type": "object",
        "properties": {"prompt": _PROMPT, **_IMAGE_OPTIONS},
        "required": ["prompt"],
    },
    c.IMAGE_TO_IMAGE: {
        "type": "object",
        "properties": {
            "prompt": _PROMPT,
            "image_url": _IMAGE_URL,
            "strength": {"type": "number", "minimum": 0.01, "maximum": 1, "default": 0.95},
            **_IMAGE_OPTIONS,
        },
        "required": ["prompt", "image_url"],
    },
    c.IMAGE_TO_VIDEO: {
        "type": "object",
        "properties": {"prompt": _PROMPT, "image_url": _IMAGE_URL, **_VIDEO_OPTIONS},
        "required": ["prompt", "image_url"],
    },
    c.TEXT_TO_VIDEO: {
        "type": "object",
        "properties": {"prompt": _PROMPT, **_VIDEO_OPTIONS},
        "required": ["prompt"],
    },
    c.TEXT_TO_SPEECH: {
        "type": "object",
        "properties": {
            "prompt": {**_PROMPT, "description": "The text to speak."},
            "voice": {"type": "string", "enum": list(VOICES), "default": "af_heart"},
            "speed": {"type": "number", "minimum": 0.5, "maximum": 2.0, "default": 1.0},
        },
        "required": ["prompt"],
    },
    c.SPEECH_TO_TEXT: {
        "type": "object",
        "properties": {
            "audio_url": {**_IMAGE_URL, "title": "Audio Url", "description": "URL of the audio."},
            "task": {
                "type": "string",
                "enum": ["transcribe", "translate"],
                "default": "transcribe",
            },
            "language": {"type": "string", "description": "Omit for automatic detection."},
            "diarize": {"type": "boolean", "default": False},
            "chunk_level": {
                "type": "string",
                "enum": ["none", "segment", "word"],
                "default": "segment",
            },
            "num_speakers": {"type": "integer", "minimum": 1, "maximum": 10},
        },
        "required": ["audio_url"],
    },
}

_FILE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {"type": "string"},
        "content_type": {"type": "string"},
        "file_name": {"type": "string"},
        "file_size": {"type": "integer"},
    },
    "required": ["url"],
}
_IMAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_FILE["properties"],
        "width": {"type": "integer"},
        "height": {"type": "integer"},
    },
    "required": ["url", "width", "height"],
}
_IMAGE_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "images": {"type": "array", "items": _IMAGE},
        "seed": {"type": "integer"},
        "timings": {"type": "object"},
        "has_nsfw_concepts": {"type": "array", "items": {"type": "boolean"}},
        "prompt": {"type": "string"},
    },
    "required": ["images", "seed", "timings", "has_nsfw_concepts", "prompt"],
}
_VIDEO_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {"video": _FILE, "seed": {"type": "integer"}},
    "required": ["video"],
}
_AUDIO_FILE: dict[str, Any] = {
    "type": "object",
    "properties": {**_FILE["properties"], "duration": {"type": "number"}},
    "required": ["url"],
}
_TRANSCRIPT_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "chunks": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "timestamp": {"type": "array", "items": {"type": "number"}},
                    "text": {"type": "string"},
                    "speaker": {"type": "string"},
                },
                "required": ["timestamp", "text"],
            },
        },
        "languages": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["text", "chunks"],
}


def input_schema(category: str) -> dict[str, Any]:
    return INPUT_SCHEMAS[category]


def output_schema(model: Model) -> dict[str, Any]:
    if model.category in c.IMAGE_CATEGORIES:
        return _IMAGE_OUTPUT
    if model.category in c.VIDEO_CATEGORIES:
        return _VIDEO_OUTPUT
    if model.category == c.TEXT_TO_SPEECH:
        return {
            "type": "object",
            "properties": {model.audio_key: _AUDIO_FILE},
            "required": [model.audio_key],
        }
    return _TRANSCRIPT_OUTPUT


@cache
def _validator(category: str) -> Draft7Validator:
    return Draft7Validator(INPUT_SCHEMAS[category])


def validate_input(category: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Empty list when valid; otherwise FastAPI/pydantic-v1 style detail items."""
    validator = _validator(category)
    if validator.is_valid(payload):
        return []
    errors = sorted(validator.iter_errors(payload), key=lambda e: [str(p) for p in e.path])
    return [_detail_item(error) for error in errors]


def _detail_item(error: ValidationError) -> dict[str, Any]:
    loc: list[Any] = ["body", *error.path]
    kind = error.validator
    limit: Any = error.validator_value
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return {"loc": [*loc, missing], "msg": "field required", "type": "value_error.missing"}
    if kind == "type":
        expected = str(limit)
        names = {"integer": "integer", "number": "float", "string": "str", "boolean": "bool"}
        name = names.get(expected, expected)
        return {
            "loc": loc,
            "msg": f"value is not a valid {'dict' if expected == 'object' else name}",
            "type": f"type_error.{'dict' if expected == 'object' else name}",
        }
    if kind == "enum":
        permitted = ", ".join(repr(v) for v in limit)
        return {
            "loc": loc,
            "msg": f"value is not a valid enumeration member; permitted: {permitted}",
            "type": "type_error.enum",
            "ctx": {"enum_values": list(limit)},
        }
    if kind in ("minimum", "maximum"):
        word, suffix = ("greater", "ge") if kind == "minimum" else ("less", "le")
        return {
            "loc": loc,
            "msg": f"ensure this value is {word} than or equal to {limit}",
            "type": f"value_error.number.not_{suffix}",
            "ctx": {"limit_value": limit},
        }
    if kind == "minLength":
        return {
            "loc": loc,
            "msg": f"ensure this value has at least {limit} characters",
            "type": "value_error.any_str.min_length",
            "ctx": {"limit_value": limit},
        }
    return {"loc": loc, "msg": error.message, "type": "value_error"}


def _schema_prefix(endpoint_id: str) -> str:
    words = endpoint_id.replace("/", "-").replace(".", "-").replace("_", "-").split("-")
    return "".join(w[:1].upper() + w[1:] for w in words if w)


_QUEUE_STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]},
        "request_id": {"type": "string"},
        "response_url": {"type": "string"},
        "status_url": {"type": "string"},
        "cancel_url": {"type": "string"},
        "queue_position": {"type": "integer"},
        "logs": {"type": "array", "items": {"type": "object"}},
        "metrics": {"type": "object"},
    },
    "required": ["status", "request_id"],
}


def openapi_document(model: Model) -> dict[str, Any]:
    """The OpenAPI 3.0 document fal returns for `expand=openapi-3.0` (queue paths included)."""
    prefix = _schema_prefix(model.endpoint_id)
    input_name, output_name = f"{prefix}Input", f"{prefix}Output"
    meta = model.metadata
    return {
        "openapi": "3.0.4",
        "info": {
            "title": f"Queue OpenAPI for {model.endpoint_id}",
            "version": "1.0.0",
            "description": meta.description if meta else model.endpoint_id,
            "x-fal-metadata": {
                "endpointId": model.endpoint_id,
                "category": model.category,
                "thumbnailUrl": meta.thumbnail_url if meta else None,
                "playgroundUrl": f"https://fal.ai/models/{model.endpoint_id}",
                "documentationUrl": f"https://fal.ai/models/{model.endpoint_id}/api",
            },
        },
        "components": {
            "securitySchemes": {
                "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
            "schemas": {
                "QueueStatus": copy.deepcopy(_QUEUE_STATUS_SCHEMA),
                input_name: copy.deepcopy(input_schema(model.category)),
                output_name: copy.deepcopy(output_schema(model)),
            },
        },
        "paths": _queue_paths(model, input_name, output_name),
        "servers": [{"url": "https://queue.fal.run"}],
        "security": [{"apiKeyAuth": []}],
    }


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _queue_paths(model: Model, input_name: str, output_name: str) -> dict[str, Any]:
    """The queue routes of one endpoint: submit, status, cancel and result."""
    app = model.app_path
    request_id_param = {
        "name": "request_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    logs_param = {"name": "logs", "in": "query", "required": False, "schema": {"type": "number"}}
    status_ref = {"$ref": "#/components/schemas/QueueStatus"}
    return {
        f"/{model.endpoint_id}": {
            "post": {
                "requestBody": {
                    "required": True,
                    "content": _json_content({"$ref": f"#/components/schemas/{input_name}"}),
                },
                "responses": {
                    "200": {
                        "description": "The request was queued.",
                        "content": _json_content(status_ref),
                    }
                },
            }
        },
        f"/{app}/requests/{{request_id}}/status": {
            "get": {
                "parameters": [request_id_param, logs_param],
                "responses": {
                    "200": {
                        "description": "The request status.",
                        "content": _json_content(status_ref),
                    }
                },
            }
        },
        f"/{app}/requests/{{request_id}}/cancel": {
            "put": {
                "parameters": [request_id_param],
                "responses": {"200": {"description": "The request was cancelled."}},
            }
        },
        f"/{app}/requests/{{request_id}}": {
            "get": {
                "parameters": [request_id_param],
                "responses": {
                    "200": {
                        "description": "Result of the request.",
                        "content": _json_content({"$ref": f"#/components/schemas/{output_name}"}),
                    }
                },
            }
        },
    }
