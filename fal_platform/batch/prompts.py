"""Prompt sets: one file per set, one Dagster partition per file.

A prompt set is checked completely before anything is sent to fal, because every mistake found
after submission costs money. All problems are collected and reported together as
`file:line: field: message`, so one edit-and-retry cycle fixes them all.

The partition key is the file stem. `item_key` identifies an item across runs (same endpoint,
same input, same replica index -> same key), which is what lets a rerun reuse or re-attach to
earlier requests instead of paying for them twice.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fal_platform.batch.local_files import FileChecker, LocalFileFacts, item_file_problems
from fal_platform.batch.prompt_formats import (
    FILE_LEVEL,
    READERS,
    EndpointLines,
    Parsed,
    RawItem,
    iter_jsonl,
)
from fal_platform.batch.prompt_items import (
    FileItems,
    PromptItem,
    expand,
    input_digest,
    make_item_key,
    repeated_digests,
)
from fal_platform.batch.required_inputs import InputFacts, required_inputs
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
    "find_prompt_file",
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
class PromptSet:
    """A prompt file as read. `problems` are the ones found without the catalog; a set with
    problems is never run (`validate_prompt_set` raises them together with catalog problems).

    `items` of a JSONL file are produced again from the file when iterated (`FileItems`), so a
    large set costs a few bytes a line; what the catalog check needs was kept by the read:
    `endpoint_lines` (every well-formed endpoint id, also on lines with other problems) and
    `input_facts` and `local_files`. A set built in code has none: they are derived from its
    items."""

    name: str
    path: Path
    items: Sequence[PromptItem]
    content_hash: str
    problems: tuple[PromptProblem, ...] = ()
    endpoint_lines: EndpointLines = field(default_factory=dict)
    input_facts: InputFacts | None = None
    local_files: LocalFileFacts | None = None

    @property
    def endpoint_ids(self) -> list[str]:
        """Distinct endpoints in first-use order (for pricing and catalog look-ups)."""
        return list(self.referenced_endpoints())

    def referenced_endpoints(self) -> EndpointLines:
        """Where the file names each endpoint (a YAML file once, for all its items), lines with
        problems included."""
        if self.endpoint_lines:
            return self.endpoint_lines
        lines: EndpointLines = {}
        for item in self.items:
            lines.setdefault(item.endpoint_id, array("I")).append(item.line)
        return lines


@dataclass(frozen=True)
class PromptFile:
    """A prompt-set file seen by discovery: enough for the sensor, without parsing."""

    name: str
    path: Path
    content_hash: str


# --- keys and hashes -----------------------------------------------------------------------


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


def find_prompt_file(directory: Path | str, name: str) -> Path | None:
    """The usable file of partition `name` in `directory`, None without one. Unlike
    `discover_prompt_sets` it hashes no file: a partition's run reads only its own, however
    many (and however large) the other prompt sets are."""
    usable, _ = _scan(Path(directory))
    return next((path for path in usable if path.stem == name), None)


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

    A JSONL file is read in one streaming pass that keeps only line numbers, a few bits and
    an 8-byte digest per line (`prompt_items.py`); YAML and CSV sets are read whole.
    """
    path = Path(path)
    file = str(path)
    problems: list[PromptProblem] = []
    name_problem = partition_key_problem(path)
    if name_problem is not None:
        problems.append(name_problem)
    suffix = path.suffix.lower()
    if suffix not in READERS:
        formats = ", ".join(SUPPORTED_SUFFIXES)
        problems.append(
            PromptProblem(file, FILE_LEVEL, "file name", f"unsupported format (use {formats})")
        )
        raise PromptSetError(problems)
    scan = _scan_jsonl(path) if suffix == ".jsonl" else _scan_whole(path)
    if isinstance(scan, PromptProblem):
        raise PromptSetError([*problems, scan])  # no line to check: nothing more can be found
    parsed, items, facts, files, content_hash = scan
    problems.extend(
        PromptProblem(file, problem.line, problem.field, problem.message)
        for problem in parsed.problems
    )
    if not items and not parsed.problems:
        problems.append(PromptProblem(file, FILE_LEVEL, "items", "the prompt set is empty"))
    return PromptSet(
        path.stem,
        path,
        items,
        content_hash,
        tuple(problems),
        parsed.endpoints,
        facts,
        files,
    )


_Scan = tuple[Parsed, Sequence[PromptItem], InputFacts, LocalFileFacts, str]
"""What a read found: problems and endpoint lines, the items, their input and local-file
facts, the hash."""


