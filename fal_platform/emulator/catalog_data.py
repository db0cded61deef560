"""Static catalog material: the well-known endpoints every catalog starts with, and the
word lists the generated endpoints are named from. Pure data, no logic."""

from __future__ import annotations

from dataclasses import dataclass, field

from fal_platform.emulator import categories as c


@dataclass(frozen=True)
class FixedModel:
    endpoint_id: str
    category: str
    display_name: str
    description: str
    tags: tuple[str, ...]
    unit: str
    unit_price: float
    date: str
    updated_at: str
    audio_key: str = "audio"
    image_size: str = "landscape_4_3"
    license_type: str | None = None
    github_url: str | None = None
    group: tuple[str, str] | None = None
    highlighted: bool = False
    pinned: bool = False
    stream: bool = False
    duration_estimate: float | None = None
    training_endpoint_ids: tuple[str, ...] = field(default_factory=tuple)


# Always present, in this order, whatever the catalog size: tests and docs rely on them.
REQUIRED_MODELS: tuple[FixedModel, ...] = (
    FixedModel(
        "fal-ai/flux/dev",
        c.TEXT_TO_IMAGE,
        "FLUX.1 [dev]",
        "FLUX.1 [dev] is a 12 billion parameter flow transformer that generates high-quality "
        "images from text.",
        ("flux", "realism", "text-to-image"),
        "image",
        0.025,
        "2024-08-01T09:00:00Z",
        "2026-02-20T10:15:00Z",
        license_type="commercial",
        github_url="https://github.com/black-forest-labs/flux",
        group=("flux-1", "FLUX.1"),
        highlighted=True,
        pinned=True,
        stream=True,
        duration_estimate=0.1,
        training_endpoint_ids=("fal-ai/flux-lora-fast-training",),
    ),
    FixedModel(
        "fal-ai/flux/schnell",
        c.TEXT_TO_IMAGE,
        "FLUX.1 [schnell]",
        "FLUX.1 [schnell] is a fast 1-4 step distilled flow transformer for text-to-image.",
        ("flux", "fast", "text-to-image"),
        "megapixels",
        0.003,
        "2024-08-01T09:00:00Z",
        "2026-02-18T08:00:00Z",
        license_type="commercial",
        group=("flux-1", "FLUX.1"),
        highlighted=True,
    ),
    FixedModel(
        "fal-ai/fast-sdxl",
        c.TEXT_TO_IMAGE,
        "Stable Diffusion XL",
        "Run SDXL at the speed of light: a fast Stable Diffusion XL endpoint.",
        ("sdxl", "stylized", "text-to-image"),
        "image",
        0.0025,
        "2023-09-12T12:00:00Z",
        "2026-01-30T16:45:00Z",
        image_size="square_hd",
        license_type="commercial",
    ),
    FixedModel(
        "fal-ai/flux/dev/image-to-image",
        c.IMAGE_TO_IMAGE,
        "FLUX.1 [dev] Image-to-Image",
        "FLUX.1 [dev] image-to-image: restyle or edit an input image guided by a prompt.",
        ("flux", "editing", "image-to-image"),
        "megapixels",
        0.03,
        "2024-08-20T09:00:00Z",
        "2026-02-20T10:15:00Z",
        license_type="commercial",
        group=("flux-1", "FLUX.1"),
    ),
    FixedModel(
        "fal-ai/kling-video/v2/master/image-to-video",
        c.IMAGE_TO_VIDEO,
        "Kling 2.0 Master Image to Video",
        "Kling 2.0 Master turns a still image into a fluid, cinematic video clip.",
        ("kling", "video", "image-to-video"),
        "second",
        0.28,
        "2025-04-15T09:00:00Z",
        "2026-02-25T12:30:00Z",
        license_type="commercial",
        group=("kling-video-v2", "Kling 2.0"),
        highlighted=True,
        duration_estimate=2.5,
    ),
    FixedModel(
        "fal-ai/kling-video/v2/master/text-to-video",
        c.TEXT_TO_VIDEO,
        "Kling 2.0 Master Text to Video",
        "Kling 2.0 Master generates cinematic video clips from text prompts.",
        ("kling", "video", "text-to-video"),
        "second",
        0.28,
        "2025-04-15T09:00:00Z",
        "2026-02-25T12:30:00Z",
        license_type="commercial",
        group=("kling-video-v2", "Kling 2.0"),
        duration_estimate=3.0,
    ),
    FixedModel(
        "fal-ai/kokoro/american-english",
        c.TEXT_TO_SPEECH,
        "Kokoro TTS (American English)",
        "Kokoro is a lightweight, expressive text-to-speech model with many voices.",
        ("tts", "speech", "english"),
        "1000 characters",
        0.02,
        "2025-01-20T09:00:00Z",
        "2026-02-10T09:30:00Z",
        license_type="commercial",
        group=("kokoro", "Kokoro"),
    ),
    FixedModel(
        "fal-ai/whisper",
        c.SPEECH_TO_TEXT,
        "Whisper",
        "Whisper transcribes and translates speech in many languages, with optional diarization.",
        ("asr", "transcription", "speech-to-text"),
        "compute seconds",
        0.00111,
        "2023-11-01T09:00:00Z",
        "2026-01-15T11:00:00Z",
        license_type="commercial",
        github_url="https://github.com/openai/whisper",
    ),
)

