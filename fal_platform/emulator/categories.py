"""The model categories the emulator serves; everything category-specific keys off these."""

from __future__ import annotations

from typing import Final

TEXT_TO_IMAGE: Final = "text-to-image"
IMAGE_TO_IMAGE: Final = "image-to-image"
IMAGE_TO_VIDEO: Final = "image-to-video"
TEXT_TO_VIDEO: Final = "text-to-video"
TEXT_TO_SPEECH: Final = "text-to-speech"
SPEECH_TO_TEXT: Final = "speech-to-text"

CATEGORIES: Final[tuple[str, ...]] = (
    TEXT_TO_IMAGE,
    IMAGE_TO_IMAGE,
    IMAGE_TO_VIDEO,
    TEXT_TO_VIDEO,
    TEXT_TO_SPEECH,
    SPEECH_TO_TEXT,
)
IMAGE_CATEGORIES: Final = frozenset({TEXT_TO_IMAGE, IMAGE_TO_IMAGE})
VIDEO_CATEGORIES: Final = frozenset({IMAGE_TO_VIDEO, TEXT_TO_VIDEO})
