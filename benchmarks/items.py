"""The batch every client runs: one prompt-set file with a distinct input per item.

Distinct inputs matter: they make each emulator job (and each of our item keys) unique, so no
client can get an advantage from deduplication and the emulator's per-input counters stay exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENDPOINT_ID = "fal-ai/flux/schnell"


def item_input(tag: str, index: int) -> dict[str, Any]:
    return {"prompt": f"{tag} item {index}: a lighthouse at dusk, oil painting"}


def write_prompt_file(directory: Path, name: str, count: int, *, tag: str | None = None) -> Path:
    """`<directory>/<name>.jsonl` with `count` items (the file stem is the prompt-set name)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.jsonl"
    label = tag or name
    with path.open("w") as handle:
        for index in range(count):
            line = {"endpoint_id": ENDPOINT_ID, "input": item_input(label, index)}
            handle.write(json.dumps(line) + "\n")
    return path


def read_prompt_file(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(endpoint_id, input) per line: how the fal-client runs see the same batch."""
    with path.open() as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                yield record["endpoint_id"], record["input"]
