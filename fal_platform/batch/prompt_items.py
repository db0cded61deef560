"""A prompt set's items without holding them: keys, replicas, and a file read again on demand.

A million-line prompt set must not become a million objects. The file is read once to check
it (`prompts.read_prompt_set`), keeping per line only what that check needs; its items are then
produced again from the file, one at a time, whenever someone iterates them (`FileItems`). The
one thing an item needs from the rest of the file is its replica index (identical items anywhere
in the file count 0, 1, 2...): the first read keeps an 8-byte digest of each line's input, and
only inputs whose digest occurs more than once are counted exactly on later reads.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import pyarrow as pa
import pyarrow.compute as pc

from fal_platform.batch.prompt_formats import RawItem
from fal_platform.canonical_json import canonical_json


@dataclass(frozen=True)
class PromptItem:
    """One request to make. `replica` counts identical (endpoint, input) items: 0, 1, 2..."""

    endpoint_id: str
    input: dict[str, Any]
    replica: int
    line: int
    item_key: str
    index: int


def make_item_key(endpoint_id: str, item_input: Mapping[str, Any], replica: int) -> str:
    return _item_key(endpoint_id, canonical_json(item_input), replica)


def _item_key(endpoint_id: str, canonical: str, replica: int) -> str:
    text = f"{endpoint_id}\n{canonical}\n{replica}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def input_digest(endpoint_id: str, canonical: str) -> int:
    """8 bytes standing for (endpoint, input): equal inputs, equal digests (collisions only
    make an input be counted exactly, never wrongly)."""
    digest = hashlib.blake2b(f"{endpoint_id}\n{canonical}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def repeated_digests(digests: array[int]) -> frozenset[int]:
    """The digests that occur more than once (Arrow's hash count, no Python object per line)."""
    if not digests:
        return frozenset()
    values = pa.Array.from_buffers(pa.uint64(), len(digests), [None, pa.py_buffer(digests)])
    counts = pc.value_counts(values)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
    found = frozenset(repeated.to_pylist())
    del values, counts, repeated
    pa.default_memory_pool().release_unused()  # else the hash table's pages stay with Arrow
    return found


def expand(raw_items: Iterable[RawItem], repeated: frozenset[int] | None) -> Iterator[PromptItem]:
    """Replicas become separate items; identical items anywhere in the file get the next index.

    `repeated` (from `repeated_digests`) names the inputs that may occur on several lines; only
    those are counted. None counts every input (for items already in memory)."""
    seen: dict[tuple[str, str], int] = {}
    index = 0
    for raw in raw_items:
        canonical = canonical_json(raw.input)
        counted = repeated is None or input_digest(raw.endpoint_id, canonical) in repeated
        first = seen.get((raw.endpoint_id, canonical), 0) if counted else 0
        if counted:
            seen[(raw.endpoint_id, canonical)] = first + raw.replicas
        for replica in range(first, first + raw.replicas):
            yield PromptItem(
                endpoint_id=raw.endpoint_id,
                input=raw.input if replica == first else copy.deepcopy(raw.input),
                replica=replica,
                line=raw.line,
                item_key=_item_key(raw.endpoint_id, canonical, replica),
                index=index,
            )
            index += 1


class StreamedItems(Sequence[PromptItem]):
    """Items produced anew on each iteration (subclasses say how); indexing walks them."""

    @overload
    def __getitem__(self, index: int) -> PromptItem: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PromptItem]: ...

    def __getitem__(self, index: int | slice) -> PromptItem | Sequence[PromptItem]:
        return nth(self, index)


class FileItems(StreamedItems):
    """The items of a checked prompt file, produced again from the file on each iteration.

    `read` yields the file's raw items and raises `PromptSetError` when the file no longer reads
    as it did when it was checked (edited meanwhile). Indexing walks the file (`nth`).
    """

    def __init__(
        self,
        path: Path,
        count: int,
        repeated: frozenset[int],
        read: Callable[[Path], Iterator[RawItem]],
    ) -> None:
        self._path = path
        self._count = count
        self._repeated = repeated
        self._read = read

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[PromptItem]:
        return expand(self._read(self._path), self._repeated)


class MappedItems(StreamedItems):
    """Another set's items passed through `transform` on each iteration (e.g. `file:` inputs
    replaced by their uploads' URLs, `uploads.py`), so a transformed set is not held either."""

    def __init__(
        self,
        base: Sequence[PromptItem],
        transform: Callable[[Iterable[PromptItem]], Iterator[PromptItem]],
    ) -> None:
        self._base = base
        self._transform = transform

    def __len__(self) -> int:
        return len(self._base)

    def __iter__(self) -> Iterator[PromptItem]:
        return self._transform(self._base)


def nth(items: Sequence[PromptItem], index: int | slice) -> PromptItem | Sequence[PromptItem]:
    """Indexing by walking: fine for the small sets tests index into; the engine only iterates."""
    if isinstance(index, slice):
        return list(items)[index]
    count = len(items)
    position = index + count if index < 0 else index
    if not 0 <= position < count:
        raise IndexError(index)
    return next(itertools.islice(iter(items), position, None))
