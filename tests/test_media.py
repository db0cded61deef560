"""Media extraction from model outputs of every shape, seeds without loss, timings."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from PIL import Image

from fal_platform.batch.preview import PreviewRow, render_preview
from fal_platform.batch.rows import MediaRow, RequestRow, RequestState, TimingRow
from fal_platform.batch.store import BatchStore
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.emulator.media import png_bytes
from fal_platform.media.extract import MediaFile, extract_media, extract_seed, media_rows
from fal_platform.media.gallery import (
    LABEL_CHARS,
    PREVIEW_IMAGES,
    PREVIEW_LINKS,
    GalleryItem,
    files_preview,
    gallery_markdown,
)
from fal_platform.media.thumbnails import THUMBNAIL_PX, load_thumbnails, thumbnail_data_uri
from fal_platform.media.timings import timing_row, timing_rows

BIG_SEED = 196619188014358660
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

FLUX_OUTPUT = {
    "images": [
        {
            "url": "https://v3.fal.media/files/rabbit/a.jpeg",
            "width": 1024,
            "height": 768,
            "content_type": "image/jpeg",
        },
        {
            "url": "https://v3.fal.media/files/rabbit/b.jpeg",
            "width": 1024,
            "height": 768,
            "content_type": "image/jpeg",
            "file_name": "b.jpeg",
            "file_size": 183213,
        },
    ],
    "timings": {"inference": 1.2},
    "seed": BIG_SEED,
    "has_nsfw_concepts": [False, True],
    "prompt": "a lighthouse at https://example.com/not-media.png",
}


def kinds_and_urls(files: list[MediaFile]) -> list[tuple[int, str, str]]:
    return [(file.position, file.media_kind, file.url) for file in files]


def completed(result: object, **overrides: object) -> RequestRow:
    row = RequestRow(
        prompt_set="shots",
        item_key="k1",
        item_index=0,
        line=1,
        endpoint_id="fal-ai/flux/dev",
        input={"prompt": "x"},
        replica=0,
        request_id="req-1",
        state=RequestState.COMPLETED,
        attempts=1,
        submitted_at=T0,
        started_at=T0 + timedelta(seconds=2),
        completed_at=T0 + timedelta(seconds=5.5),
        inference_seconds=3.1,
        result=result,
    )
    for name, value in overrides.items():
        setattr(row, name, value)
    return row


# --- shapes --------------------------------------------------------------------------------


def test_flux_images_with_aligned_nsfw_flags() -> None:
    first, second = extract_media(FLUX_OUTPUT)
    assert first == MediaFile(
        position=0,
        media_kind="image",
        url="https://v3.fal.media/files/rabbit/a.jpeg",
        path="$.images[0]",
        content_type="image/jpeg",
        width=1024,
        height=768,
        nsfw=False,
    )
    assert (second.position, second.nsfw, second.file_name, second.file_size) == (
        1,
        True,
        "b.jpeg",
        183213,
    )
    assert extract_seed(FLUX_OUTPUT) == BIG_SEED


def test_video_with_and_without_content_type() -> None:
    output = {
        "video": {
            "url": "https://v3.fal.media/files/kling/out.mp4",
            "content_type": "video/mp4",
            "file_name": "out.mp4",
            "file_size": 4_512_331,
            "duration": 5.04,
        },
        "seed": 12,
    }
    (video,) = extract_media(output)
    assert (video.media_kind, video.content_type, video.file_size, video.duration_seconds) == (
        "video",
        "video/mp4",
        4_512_331,
        5.04,
    )
    (bare,) = extract_media({"video": {"url": "https://x.example/clip"}})
    assert (bare.media_kind, bare.content_type) == ("video", None)  # the key says video


def test_audio_shapes() -> None:
    (audio,) = extract_media(
        {"audio": {"url": "https://x.example/a.wav", "content_type": "audio/wav", "duration": 3.5}}
    )
    assert (audio.media_kind, audio.duration_seconds) == ("audio", 3.5)
    (bare_url,) = extract_media({"audio_url": "https://x.example/speech.mp3"})
    assert (bare_url.media_kind, bare_url.url, bare_url.path) == (
        "audio",
        "https://x.example/speech.mp3",
        "$.audio_url",
    )
    (object_url,) = extract_media({"audio_url": {"url": "https://x.example/tts"}})
    assert object_url.media_kind == "audio"
    (audio_file,) = extract_media(
        {"audio_file": {"url": "https://x.example/f", "content_type": "audio/mpeg"}}
    )
    assert audio_file.media_kind == "audio"


def test_speech_to_text_has_no_media() -> None:
    output = {
        "text": "Hello there. See https://example.com/x.mp3 for details.",
        "chunks": [
            {"timestamp": [0.0, 1.2], "text": "Hello there.", "speaker": "SPEAKER_00"},
            {"timestamp": [1.2, 3.4], "text": "See details."},
        ],
        "inference_stats": {"seconds": 1.0},
        "diarization_segments": [{"speaker": "SPEAKER_00", "timestamp": [0.0, 3.4]}],
    }
    assert extract_media(output) == []
    assert extract_seed(output) is None


def test_nested_outputs_and_generic_file_objects() -> None:
    output = {
        "data": {
            "outputs": [
                {"result": {"images": [{"url": "https://x.example/deep.png"}]}},
                {"thumbnail": {"url": "https://x.example/thumb.png"}},  # no content_type: skipped
            ],
            "mesh_export": {"url": "https://x.example/m.glb", "content_type": "model/gltf-binary"},
        },
        "files": ["https://x.example/voice.mp3", "https://x.example/archive.zip"],
        "model_url": "https://x.example/not-a-result.png",  # a bare URL under an unknown key
        "image": "data:image/png;base64,iVBORw0KGgo=",
    }
    assert kinds_and_urls(extract_media(output)) == [
        (0, "image", "https://x.example/deep.png"),
        (1, "other", "https://x.example/m.glb"),
        (2, "audio", "https://x.example/voice.mp3"),
        (3, "other", "https://x.example/archive.zip"),
        (4, "image", "data:image/png;base64,iVBORw0KGgo="),
    ]
    paths = [file.path for file in extract_media(output)]
    assert paths[0] == "$.data.outputs[0].result.images[0]"
    assert extract_media(output)[4].content_type == "image/png"


def test_top_level_list_and_odd_values() -> None:
    output = [
        {"url": "https://x.example/1.webp", "content_type": "image/webp", "width": 512.0},
        {"image": {"url": "https://x.example/2", "width": True, "height": "768"}},
        {"images": ["not a url", None, 3]},
    ]
    files = extract_media(output)
    assert kinds_and_urls(files) == [
        (0, "image", "https://x.example/1.webp"),
        (1, "image", "https://x.example/2"),
    ]
    assert files[0].width == 512
    assert (files[1].width, files[1].height) == (None, None)
    assert extract_media(None) == [] and extract_media("https://x.example/a.png") == []


def test_seed_extraction() -> None:
    assert extract_seed({"seed": 2**64 - 1}) == 2**64 - 1
    assert extract_seed({"meta": {"seed": "42"}, "other": [{"seed": 7}]}) == 42
    assert extract_seed({"seed": True, "x": {"seed": 5}}) == 5
    assert extract_seed({"seed": None}) is None
    assert extract_seed([{"seeds": [1, 2]}]) is None


# --- rows and DuckDB -----------------------------------------------------------------------


def test_media_rows_of_a_completed_request() -> None:
    rows = media_rows(completed(FLUX_OUTPUT))
    assert [(r.position, r.media_kind, r.nsfw, r.seed) for r in rows] == [
        (0, "image", False, BIG_SEED),
        (1, "image", True, BIG_SEED),
    ]
    assert {(r.prompt_set, r.request_id, r.endpoint_id, r.item_key) for r in rows} == {
        ("shots", "req-1", "fal-ai/flux/dev", "k1")
    }
    # a file's own seed wins over the result's
    (own,) = media_rows(completed({"seed": 1, "image": {"url": "https://x/a.png", "seed": 9}}))
    assert own.seed == 9
    # a seed too large for the column is dropped rather than failing the batch
    (huge,) = media_rows(completed({"seed": 10**40, "image": "https://x/a.png"}))
    assert huge.seed is None
    assert media_rows(completed(FLUX_OUTPUT, state=RequestState.FAILED)) == []
    assert media_rows(completed(None)) == []


def test_big_seed_round_trips_through_duckdb_exactly(tmp_path: Path) -> None:
    path = tmp_path / "seeds.duckdb"
    store = BatchStore.at_path(path)
    request = completed(FLUX_OUTPUT)
    store.upsert_requests([request])
    (loaded_request,) = store.load_requests("shots")
    assert loaded_request.result["seed"] == BIG_SEED  # the JSON result keeps it too

    store.replace_media("shots", media_rows(loaded_request))
    assert [row.seed for row in store.load_media("shots")] == [BIG_SEED, BIG_SEED]
    with duckdb.connect(str(path)) as conn:
        matches = conn.execute(
            "SELECT count(*) FROM media.files WHERE seed = 196619188014358660::HUGEINT"
        ).fetchall()
        as_text = conn.execute("SELECT DISTINCT seed::VARCHAR FROM media.files").fetchall()
    assert matches == [(2,)]
    assert as_text == [("196619188014358660",)]
    # a float would have rounded it
    assert int(float(BIG_SEED)) != BIG_SEED


# --- timings -------------------------------------------------------------------------------


def test_timing_row_from_timestamps() -> None:
    row = timing_row(completed(FLUX_OUTPUT, attempts=2))
    assert row == TimingRow(
        prompt_set="shots",
        request_id="req-1",
        item_key="k1",
        endpoint_id="fal-ai/flux/dev",
        queue_wait_seconds=2.0,
        inference_seconds_fal=3.1,
        inference_seconds_observed=3.5,
        total_seconds=5.5,
        attempts=2,
    )


def test_timing_row_with_missing_timestamps() -> None:
    never_seen_running = timing_row(completed(FLUX_OUTPUT, started_at=None))
    assert never_seen_running is not None
    assert never_seen_running.queue_wait_seconds is None
    assert never_seen_running.inference_seconds_observed is None
    assert never_seen_running.total_seconds == 5.5

    in_flight = timing_row(completed(None, state=RequestState.IN_PROGRESS, completed_at=None))
    assert in_flight is not None
    assert (in_flight.queue_wait_seconds, in_flight.total_seconds) == (2.0, None)

    never_submitted = completed(None, state=RequestState.PENDING, submitted_at=None)
    assert timing_row(never_submitted) is None
    assert timing_rows([never_submitted, completed(FLUX_OUTPUT)]) == [
        timing_row(completed(FLUX_OUTPUT))
    ]


# --- previews: bounded thumbnails ------------------------------------------------------------

_IMAGE_MD = re.compile(r"!\[[^\]]*\]\((?P<src>[^)]*)\)")


def image_sources(markdown: str) -> list[str]:
    return [match.group("src") for match in _IMAGE_MD.finditer(markdown)]


def decoded_size(data_uri: str) -> tuple[int, int]:
    prefix = "data:image/jpeg;base64,"
    assert data_uri.startswith(prefix)
    with Image.open(io.BytesIO(base64.b64decode(data_uri[len(prefix) :]))) as image:
        return image.size


def test_thumbnails_are_small_whatever_the_source_size() -> None:
    wide = thumbnail_data_uri(png_bytes(1024, 768, "336699"))
    tall = thumbnail_data_uri(png_bytes(300, 1200, "336699"))
    assert wide is not None and decoded_size(wide) == (THUMBNAIL_PX, 120)
    assert tall is not None and decoded_size(tall) == (40, THUMBNAIL_PX)
    assert thumbnail_data_uri(b"not an image") is None


def test_preload_decoders_imports_them_in_the_background() -> None:
    # A fresh interpreter: this one opened images already, so its decoders are loaded.
    code = (
        "import sys\n"
        "from fal_platform.media.thumbnails import preload_decoders\n"
        "decoders = ('PIL.PngImagePlugin', 'PIL.JpegImagePlugin')\n"
        "before = [name in sys.modules for name in decoders]\n"
        "thread = preload_decoders()\n"
        "thread.join(30)\n"
        "print(before, [name in sys.modules for name in decoders], thread.daemon)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["[False,", "False]", "[True,", "True]", "True"]


def test_thumbnails_of_emulator_files_over_http(emulator: EmulatorProcess) -> None:
    good = f"{emulator.url}/media/req-1/0.png?w=1024&h=1024&c=aa0000"
    missing = f"{emulator.url}/media/req-1/1.png?w=0&h=0"
    inline = "data:image/png;base64," + base64.b64encode(png_bytes(640, 480, "00aa00")).decode()
    thumbnails = load_thumbnails([good, missing, inline, "ftp://x.example/a.png"])
    assert set(thumbnails) == {good, inline}
    assert decoded_size(thumbnails[good]) == (THUMBNAIL_PX, THUMBNAIL_PX)
    assert decoded_size(thumbnails[inline]) == (THUMBNAIL_PX, 120)


def test_gallery_is_bounded_and_never_shows_a_full_size_image() -> None:
    long_name = "a very long file name " * 5 + ".png"
    items = [
        GalleryItem(f"{i}-{long_name}", f"https://x.example/{i}.png", "image") for i in range(30)
    ]
    items.append(GalleryItem("clip.mp4", "https://x.example/clip.mp4", "video"))
    thumb = thumbnail_data_uri(png_bytes(800, 600, "123456"))
    assert thumb is not None
    # thumbnails for 10 of the images; image 3 could not be fetched
    thumbnails = {item.url: thumb for item in items[:10] if not item.url.endswith("/3.png")}

    markdown = gallery_markdown(items, thumbnails)

    sources = image_sources(markdown)
    assert len(sources) == PREVIEW_IMAGES
    assert all(decoded_size(src)[0] <= THUMBNAIL_PX for src in sources)
    assert "(https://x.example/3.png)" in markdown  # linked, not shown
    assert "![" not in markdown.split("\n\n")[-1]  # the rest are links only
    assert markdown.count("](https://x.example/") == PREVIEW_IMAGES + PREVIEW_LINKS
    assert markdown.endswith(f" and {len(items) - PREVIEW_IMAGES - PREVIEW_LINKS} more")
    labels = re.findall(r"\[([^\]!]*)\]\(https", markdown)
    assert labels and all(len(label) <= LABEL_CHARS for label in labels)
    assert all(label.endswith("\u2026") for label in labels if label != "clip.mp4")


def test_requests_preview_links_outputs_and_bounds_thumbnails() -> None:
    rows = [
        PreviewRow(
            line=i + 1,
            endpoint_id="fal-ai/flux/dev",
            prompt="a lighthouse | at dusk " * 20,
            state="COMPLETED",
            attempts=1,
            latency_seconds=1.5,
            media_url=f"https://x.example/{i}.png",
            media_kind="image",
            error_type=None,
        )
        for i in range(12)
    ]
    thumb = thumbnail_data_uri(png_bytes(1024, 1024, "654321"))
    assert thumb is not None

    markdown = render_preview(rows, {row.media_url or "": thumb for row in rows})

    table, gallery = markdown.split("\n\n", 1)
    assert image_sources(table) == []  # one text line per row
    assert "| [image](https://x.example/0.png) |" in table
    assert len(image_sources(gallery)) == PREVIEW_IMAGES
    assert "[![line 1](data:image/jpeg;base64," in gallery
    for line in table.splitlines()[2:]:
        prompt = line.split(" | ")[2]
        assert len(prompt.replace("\\|", "|")) <= 60 and prompt.endswith("\u2026")
    assert render_preview([], {}) == "_no items_"


def test_media_files_preview_fetches_a_few_thumbnails(emulator: EmulatorProcess) -> None:
    rows = [
        MediaRow(
            "shots",
            f"req-{i}",
            "fal-ai/flux/dev",
            f"k{i:02d}",
            0,
            "image",
            f"{emulator.url}/media/req-{i}/0.png?w=1024&h=768&c=0000aa",
        )
        for i in range(20)
    ]
    rows.append(
        MediaRow(
            "shots",
            "req-a",
            "fal-ai/tts",
            "ka",
            0,
            "audio",
            f"{emulator.url}/media/req-a/0.wav?ms=500",
        )
    )

    markdown = files_preview(rows)

    assert markdown.startswith(f"{PREVIEW_IMAGES} of 20 images shown, 21 files")
    sources = image_sources(markdown)
    assert len(sources) == PREVIEW_IMAGES
    assert {decoded_size(src) for src in sources} == {(THUMBNAIL_PX, 120)}
    assert "/media/req-a/0.wav?ms=500)" in markdown  # the audio file is a link
    assert files_preview([]) == "_No media in this prompt set._"