# Also well known, included after the required ones when the catalog is big enough.
EXTRA_MODELS: tuple[FixedModel, ...] = (
    FixedModel(
        "fal-ai/kling-video/v2/pro/text-to-video",
        c.TEXT_TO_VIDEO,
        "Kling 2.0 Pro Text to Video",
        "Kling 2.0 Pro: a faster, cheaper text-to-video tier.",
        ("kling", "video", "text-to-video"),
        "video",
        0.45,
        "2025-04-15T09:00:00Z",
        "2026-02-25T12:30:00Z",
        group=("kling-video-v2", "Kling 2.0"),
    ),
    FixedModel(
        "fal-ai/flux-pro/v1.1",
        c.TEXT_TO_IMAGE,
        "FLUX1.1 [pro]",
        "FLUX1.1 [pro]: improved image quality, prompt adherence and output diversity.",
        ("flux", "pro", "text-to-image"),
        "image",
        0.04,
        "2024-10-02T09:00:00Z",
        "2026-02-01T09:00:00Z",
        license_type="commercial",
    ),
    FixedModel(
        "fal-ai/recraft-v3",
        c.TEXT_TO_IMAGE,
        "Recraft V3",
        "Recraft V3 generates images in a wide range of styles, including vector art.",
        ("vector", "stylized", "text-to-image"),
        "image",
        0.04,
        "2024-10-30T09:00:00Z",
        "2026-01-12T09:00:00Z",
    ),
    FixedModel(
        "fal-ai/minimax/video-01",
        c.TEXT_TO_VIDEO,
        "MiniMax Video-01",
        "MiniMax Video-01 generates high-resolution videos from prompts.",
        ("video", "text-to-video"),
        "video",
        0.5,
        "2024-09-20T09:00:00Z",
        "2026-01-05T09:00:00Z",
    ),
    FixedModel(
        "fal-ai/f5-tts",
        c.TEXT_TO_SPEECH,
        "F5 TTS",
        "F5 TTS: fluent and faithful speech synthesis with voice cloning.",
        ("tts", "voice-cloning"),
        "1000 characters",
        0.05,
        "2024-10-20T09:00:00Z",
        "2025-12-01T09:00:00Z",
        audio_key="audio_url",
    ),
    FixedModel(
        "fal-ai/wizper",
        c.SPEECH_TO_TEXT,
        "Wizper",
        "Wizper: Whisper v3 large, optimised for speed.",
        ("asr", "fast", "speech-to-text"),
        "compute seconds",
        0.0005,
        "2024-06-01T09:00:00Z",
        "2025-11-20T09:00:00Z",
    ),
    FixedModel(
        "workflows/fal-ai/sdxl-sticker",
        c.IMAGE_TO_IMAGE,
        "SDXL Sticker Workflow",
        "A workflow that turns a photo into a die-cut sticker.",
        ("workflow", "stickers", "image-to-image"),
        "image",
        0.01,
        "2024-05-01T09:00:00Z",
        "2025-10-01T09:00:00Z",
    ),
)

