"""Prompt sets: one file per set, one Dagster partition per file.

A prompt set is checked completely before anything is sent to fal, because every mistake found
after submission costs money. All problems are collected and reported together as
`file:line: field: message`, so one edit-and-retry cycle fixes them all.

The partition key is the file stem. `item_key` identifies an item across runs (same endpoint,
same input, same replica index -> same key), which is what lets a rerun reuse or re-attach to
earlier requests instead of paying for them twice.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fal_platform.batch.local_files import FileChecker, item_file_problems
from fal_platform.batch.prompt_formats import FILE_LEVEL, READERS, EndpointRef, Parsed
from fal_platform.canonical_json import canonical_json
from fal_platform.catalog.lookup import EndpointInfo
from fal_platform.catalog.names import MODELS_SQL_NAME

__all__ = [
    "PromptFile",
    "PromptItem",
    "PromptProblem",
    "PromptSet",
    "PromptSetError",
    "check_prompt_set",
    "discover_prompt_sets",
    "load_prompt_set",
    "make_item_key",
    "read_prompt_set",
    "rejected_prompt_files",
    "required_inputs",
    "validate_prompt_set",
]

SUPPORTED_SUFFIXES = tuple(READERS)
PARTITION_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class PromptProblem:
    """One mistake in a prompt set. `line` 0 means the file as a whole."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class PromptSetError(ValueError):
    """A prompt set that must not be run; `problems` lists every mistake found."""

    def __init__(self, problems: Iterable[PromptProblem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in prompt set:\n{lines}")


@dataclass(frozen=True)
class PromptItem:
    """One request to make. `replica` counts identical (endpoint, input) items: 0, 1, 2..."""

    endpoint_id: str
    input: dict[str, Any]
    replica: int
    line: int
    item_key: str
    index: int


@dataclass(frozen=True)
class PromptSet:
    """A prompt file as read. `problems` are the ones found without the catalog; a set with
    problems is never run (`validate_prompt_set` raises them together with catalog problems).
    `endpoint_refs` names every well-formed endpoint id, also on lines with other problems."""

    name: str
    path: Path
    items: list[PromptItem]
    content_hash: str
    problems: tuple[PromptProblem, ...] = ()
    endpoint_refs: tuple[EndpointRef, ...] = ()

    @property
    def endpoint_ids(self) -> list[str]:
        """Distinct endpoints in first-use order (for pricing and catalog look-ups)."""
        return list(dict.fromkeys(ref.endpoint_id for ref in self.referenced_endpoints()))

    def referenced_endpoints(self) -> list[EndpointRef]:
        """Where the file names each endpoint (a YAML file once, for all its items), lines with
        problems included; from the items for a set built in code without `endpoint_refs`."""
        if self.endpoint_refs:
            return list(self.endpoint_refs)
        return [EndpointRef(item.line, item.endpoint_id) for item in self.items]


@dataclass(frozen=True)
class PromptFile:
    """A prompt-set file seen by discovery: enough for the sensor, without parsing."""

    name: str
    path: Path
    content_hash: str


# --- keys and hashes -----------------------------------------------------------------------


def make_item_key(endpoint_id: str, item_input: Mapping[str, Any], replica: int) -> str:
    text = f"{endpoint_id}\n{canonical_json(item_input)}\n{replica}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def partition_key_problem(path: Path) -> PromptProblem | None:
    """Why a file's stem cannot be a partition key, or None when it can."""
    stem = path.stem
    if PARTITION_KEY_PATTERN.match(stem):
        return None
    bad = "".join(dict.fromkeys(ch for ch in stem if not re.match(r"[A-Za-z0-9_-]", ch)))
    shown = " ".join(repr(ch) for ch in bad) if bad else "nothing"
    return PromptProblem(
        str(path),
        FILE_LEVEL,
        "file name",
        f"partition key {stem!r} may only contain letters, digits, '-' and '_' "
        f"(found {shown}); rename the file",
    )


# --- discovery -----------------------------------------------------------------------------


def _candidate_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if path.is_file()
        and not path.name.startswith((".", "~"))
        and path.suffix.lower() in SUPPORTED_SUFFIXES
    )


def _scan(directory: Path) -> tuple[list[Path], list[PromptProblem]]:
    """Split candidate files into usable ones and ones refused for their name."""
    files = _candidate_files(directory)
    refused: list[PromptProblem] = []
    by_stem: dict[str, list[Path]] = {}
    for path in files:
        problem = partition_key_problem(path)
        if problem is not None:
            refused.append(problem)
        else:
            by_stem.setdefault(path.stem, []).append(path)
    usable: list[Path] = []
    for stem, claimants in by_stem.items():
        if len(claimants) == 1:
            usable.append(claimants[0])
            continue
        names = ", ".join(path.name for path in claimants)
        refused.extend(
            PromptProblem(
                str(path),
                FILE_LEVEL,
                "file name",
                f"partition key {stem!r} is claimed by several files ({names}); keep one",
            )
            for path in claimants
        )
    return sorted(usable), refused


def discover_prompt_sets(directory: Path | str) -> list[PromptFile]:
    """Usable prompt-set files in `directory` (callers pass `PlatformPaths.prompts` or their own).

    Files whose name cannot be a partition key are left out here and reported by
    `rejected_prompt_files`, so one badly named file never hides the others.
    """
    usable, _ = _scan(Path(directory))
    return [PromptFile(path.stem, path, _sha256_file(path)) for path in usable]


def rejected_prompt_files(directory: Path | str) -> list[PromptProblem]:
    """Why some prompt-set files in `directory` are not offered as partitions."""
    _, refused = _scan(Path(directory))
    return refused


# --- loading -------------------------------------------------------------------------------


def load_prompt_set(
    path: Path | str, catalog: Mapping[str, EndpointInfo] | None = None
) -> PromptSet:
    """Parse and check one prompt set; raise `PromptSetError` listing every problem.

    With `catalog`, endpoint and required-input checks run too, and their problems are reported
    together with the structural ones.
    """
    prompt_set = read_prompt_set(path)
    if catalog is not None:
        validate_prompt_set(prompt_set, catalog)
    elif prompt_set.problems:
        raise PromptSetError(prompt_set.problems)
    return prompt_set


def read_prompt_set(path: Path | str) -> PromptSet:
    """Parse one prompt set and keep the problems of its lines instead of raising them.

    For callers that get the catalog only after reading the file (it may come from fal's API,
    for just the endpoints the file names): they pass the result to `validate_prompt_set`,
    which reports the file's problems and the catalog's in one go. Never run a set that has
    not been through `validate_prompt_set`. Raises `PromptSetError` only when the file cannot
    be read as text at all (format, permissions, encoding).
    """
    path = Path(path)
    file = str(path)
    problems: list[PromptProblem] = []
    name_problem = partition_key_problem(path)
    if name_problem is not None:
        problems.append(name_problem)
    text, data = _read_text(path, problems)
    if text is None:
        raise PromptSetError(problems)  # no line to check: nothing more can be found
    parsed = READERS[path.suffix.lower()](text)
    problems.extend(
        PromptProblem(file, problem.line, problem.field, problem.message)
        for problem in parsed.problems
    )
    if not parsed.items and not parsed.problems:
        problems.append(PromptProblem(file, FILE_LEVEL, "items", "the prompt set is empty"))
    return PromptSet(
        path.stem,
        path,
        _expand(parsed),
        hashlib.sha256(data).hexdigest(),
        tuple(problems),
        tuple(parsed.endpoints),
    )


def _read_text(path: Path, problems: list[PromptProblem]) -> tuple[str | None, bytes]:
    """The file's text, or None with the reason added to `problems`."""
    file = str(path)
    if path.suffix.lower() not in READERS:
        formats = ", ".join(SUPPORTED_SUFFIXES)
        problems.append(
            PromptProblem(file, FILE_LEVEL, "file name", f"unsupported format (use {formats})")
        )
        return None, b""
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.append(PromptProblem(file, FILE_LEVEL, "file", f"cannot read: {exc.strerror}"))
        return None, b""
    try:
        return data.decode("utf-8-sig"), data
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(PromptProblem(file, line, "encoding", "not UTF-8 text"))
        return None, data


def _expand(parsed: Parsed) -> list[PromptItem]:
    """Replicas become separate items; identical items anywhere in the file get the next index."""
    items: list[PromptItem] = []
    seen: dict[tuple[str, str], int] = {}
    for raw in parsed.items:
        canonical = canonical_json(raw.input)
        for _ in range(raw.replicas):
            replica = seen.get((raw.endpoint_id, canonical), 0)
            seen[(raw.endpoint_id, canonical)] = replica + 1
            items.append(
                PromptItem(
                    endpoint_id=raw.endpoint_id,
                    input=copy.deepcopy(raw.input),
                    replica=replica,
                    line=raw.line,
                    item_key=make_item_key(raw.endpoint_id, raw.input, replica),
                    index=len(items),
                )
            )
    return items


# --- catalog checks ------------------------------------------------------------------------


def required_inputs(category: str | None) -> tuple[str, ...]:
    """Inputs an endpoint of this category cannot run without; () when we cannot tell."""
    if not category:
        return ()
    category = category.strip().lower()
    if category == "speech-to-text":
        return ("audio_url",)
    if category.startswith("image-to-"):
        return ("prompt", "image_url")
    if category.startswith("text-to-"):
        return ("prompt",)
    return ()


def check_prompt_set(
    prompt_set: PromptSet, catalog: Mapping[str, EndpointInfo]
) -> list[PromptProblem]:
    """Catalog problems, in line order: unknown or deprecated endpoints (on every line that
    names one, whatever else is wrong there) and missing required inputs."""
    file = str(prompt_set.path)
    problems: dict[tuple[int, str, str], PromptProblem] = {}

    def add(line: int, field: str, message: str) -> None:
        problems.setdefault((line, field, message), PromptProblem(file, line, field, message))

    for ref in prompt_set.referenced_endpoints():
        info = catalog.get(ref.endpoint_id)
        if info is None:
            add(ref.line, "endpoint_id", _unknown_endpoint_message(ref.endpoint_id, catalog))
        elif (info.status or "").strip().lower() == "deprecated":
            add(
                ref.line,
                "endpoint_id",
                f"endpoint {ref.endpoint_id!r} is deprecated in the fal catalog; "
                "use its replacement",
            )
    for item in prompt_set.items:
        info = catalog.get(item.endpoint_id)
        category = info.category if info is not None else None
        for name in required_inputs(category):
            value = item.input.get(name)
            if name not in item.input:
                message = f"missing, required by {category} endpoint {item.endpoint_id!r}"
            elif not isinstance(value, str) or not value.strip():
                message = (
                    f"must be a non-empty string for {category} endpoint "
                    f"{item.endpoint_id!r}, got {value!r}"
                )
            else:
                continue
            add(item.line, f"input.{name}", message)
    return _in_line_order(problems.values())


def _in_line_order(problems: Iterable[PromptProblem]) -> list[PromptProblem]:
    """Stable: on one line, the order the checks found them in."""
    return sorted(problems, key=lambda problem: problem.line)


def _unknown_endpoint_message(endpoint_id: str, catalog: Mapping[str, EndpointInfo]) -> str:
    message = f"unknown endpoint {endpoint_id!r}: not in {MODELS_SQL_NAME}"
    close = difflib.get_close_matches(endpoint_id, list(catalog), n=1, cutoff=0.8)
    return f"{message} (did you mean {close[0]!r}?)" if close else message


def local_file_problems(prompt_set: PromptSet) -> list[PromptProblem]:
    """`file:` inputs that cannot be uploaded (missing, a directory, unreadable, too large):
    the rules are `local_files.py`'s; this names the file and line."""
    checker = FileChecker()
    found = (
        PromptProblem(str(prompt_set.path), item.line, field, message)
        for item in prompt_set.items
        for field, message in item_file_problems(item.input, prompt_set.path.parent, checker)
    )
    return list(dict.fromkeys(found))


def validate_prompt_set(prompt_set: PromptSet, catalog: Mapping[str, EndpointInfo]) -> None:
    """Raise `PromptSetError` with every problem of the file (its own and the catalog's, in line
    order) unless every item can be sent to a live catalog endpoint."""
    problems = _in_line_order(
        [
            *prompt_set.problems,
            *check_prompt_set(prompt_set, catalog),
            *local_file_problems(prompt_set),
        ]
    )
    if problems:
        raise PromptSetError(problems)
