"""Large prompt sets are read in one streaming pass: every bad line is still named, replicas are
still counted across the file, and a file edited after its check is refused.

The million-line version of these runs in the memory benchmark (benchmarks/memory.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fal_platform.batch.prompt_items import FileItems
from fal_platform.batch.prompts import (
    PromptSetError,
    make_item_key,
    read_prompt_set,
    validate_prompt_set,
)
from fal_platform.catalog.lookup import EndpointInfo

FLUX = "fal-ai/flux/schnell"
CATALOG = {FLUX: EndpointInfo(FLUX, "text-to-image", "active")}
LINES = 20_000


def _line(number: int) -> str:
    """Line `number` (1-based) of the big file: a defect of a different kind every 1000 lines."""
    if number % 1000 == 0:
        kind = (number // 1000) % 3
        if kind == 0:
            return '{"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": "cut'
        if kind == 1:
            return json.dumps({"endpoint_id": FLUX, "input": "not an object"})
        return json.dumps({"endpoint_id": FLUX, "input": {"seed": number}})
    return json.dumps({"endpoint_id": FLUX, "input": {"prompt": f"item {number % 7000}"}})


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.jsonl"
    path.write_text("".join(_line(n) + "\n" for n in range(1, LINES + 1)), encoding="utf-8")
    return path


def test_every_bad_line_of_a_large_file_is_named_at_once(big_file: Path) -> None:
    prompt_set = read_prompt_set(big_file)
    assert isinstance(prompt_set.items, FileItems)
    with pytest.raises(PromptSetError) as caught:
        validate_prompt_set(prompt_set, CATALOG)
    named = [(problem.line, problem.field) for problem in caught.value.problems]
    expected = {0: "json", 1: "input", 2: "input.prompt"}
    assert named == [(n, expected[(n // 1000) % 3]) for n in range(1000, LINES + 1, 1000)]


def test_items_are_read_again_with_replicas_counted_across_the_file(big_file: Path) -> None:
    items = list(read_prompt_set(big_file).items)
    broken = [n for n in range(1000, LINES + 1, 1000) if (n // 1000) % 3 != 2]
    assert len(items) == LINES - len(broken)  # a line without a prompt is still an item
    assert [item.index for item in items] == list(range(len(items)))
    # "item N" recurs every 7000 lines: its later copies are replicas 1, 2.
    copies = [item for item in items if item.input == {"prompt": "item 1"}]
    assert [(item.line, item.replica) for item in copies] == [(1, 0), (7001, 1), (14001, 2)]
    assert copies[2].item_key == make_item_key(FLUX, {"prompt": "item 1"}, 2)
    assert len({item.item_key for item in items}) == len(items)


def test_a_file_edited_after_its_check_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "edited.jsonl"
    path.write_text(json.dumps({"endpoint_id": FLUX, "input": {"prompt": "a"}}) + "\n")
    prompt_set = read_prompt_set(path)
    path.write_text(json.dumps({"endpoint_id": FLUX, "input": {"prompt": "b"}}) + "\n")
    with pytest.raises(PromptSetError, match="changed since it was checked"):
        list(prompt_set.items)
