"""The pure rules of `file:` inputs and of where uploads go (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fal_platform.batch.local_files import (
    FileChecker,
    FileRef,
    LocalFile,
    file_refs,
    item_file_problems,
    replace_refs,
    sniff_content_type,
)
from fal_platform.batch.prompts import PromptSetError, read_prompt_set, validate_prompt_set
from fal_platform.catalog.lookup import EndpointInfo
from fal_platform.emulator.media import png_bytes, wav_bytes
from fal_platform.target import resolve_target

VIDEO = "fal-ai/kling-video/v2/master/image-to-video"


def test_refs_are_found_at_any_depth_and_replaced() -> None:
    value = {
        "prompt": "a file:like word inside a prompt is text",
        "image_urls": ["file:a.png", "https://x/b.png"],
        "nested": {"mask": "file:/abs/mask.png"},
        "seed": 3,
    }
    assert file_refs(value) == [
        FileRef("input.image_urls[0]", "a.png"),
        FileRef("input.nested.mask", "/abs/mask.png"),
    ]
    replaced = replace_refs(value, lambda spec: f"https://cdn/{spec}")
    assert replaced["image_urls"] == ["https://cdn/a.png", "https://x/b.png"]
    assert replaced["nested"] == {"mask": "https://cdn//abs/mask.png"} and replaced["seed"] == 3
    assert value["image_urls"][0] == "file:a.png"  # the input itself is left alone


def test_content_type_comes_from_the_bytes() -> None:
    assert sniff_content_type(png_bytes(2, 2, "000000"), "photo.jpg") == "image/png"
    assert sniff_content_type(wav_bytes(10), "speech.bin") == "audio/x-wav"
    assert sniff_content_type(b"hello", "notes.txt") == "text/plain"
    assert sniff_content_type(b"\x00\x01", "blob") == "application/octet-stream"


def test_each_path_is_inspected_once_and_problems_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes(2, 2, "ffffff"))
    (tmp_path / "empty.png").write_bytes(b"")
    checker = FileChecker()
    item = {"image_url": "file:a.png", "mask_url": "file:empty.png", "ref": "file:"}
    problems = item_file_problems(item, tmp_path, checker)
    assert problems == [
        ("input.mask_url", f"{tmp_path / 'empty.png'} is empty"),
        ("input.ref", "'file:' names no file; write file:<path>"),
    ]
    (tmp_path / "a.png").unlink()  # a second look would now fail: the checker remembers
    assert item_file_problems({"image_url": "file:a.png"}, tmp_path, checker) == []
    found = checker(tmp_path / "a.png")
    assert isinstance(found, LocalFile) and found.content_type == "image/png"


def test_upload_hosts_follow_the_other_hosts_rules() -> None:
    emulator = resolve_target(has_key=False, env={"FAL_PLATFORM_EMULATOR_URL": "http://e:1/"})
    assert (emulator.rest_url, emulator.cdn_url) == ("http://e:1/rest", "http://e:1/cdn")
    real = resolve_target(has_key=True, env={"FAL_PLATFORM_CDN_URL": "https://cdn.example/"})
    assert (real.rest_url, real.cdn_url) == ("https://rest.fal.ai", "https://cdn.example")
    explicit = resolve_target(has_key=True, rest_url="https://r", env={})
    assert explicit.rest_url == "https://r"
    hosts = {"api_url": "http://q:9/v1", "queue_url": "http://q:9/", "run_url": "http://q:9/run"}
    keyless = resolve_target(has_key=False, env={}, **hosts)
    assert (keyless.rest_url, keyless.cdn_url) == ("http://q:9/rest", "http://q:9/cdn")


def test_a_csv_set_reports_missing_files_by_line(tmp_path: Path) -> None:
    (tmp_path / "here.png").write_bytes(png_bytes(2, 2, "00ff00"))
    path = tmp_path / "clips.csv"
    path.write_text(
        f"endpoint_id,prompt,image_url\n{VIDEO},pan,file:here.png\n{VIDEO},zoom,file:gone.png\n"
    )
    catalog = {VIDEO: EndpointInfo(VIDEO, "image-to-video", "active")}
    with pytest.raises(PromptSetError) as error:
        validate_prompt_set(read_prompt_set(path), catalog)
    assert [str(p) for p in error.value.problems] == [
        f"{path}:3: input.image_url: file not found: {tmp_path / 'gone.png'}"
    ]
