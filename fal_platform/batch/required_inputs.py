"""Inputs an endpoint cannot run without, and what a prompt file's lines have of them.

The catalog (which says an endpoint's category, hence its required inputs) is known only after
the file is read: it may come from fal's API for just the endpoints the file names. So the read
keeps, per line, a few bits instead of the input: which of the inputs some category requires
are there as non-empty strings (`InputFacts`). The check against the catalog then needs no
second read and no item in memory.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

_SPEECH_TO_TEXT = ("audio_url",)
_IMAGE_TO = ("prompt", "image_url")
_TEXT_TO = ("prompt",)
REQUIRABLE_INPUTS = tuple(dict.fromkeys((*_SPEECH_TO_TEXT, *_IMAGE_TO, *_TEXT_TO)))
"""Every input name `required_inputs` can return; one bit each in `InputFacts`."""


def required_inputs(category: str | None) -> tuple[str, ...]:
    """Inputs an endpoint of this category cannot run without; () when we cannot tell."""
    if not category:
        return ()
    category = category.strip().lower()
    if category == "speech-to-text":
        return _SPEECH_TO_TEXT
    if category.startswith("image-to-"):
        return _IMAGE_TO
    if category.startswith("text-to-"):
        return _TEXT_TO
    return ()


def _bit(name: str) -> int:
    return 1 << REQUIRABLE_INPUTS.index(name)


class _HasInput(Protocol):
    @property
    def line(self) -> int: ...
    @property
    def endpoint_id(self) -> str: ...
    @property
    def input(self) -> dict[str, Any]: ...


@dataclass
class InputFacts:
    """Per line, which requirable inputs are present as non-empty strings.

    Lines are grouped by (endpoint, bits), so a uniform file keeps 4 bytes a line; a value that
    is present but unusable keeps its repr for the message (rare: only broken lines)."""

    groups: dict[tuple[str, int], array[int]] = field(default_factory=dict)
    bad_values: dict[tuple[int, str], str] = field(default_factory=dict)

    def add(self, item: _HasInput) -> None:
        bits = 0
        for name in REQUIRABLE_INPUTS:
            if name not in item.input:
                continue
            value = item.input[name]
            if isinstance(value, str) and value.strip():
                bits |= _bit(name)
            else:
                self.bad_values[(item.line, name)] = repr(value)
        self.groups.setdefault((item.endpoint_id, bits), array("I")).append(item.line)

    @classmethod
    def of(cls, items: Iterable[_HasInput]) -> InputFacts:
        facts = cls()
        for item in items:
            facts.add(item)
        return facts

    def missing(
        self, categories: Mapping[str, str | None]
    ) -> Iterator[tuple[int, str, str, str | None]]:
        """(line, endpoint, input name, repr of the unusable value or None when absent) for
        every required input a line lacks, given each endpoint's category."""
        for (endpoint_id, bits), lines in self.groups.items():
            for name in required_inputs(categories.get(endpoint_id)):
                if bits & _bit(name):
                    continue
                for line in lines:
                    yield line, endpoint_id, name, self.bad_values.get((line, name))
