"""Readers for the three prompt-set file formats (JSONL, YAML, CSV).

Each reader turns file text into raw items plus every structural problem it can find, so the
user sees all mistakes in one go instead of fixing them one run at a time. Readers know
nothing about file names, replicas expansion or the catalog: `prompts.py` adds those.
"""

from __future__ import annotations

import csv
import io
import json
import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

FILE_LEVEL = 0
"""Line number used for problems that concern the whole file rather than one line."""

MAX_REPLICAS = 1000
"""A guard against a typo (`replicas: 10000`) silently turning into a large bill."""

_ENDPOINT_ID = re.compile(r"^[^\s/]+(?:/[^\s/]+)+$")
_JSONL_FIELDS = ("endpoint_id", "input", "replicas")
_YAML_FIELDS = ("endpoint_id", "defaults", "items", "replicas")


@dataclass(frozen=True)
class RawItem:
    """One source item before replicas are expanded."""

    line: int
    endpoint_id: str
    input: dict[str, Any]
    replicas: int


@dataclass(frozen=True)
class LineProblem:
    line: int
    field: str
    message: str


EndpointLines = dict[str, "array[int]"]
"""Each well-formed endpoint id and the lines naming it, kept even when a line has other
problems, so every endpoint is checked against the catalog in the same pass (4 bytes a line)."""


@dataclass
class Parsed:
    items: list[RawItem] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)
    endpoints: EndpointLines = field(default_factory=dict)

    def problem(self, line: int, field_name: str, message: str) -> None:
        self.problems.append(LineProblem(line, field_name, message))

    def endpoint(self, line: int, endpoint_id: str) -> None:
        self.endpoints.setdefault(endpoint_id, array("I")).append(line)


def json_type(value: object) -> str:
    """The JSON name of a value's type, for messages a user can act on."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def check_endpoint_id(value: object, line: int, parsed: Parsed) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        parsed.problem(line, "endpoint_id", "missing or empty")
        return None
    if not isinstance(value, str):
        parsed.problem(line, "endpoint_id", f"must be a string, got {json_type(value)}")
        return None
    if not _ENDPOINT_ID.match(value):
        parsed.problem(
            line, "endpoint_id", f"{value!r} is not an endpoint id like 'fal-ai/flux/dev'"
        )
        return None
    parsed.endpoint(line, value)
    return value


def check_replicas(value: object, line: int, parsed: Parsed) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPLICAS:
        parsed.problem(
            line, "replicas", f"must be a whole number from 1 to {MAX_REPLICAS}, got {value!r}"
        )
        return None
    return value


def check_input(value: object, line: int, parsed: Parsed, field_name: str) -> dict[str, Any] | None:
    """An input must be an object that can be sent as JSON exactly as written.

    The one check every format runs on one line's input (JSONL and YAML items): the place for
    further per-input checks."""
    if not isinstance(value, dict):
        parsed.problem(line, field_name, f"must be an object, got {json_type(value)}")
        return None
    bad_keys = [key for key in value if not isinstance(key, str)]
    if bad_keys:
        parsed.problem(line, field_name, f"input names must be strings, got {bad_keys[0]!r}")
        return None
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        parsed.problem(line, field_name, f"cannot be sent as JSON: {exc}")
        return None
    return value


# --- JSONL ---------------------------------------------------------------------------------


def read_jsonl(text: str) -> Parsed:
    parsed = Parsed()
    # split("\n") rather than splitlines(): JSON strings may legally hold U+2028 and friends.
    parsed.items.extend(iter_jsonl(enumerate(text.split("\n"), start=1), parsed))
    return parsed


def iter_jsonl(lines: Iterable[tuple[int, str]], parsed: Parsed) -> Iterator[RawItem]:
    """The items of numbered JSONL lines, one at a time; problems and endpoints go to `parsed`.

    Streaming, so a million-line file is checked without holding its items (`prompts.py`)."""
    for number, raw in lines:
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            parsed.problem(number, "json", f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except ValueError as exc:
            parsed.problem(number, "json", f"invalid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            parsed.problem(number, "line", f"expected a JSON object, got {json_type(obj)}")
            continue
        for key in obj:
            if key not in _JSONL_FIELDS:
                parsed.problem(number, key, f"unknown field (expected {', '.join(_JSONL_FIELDS)})")
        endpoint_id = check_endpoint_id(obj.get("endpoint_id"), number, parsed)
        if "input" in obj:
            item_input = check_input(obj["input"], number, parsed, "input")
        else:
            parsed.problem(number, "input", "missing: each line needs an input object")
            item_input = None
        replicas = check_replicas(obj.get("replicas", 1), number, parsed)
        if endpoint_id is not None and item_input is not None and replicas is not None:
            yield RawItem(number, endpoint_id, item_input, replicas)


# --- YAML ----------------------------------------------------------------------------------


def _node_line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 1


def _load_yaml(text: str, parsed: Parsed) -> tuple[yaml.Node | None, Any]:
    """The document's root node (for line numbers) and its value; (None, None) when unreadable."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else FILE_LEVEL
        problem = getattr(exc, "problem", None) or str(exc)
        parsed.problem(line, "yaml", f"invalid YAML: {problem}")
        return None, None
    finally:
        loader.dispose()
    return root, data