class _NotText(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _numbered_lines(path: Path, hasher: hashlib._Hash) -> Iterator[tuple[int, str]]:
    """The file's lines, numbered from 1, split on "\n" only (JSON strings may hold U+2028)."""
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            hasher.update(data)
            try:
                yield number, data.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise _NotText(number) from None


def _scan_jsonl(path: Path) -> _Scan | PromptProblem:
    """One pass: every problem, and per line its endpoint, input facts and input digest."""
    parsed, facts, digests, count = Parsed(), InputFacts(), array("Q"), 0
    files = LocalFileFacts(path.parent)
    hasher = hashlib.sha256()
    try:
        for raw in iter_jsonl(_numbered_lines(path, hasher), parsed):
            facts.add(raw)
            files.add(raw.line, raw.input)
            digests.append(input_digest(raw.endpoint_id, canonical_json(raw.input)))
            count += raw.replicas
    except _NotText as exc:
        return PromptProblem(str(path), exc.line, "encoding", "not UTF-8 text")
    except OSError as exc:
        return PromptProblem(str(path), FILE_LEVEL, "file", f"cannot read: {exc.strerror}")
    content_hash = hasher.hexdigest()
    items = FileItems(path, count, repeated_digests(digests), _rereader(content_hash))
    return parsed, items, facts, files, content_hash


def _rereader(content_hash: str) -> Callable[[Path], Iterator[RawItem]]:
    """Reads a checked JSONL file's items again; refuses a file edited since it was checked."""

    def read(path: Path) -> Iterator[RawItem]:
        changed = PromptSetError(
            [PromptProblem(str(path), FILE_LEVEL, "file", "changed since it was checked; rerun")]
        )
        parsed, hasher = Parsed(), hashlib.sha256()
        try:
            yield from iter_jsonl(_numbered_lines(path, hasher), parsed)
        except (_NotText, OSError):
            raise changed from None
        if hasher.hexdigest() != content_hash:
            raise changed

    return read


def _scan_whole(path: Path) -> _Scan | PromptProblem:
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return PromptProblem(file, FILE_LEVEL, "file", f"cannot read: {exc.strerror}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return PromptProblem(file, line, "encoding", "not UTF-8 text")
    parsed = READERS[path.suffix.lower()](text)
    items = list(expand(parsed.items, None))
    files = LocalFileFacts(path.parent)
    for raw in parsed.items:
        files.add(raw.line, raw.input)
    facts = InputFacts.of(parsed.items)
    return parsed, items, facts, files, hashlib.sha256(data).hexdigest()


# --- catalog checks ------------------------------------------------------------------------


def check_prompt_set(
    prompt_set: PromptSet, catalog: Mapping[str, EndpointInfo]
) -> list[PromptProblem]:
    """Catalog problems, in line order: unknown or deprecated endpoints (on every line that
    names one, whatever else is wrong there) and missing required inputs."""
    file = str(prompt_set.path)
    problems: dict[tuple[int, str, str], PromptProblem] = {}

    def add(line: int, field: str, message: str) -> None:
        problems.setdefault((line, field, message), PromptProblem(file, line, field, message))

    for endpoint_id, lines in prompt_set.referenced_endpoints().items():
        info = catalog.get(endpoint_id)
        if info is None:
            message = _unknown_endpoint_message(endpoint_id, catalog)
        elif (info.status or "").strip().lower() == "deprecated":
            message = (
                f"endpoint {endpoint_id!r} is deprecated in the fal catalog; use its replacement"
            )
        else:
            continue
        for line in lines:
            add(line, "endpoint_id", message)
    facts = prompt_set.input_facts or InputFacts.of(prompt_set.items)
    categories = {endpoint_id: info.category for endpoint_id, info in catalog.items()}
    for line, endpoint_id, name, bad in facts.missing(categories):
        category = categories[endpoint_id]
        if bad is None:
            message = f"missing, required by {category} endpoint {endpoint_id!r}"
        else:
            message = (
                f"must be a non-empty string for {category} endpoint {endpoint_id!r}, got {bad}"
            )
        add(line, f"input.{name}", message)
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
    the rules are `local_files.py`'s; this names the file and line (as the read found them)."""
    file = str(prompt_set.path)
    if prompt_set.local_files is not None:
        found_then = (PromptProblem(file, *problem) for problem in prompt_set.local_files.problems)
        return list(dict.fromkeys(found_then))
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