OWNERS: tuple[str, ...] = (
    "acme-labs",
    "pixelworks",
    "lumen-ai",
    "neon-studio",
    "orbit-ml",
    "vox-labs",
    "fal-ai",
    "stellar-gen",
    "mosaic-ai",
    "quanta",
)
ADJECTIVES: tuple[str, ...] = (
    "pixel",
    "dream",
    "neo",
    "hyper",
    "swift",
    "aurora",
    "prism",
    "echo",
    "nova",
    "zen",
    "terra",
    "vivid",
    "polar",
    "ember",
)
NOUNS: dict[str, tuple[str, ...]] = {
    c.TEXT_TO_IMAGE: ("gen", "diffusion", "canvas", "paint", "vision", "render"),
    c.IMAGE_TO_IMAGE: ("edit", "restyle", "inpaint", "upscale", "remix"),
    c.IMAGE_TO_VIDEO: ("motion", "animate", "cine"),
    c.TEXT_TO_VIDEO: ("video", "clip", "reel"),
    c.TEXT_TO_SPEECH: ("voice", "speak", "tts", "narrator"),
    c.SPEECH_TO_TEXT: ("scribe", "transcribe", "listen", "asr"),
}
SUBPATHS: dict[str, tuple[str, ...]] = {
    c.TEXT_TO_IMAGE: ("", "", "turbo", "v2", "v2/pro", "lora", "text-to-image"),
    c.IMAGE_TO_IMAGE: ("image-to-image", "edit", "v1/redux", ""),
    c.IMAGE_TO_VIDEO: ("image-to-video", "v1/standard/image-to-video", "v2/pro/image-to-video"),
    c.TEXT_TO_VIDEO: ("text-to-video", "v1/pro/text-to-video", ""),
    c.TEXT_TO_SPEECH: ("", "english", "multilingual-v2"),
    c.SPEECH_TO_TEXT: ("", "v3", "large"),
}
# Relative frequency of each category among generated models.
CATEGORY_WEIGHTS: dict[str, float] = {
    c.TEXT_TO_IMAGE: 0.35,
    c.IMAGE_TO_IMAGE: 0.15,
    c.IMAGE_TO_VIDEO: 0.15,
    c.TEXT_TO_VIDEO: 0.15,
    c.TEXT_TO_SPEECH: 0.10,
    c.SPEECH_TO_TEXT: 0.10,
}
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    c.TEXT_TO_IMAGE: (
        "{name} turns text prompts into {style} images.",
        "{name}: a {style} text-to-image model tuned for prompt adherence.",
    ),
    c.IMAGE_TO_IMAGE: (
        "{name} edits and restyles an input image with a prompt, {style} results.",
        "{name}: {style} image-to-image transformation.",
    ),
    c.IMAGE_TO_VIDEO: (
        "{name} animates a still image into a {style} video clip.",
        "{name}: {style} image-to-video generation.",
    ),
    c.TEXT_TO_VIDEO: (
        "{name} generates {style} video clips from text.",
        "{name}: text-to-video with {style} motion.",
    ),
    c.TEXT_TO_SPEECH: (
        "{name} reads text aloud with {style} voices.",
        "{name}: {style} multilingual speech synthesis.",
    ),
    c.SPEECH_TO_TEXT: (
        "{name} transcribes speech with {style} accuracy.",
        "{name}: {style} speech recognition with timestamps.",
    ),
}
STYLES: tuple[str, ...] = (
    "photorealistic",
    "cinematic",
    "stylized",
    "fast",
    "high-fidelity",
    "expressive",
    "crisp",
)
TAGS: dict[str, tuple[str, ...]] = {
    c.TEXT_TO_IMAGE: ("realism", "stylized", "fast", "lora", "pro", "turbo"),
    c.IMAGE_TO_IMAGE: ("editing", "upscale", "stylized", "inpainting"),
    c.IMAGE_TO_VIDEO: ("video", "animation", "motion", "pro"),
    c.TEXT_TO_VIDEO: ("video", "cinematic", "fast", "pro"),
    c.TEXT_TO_SPEECH: ("audio", "voice", "multilingual", "fast"),
    c.SPEECH_TO_TEXT: ("audio", "transcription", "diarization", "multilingual"),
}
PRICES: dict[str, tuple[tuple[str, tuple[float, ...]], ...]] = {
    c.TEXT_TO_IMAGE: (
        ("image", (0.003, 0.01, 0.02, 0.025, 0.035, 0.04, 0.05)),
        ("megapixels", (0.01, 0.02, 0.03)),
    ),
    c.IMAGE_TO_IMAGE: (
        ("image", (0.01, 0.02, 0.03, 0.04)),
        ("megapixels", (0.02, 0.03)),
    ),
    c.IMAGE_TO_VIDEO: (("second", (0.05, 0.1, 0.2, 0.28, 0.4)), ("video", (0.2, 0.35, 0.5, 1.0))),
    c.TEXT_TO_VIDEO: (("second", (0.05, 0.1, 0.2, 0.28, 0.4)), ("video", (0.2, 0.35, 0.5, 1.0))),
    c.TEXT_TO_SPEECH: (("1000 characters", (0.01, 0.02, 0.05, 0.1)),),
    c.SPEECH_TO_TEXT: (("compute seconds", (0.0005, 0.00111, 0.002)),),
}
IMAGE_SIZE_NAMES: tuple[str, ...] = (
    "square_hd",
    "square",
    "portrait_4_3",
    "portrait_16_9",
    "landscape_4_3",
    "landscape_16_9",
)