def _value_nodes(root: yaml.MappingNode, parsed: Parsed) -> dict[str, yaml.Node]:
    """Each top-level key's value node, reporting the keys the format does not know."""
    nodes: dict[str, yaml.Node] = {}
    for key_node, value_node in root.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
        nodes[key] = value_node
        if key not in _YAML_FIELDS:
            parsed.problem(
                _node_line(key_node), key, f"unknown field (expected {', '.join(_YAML_FIELDS)})"
            )
    return nodes


def read_yaml(text: str) -> Parsed:
    parsed = Parsed()
    root, data = _load_yaml(text, parsed)
    if root is None:
        return parsed  # unreadable, or an empty document: the caller reports the empty set
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        parsed.problem(
            _node_line(root),
            "file",
            f"expected a mapping with endpoint_id and items, got {json_type(data)}",
        )
        return parsed
    nodes = _value_nodes(root, parsed)

    def line_of(key: str) -> int:
        return _node_line(nodes[key]) if key in nodes else 1

    endpoint_id = check_endpoint_id(data.get("endpoint_id"), line_of("endpoint_id"), parsed)
    replicas = check_replicas(data.get("replicas", 1), line_of("replicas"), parsed)
    defaults = check_input(data.get("defaults", {}), line_of("defaults"), parsed, "defaults")
    if "items" not in data:
        parsed.problem(1, "items", "missing: a list of input objects")
        return parsed
    _read_yaml_items(data["items"], nodes["items"], parsed, endpoint_id, replicas, defaults)
    return parsed


def _read_yaml_items(
    items: Any,
    items_node: yaml.Node,
    parsed: Parsed,
    endpoint_id: str | None,
    replicas: int | None,
    defaults: dict[str, Any] | None,
) -> None:
    """Each item merged over `defaults`; items are kept only when the header checked clean."""
    if not isinstance(items, list) or not isinstance(items_node, yaml.SequenceNode):
        parsed.problem(
            _node_line(items_node),
            "items",
            f"must be a list of input objects, got {json_type(items)}",
        )
        return
    if not items:
        parsed.problem(_node_line(items_node), "items", "is empty: add at least one input object")
        return
    for position, (item, item_node) in enumerate(zip(items, items_node.value, strict=True)):
        line = _node_line(item_node)
        label = f"items[{position}]"
        if not isinstance(item, dict):
            parsed.problem(line, label, f"must be an object of inputs, got {json_type(item)}")
            continue
        merged = check_input({**(defaults or {}), **item}, line, parsed, label)
        if (
            merged is not None
            and endpoint_id is not None
            and replicas is not None
            and defaults is not None
        ):
            parsed.items.append(RawItem(line, endpoint_id, merged, replicas))


# --- CSV -----------------------------------------------------------------------------------


def decode_cell(cell: str) -> Any:
    """JSON-typed where the cell parses (numbers, booleans, objects, arrays), else the text.

    `null` stays the string "null": an input meant to be absent is written as an empty cell.
    """
    text = cell.strip()
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return text
    return text if value is None else value


def read_csv(text: str) -> Parsed:
    parsed = Parsed()
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    previous_line = 0
    try:
        for row in reader:
            line, previous_line = previous_line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                if not _check_header(header, line, parsed):
                    return parsed
                continue
            if len(row) != len(header):
                parsed.problem(
                    line,
                    "row",
                    f"expected {len(header)} columns ({', '.join(header)}), found {len(row)}",
                )
                continue
            cells = dict(zip(header, row, strict=True))
            endpoint_id = check_endpoint_id(cells.pop("endpoint_id").strip(), line, parsed)
            item_input = {name: decode_cell(cell) for name, cell in cells.items() if cell.strip()}
            if endpoint_id is not None:
                parsed.items.append(RawItem(line, endpoint_id, item_input, 1))
    except csv.Error as exc:
        parsed.problem(reader.line_num, "csv", f"unreadable CSV: {exc}")
    return parsed


def _check_header(header: list[str], line: int, parsed: Parsed) -> bool:
    ok = True
    seen: set[str] = set()
    for number, name in enumerate(header, start=1):
        if not name:
            parsed.problem(line, "header", f"column {number} has no name")
            ok = False
        elif name in seen:
            parsed.problem(line, "header", f"duplicate column {name!r}")
            ok = False
        seen.add(name)
    if "endpoint_id" not in seen:
        parsed.problem(
            line, "endpoint_id", "missing column: the header needs an endpoint_id column"
        )
        ok = False
    return ok


READERS: dict[str, Callable[[str], Parsed]] = {
    ".jsonl": read_jsonl,
    ".yaml": read_yaml,
    ".yml": read_yaml,
    ".csv": read_csv,
}
