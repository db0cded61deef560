"""Prompt sets: parsing the three formats, every malformed case, catalog checks, discovery."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from fal_platform.batch.prompts import (
    PromptSet,
    PromptSetError,
    discover_prompt_sets,
    find_prompt_file,
    load_prompt_set,
    make_item_key,
    read_prompt_set,
    rejected_prompt_files,
    required_inputs,
    validate_prompt_set,
)
from fal_platform.catalog.lookup import CatalogNotLoadedError, EndpointInfo, load_endpoint_catalog

REPO = Path(__file__).resolve().parent.parent

CATALOG = {
    info.endpoint_id: info
    for info in (
        EndpointInfo("fal-ai/flux/dev", "text-to-image", "active"),
        EndpointInfo("fal-ai/flux/schnell", "text-to-image", "active"),
        EndpointInfo("fal-ai/kling-video/v2/master/text-to-video", "text-to-video", "active"),
        EndpointInfo("fal-ai/kling-video/v2/master/image-to-video", "image-to-video", "active"),
        EndpointInfo("fal-ai/kokoro/american-english", "text-to-speech", "active"),
        EndpointInfo("fal-ai/whisper", "speech-to-text", "active"),
        EndpointInfo("fal-ai/old-model", "text-to-image", "deprecated"),
        EndpointInfo("fal-ai/no-metadata", None, None),
    )
}


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, catalog: dict[str, EndpointInfo] | None = None) -> list[str]:
    with pytest.raises(PromptSetError) as caught:
        load_prompt_set(path, catalog)
    return [str(problem) for problem in caught.value.problems]


def jsonl(*objects: object) -> str:
    return "\n".join(o if isinstance(o, str) else json.dumps(o) for o in objects) + "\n"


GOOD = {"endpoint_id": "fal-ai/flux/dev", "input": {"prompt": "a red fox"}}


# --- the shipped examples ------------------------------------------------------------------


def test_example_prompt_sets_load_and_pass_catalog_checks() -> None:
    files = discover_prompt_sets(REPO / "prompts")
    names = {file.name for file in files}
    assert {"product-shots", "storyboard", "voiceovers", "transcripts"} <= names
    assert rejected_prompt_files(REPO / "prompts") == []
    endpoints: set[str] = set()
    for file in files:
        prompt_set = load_prompt_set(file.path, CATALOG)
        assert 6 <= len(prompt_set.items) <= 12, file.name
        assert prompt_set.content_hash == file.content_hash
        assert len({item.item_key for item in prompt_set.items}) == len(prompt_set.items)
        endpoints.update(prompt_set.endpoint_ids)
    assert {
        "fal-ai/flux/schnell",
        "fal-ai/flux/dev",
        "fal-ai/kling-video/v2/master/text-to-video",
        "fal-ai/kokoro/american-english",
        "fal-ai/whisper",
    } <= endpoints


# --- JSONL ---------------------------------------------------------------------------------


def test_jsonl_items_lines_replicas_and_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "shots.jsonl",
        jsonl(
            GOOD,
            "",
            {"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": "x", "n": 1}, "replicas": 3},
            # the same item again: it becomes replica 3 of the line above, not a duplicate key
            {"endpoint_id": "fal-ai/flux/schnell", "input": {"n": 1, "prompt": "x"}},
        ),
    )
    prompt_set = load_prompt_set(path)
    assert prompt_set.name == "shots"
    assert prompt_set.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [(i.line, i.replica, i.index) for i in prompt_set.items] == [
        (1, 0, 0),
        (3, 0, 1),
        (3, 1, 2),
        (3, 2, 3),
        (4, 3, 4),
    ]
    assert prompt_set.items[0].input == {"prompt": "a red fox"}
    assert len({item.item_key for item in prompt_set.items}) == 5
    # key order in the input does not change the key; the replica index does
    assert prompt_set.items[1].item_key == make_item_key(
        "fal-ai/flux/schnell", {"prompt": "x", "n": 1}, 0
    )
    assert prompt_set.items[4].item_key == make_item_key(
        "fal-ai/flux/schnell", {"n": 1, "prompt": "x"}, 3
    )
    assert prompt_set.endpoint_ids == ["fal-ai/flux/dev", "fal-ai/flux/schnell"]
    # stable across loads
    assert [i.item_key for i in load_prompt_set(path).items] == [
        i.item_key for i in prompt_set.items
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"endpoint_id": "fal-ai/flux/dev", "input": {"prompt": "x"}', "json: invalid JSON"),
        ("[1, 2]", "line: expected a JSON object, got array"),
        ('"just a string"', "line: expected a JSON object, got string"),
        ('{"input": {"prompt": "x"}}', "endpoint_id: missing or empty"),
        ('{"endpoint_id": "  ", "input": {"prompt": "x"}}', "endpoint_id: missing or empty"),
        ('{"endpoint_id": 7, "input": {}}', "endpoint_id: must be a string, got number"),
        (
            '{"endpoint_id": "flux dev", "input": {}}',
            "endpoint_id: 'flux dev' is not an endpoint id like 'fal-ai/flux/dev'",
        ),
        ('{"endpoint_id": "fal-ai/flux/dev"}', "input: missing: each line needs an input object"),
        (
            '{"endpoint_id": "fal-ai/flux/dev", "input": "a fox"}',
            "input: must be an object, got string",
        ),
        ('{"endpoint_id": "fal-ai/flux/dev", "input": [1]}', "input: must be an object, got array"),
        (
            '{"endpoint_id": "fal-ai/flux/dev", "input": {}, "replicas": 0}',
            "replicas: must be a whole number from 1 to 1000, got 0",
        ),
        (
            '{"endpoint_id": "fal-ai/flux/dev", "input": {}, "replicas": "2"}',
            "replicas: must be a whole number from 1 to 1000, got '2'",
        ),
        (
            '{"endpoint_id": "fal-ai/flux/dev", "input": {}, "replicas": true}',
            "replicas: must be a whole number from 1 to 1000, got True",
        ),
        (
            '{"endpoint_id": "fal-ai/flux/dev", "input": {}, "replica": 2}',
            "replica: unknown field (expected endpoint_id, input, replicas)",
        ),
        (
            '{"endpoint_id": "fal-ai/flux/dev", "input": {"x": NaN}}',
            "json: invalid JSON: NaN is not valid JSON",
        ),
    ],
)
def test_jsonl_malformed_line_reports_file_line_field(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = write(tmp_path, "bad.jsonl", jsonl(GOOD, body))
    problems = problems_of(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:2: {expected}")


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "many.jsonl",
        jsonl(
            GOOD, "{oops", GOOD, '{"input": {}}', '{"endpoint_id": "fal-ai/flux/dev", "input": 3}'
        ),
    )
    with pytest.raises(PromptSetError) as caught:
        load_prompt_set(path)
    assert [(p.file, p.line, p.field) for p in caught.value.problems] == [
        (str(path), 2, "json"),
        (str(path), 4, "endpoint_id"),
        (str(path), 5, "input"),
    ]
    text = str(caught.value)
    assert text.startswith("3 problems in prompt set:")
    assert f"{path}:4: endpoint_id: missing or empty" in text


@pytest.mark.parametrize(
    ("name", "text"), [("empty.jsonl", ""), ("blank.jsonl", "\n\n  \n"), ("empty.csv", "")]
)
def test_empty_file_is_refused(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path, name, text)
    assert problems_of(path) == [f"{path}:0: items: the prompt set is empty"]


# --- YAML ----------------------------------------------------------------------------------


def test_yaml_defaults_items_replicas(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "story.yaml",
        "endpoint_id: fal-ai/kling-video/v2/master/text-to-video\n"
        "replicas: 2\n"
        "defaults:\n"
        "  duration: '5'\n"
        "  aspect_ratio: '16:9'\n"
        "items:\n"
        "  - prompt: a lighthouse\n"
        "  - prompt: a storm\n"
        "    aspect_ratio: '9:16'\n",
    )
    prompt_set = load_prompt_set(path, CATALOG)
    assert [(i.line, i.replica) for i in prompt_set.items] == [(7, 0), (7, 1), (8, 0), (8, 1)]
    assert prompt_set.items[0].input == {
        "duration": "5",
        "aspect_ratio": "16:9",
        "prompt": "a lighthouse",
    }
    assert prompt_set.items[2].input["aspect_ratio"] == "9:16"  # the item wins over defaults


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", ":1: file: expected a mapping with endpoint_id and items, got array"),
        (
            "endpoint_id: fal-ai/flux/dev\nitems: a fox\n",
            ":2: items: must be a list of input objects, got string",
        ),
        (
            "endpoint_id: fal-ai/flux/dev\nitems:\n  - prompt: ok\n  - just text\n",
            ":4: items[1]: must be an object of inputs, got string",
        ),
        ("endpoint_id: fal-ai/flux/dev\nitems: []\n", ":2: items: is empty"),
        ("endpoint_id: fal-ai/flux/dev\n", ":1: items: missing: a list of input objects"),
        ("items:\n  - prompt: x\n", ":1: endpoint_id: missing or empty"),
        (
            "endpoint_id: fal-ai/flux/dev\ndefaults: 3\nitems:\n  - prompt: x\n",
            ":2: defaults: must be an object, got number",
        ),
        (
            "endpoint_id: fal-ai/flux/dev\nreplicas: -1\nitems:\n  - prompt: x\n",
            ":2: replicas: must be a whole number from 1 to 1000, got -1",
        ),
        (
            "endpoint_id: fal-ai/flux/dev\nitem:\n  - prompt: x\n",
            ":2: item: unknown field",
        ),
        ("endpoint_id: fal-ai/flux/dev\nitems:\n  - prompt: [unclosed\n", ":4: yaml: invalid YAML"),
        (
            "endpoint_id: fal-ai/flux/dev\nitems:\n  - prompt: x\n    when: 2024-01-01\n",
            ":3: items[0]: cannot be sent as JSON",
        ),
    ],
)
def test_yaml_malformed(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "story.yaml", text)
    problems = problems_of(path)
    assert any(problem.startswith(f"{path}{expected}") for problem in problems), problems


# --- CSV -----------------------------------------------------------------------------------


def test_csv_values_are_json_typed_and_empty_cells_omitted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "voices.csv",
        "\ufeffendpoint_id,prompt,voice,speed,opts,tags,flag,code,nothing\n"
        'fal-ai/kokoro/american-english,"Hello, world",af_heart,1.5,"{""a"": 1}","[1, 2]",true,007,null\n'
        "fal-ai/kokoro/american-english,Second line,,2,,,,,\n"
        "\n"
        'fal-ai/kokoro/american-english,"multi\nline prompt",am_michael,,,,,,\n',
    )
    prompt_set = load_prompt_set(path, CATALOG)
    first, second, third = prompt_set.items
    assert first.input == {
        "prompt": "Hello, world",
        "voice": "af_heart",
        "speed": 1.5,
        "opts": {"a": 1},
        "tags": [1, 2],
        "flag": True,
        "code": "007",
        "nothing": "null",
    }
    assert second.input == {"prompt": "Second line", "speed": 2}
    assert third.input == {"prompt": "multi\nline prompt", "voice": "am_michael"}
    assert [item.line for item in prompt_set.items] == [2, 3, 5]


def test_csv_bad_rows_and_header(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rows.csv",
        "endpoint_id,prompt\n"
        "fal-ai/flux/dev,ok\n"
        "fal-ai/flux/dev,too,many\n"
        ",no endpoint\n"
        "fal-ai/flux/dev\n",
    )
    assert problems_of(path) == [
        f"{path}:3: row: expected 2 columns (endpoint_id, prompt), found 3",
        f"{path}:4: endpoint_id: missing or empty",
        f"{path}:5: row: expected 2 columns (endpoint_id, prompt), found 1",
    ]
    no_column = write(tmp_path, "nocol.csv", "prompt,voice\nhello,af\n")
    assert problems_of(no_column) == [
        f"{no_column}:1: endpoint_id: missing column: the header needs an endpoint_id column"
    ]
    dupes = write(tmp_path, "dupes.csv", "endpoint_id,prompt,prompt\nfal-ai/flux/dev,a,b\n")
    assert problems_of(dupes) == [f"{dupes}:1: header: duplicate column 'prompt'"]


# --- file names, formats, discovery --------------------------------------------------------


@pytest.mark.parametrize("name", ["a,b.jsonl", "my set.jsonl", "v1.2.jsonl", "caf\u00e9.jsonl"])
def test_partition_key_with_bad_characters_is_refused(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, jsonl(GOOD))
    problems = problems_of(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:0: file name: partition key {path.stem!r}")
    assert "letters, digits, '-' and '_'" in problems[0]
    assert rejected_prompt_files(tmp_path)[0].file == str(path)
    assert discover_prompt_sets(tmp_path) == []


def test_valid_set_beside_bad_ones(tmp_path: Path) -> None:
    good = write(tmp_path, "good_set-1.jsonl", jsonl(GOOD))
    write(tmp_path, "bad.jsonl", "{not json\n")
    write(tmp_path, "empty.csv", "")
    write(tmp_path, "a,b.jsonl", jsonl(GOOD))
    write(tmp_path, "clash.jsonl", jsonl(GOOD))
    write(tmp_path, "clash.yaml", "endpoint_id: fal-ai/flux/dev\nitems: [{prompt: x}]\n")
    write(tmp_path, "README.md", "not a prompt set")
    write(tmp_path, ".hidden.jsonl", jsonl(GOOD))

    files = discover_prompt_sets(tmp_path)
    assert [file.name for file in files] == ["bad", "empty", "good_set-1"]
    refused = rejected_prompt_files(tmp_path)
    assert sorted(Path(problem.file).name for problem in refused) == [
        "a,b.jsonl",
        "clash.jsonl",
        "clash.yaml",
    ]
    assert "claimed by several files" in refused[-1].message
    # a partition's run finds its file the same way, without hashing the others
    assert [find_prompt_file(tmp_path, file.name) for file in files] == [f.path for f in files]
    for refused_or_missing in ("a,b", "clash", "README", ".hidden", "missing"):
        assert find_prompt_file(tmp_path, refused_or_missing) is None
    assert find_prompt_file(tmp_path / "missing", "good_set-1") is None

    prompt_set = load_prompt_set(good, CATALOG)
    assert isinstance(prompt_set, PromptSet)
    assert len(prompt_set.items) == 1
    with pytest.raises(PromptSetError):
        load_prompt_set(tmp_path / "bad.jsonl")


def test_discovery_hash_follows_content(tmp_path: Path) -> None:
    path = write(tmp_path, "set.jsonl", jsonl(GOOD))
    before = discover_prompt_sets(tmp_path)[0]
    assert before.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    write(tmp_path, "set.jsonl", jsonl(GOOD, GOOD))
    after = discover_prompt_sets(tmp_path)[0]
    assert after.content_hash != before.content_hash
    assert discover_prompt_sets(tmp_path / "missing") == []


def test_unsupported_format_and_unreadable_text(tmp_path: Path) -> None:
    path = write(tmp_path, "set.json", json.dumps(GOOD))
    assert problems_of(path) == [
        f"{path}:0: file name: unsupported format (use .jsonl, .yaml, .yml, .csv)"
    ]
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"endpoint_id,prompt\nfal-ai/flux/dev,caf\xe9\n")
    assert problems_of(latin) == [f"{latin}:2: encoding: not UTF-8 text"]
    assert problems_of(tmp_path / "absent.jsonl")[0].startswith(
        f"{tmp_path / 'absent.jsonl'}:0: file:"
    )


# --- catalog checks ------------------------------------------------------------------------


def test_catalog_checks_report_every_item(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "checks.jsonl",
        jsonl(
            GOOD,
            {"endpoint_id": "fal-ai/flux/devv", "input": {"prompt": "x"}},
            {"endpoint_id": "fal-ai/nope/nothing", "input": {"prompt": "x"}},
            {"endpoint_id": "fal-ai/old-model", "input": {"prompt": "x"}},
            {"endpoint_id": "fal-ai/flux/dev", "input": {"image_size": "square"}},
            {"endpoint_id": "fal-ai/flux/dev", "input": {"prompt": "  "}, "replicas": 3},
            {
                "endpoint_id": "fal-ai/kling-video/v2/master/image-to-video",
                "input": {"prompt": "go"},
            },
            {"endpoint_id": "fal-ai/whisper", "input": {"task": "transcribe"}},
            {"endpoint_id": "fal-ai/whisper", "input": {"audio_url": "https://a.example/x.mp3"}},
            {"endpoint_id": "fal-ai/no-metadata", "input": {}},
        ),
    )
    structurally_fine = load_prompt_set(path)
    with pytest.raises(PromptSetError) as caught:
        validate_prompt_set(structurally_fine, CATALOG)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:2: endpoint_id: unknown endpoint 'fal-ai/flux/devv': not in "
        "fal_catalog.models (did you mean 'fal-ai/flux/dev'?)",
        f"{path}:3: endpoint_id: unknown endpoint 'fal-ai/nope/nothing': not in fal_catalog.models",
        f"{path}:4: endpoint_id: endpoint 'fal-ai/old-model' is deprecated in the fal catalog; "
        "use its replacement",
        f"{path}:5: input.prompt: missing, required by text-to-image endpoint 'fal-ai/flux/dev'",
        f"{path}:6: input.prompt: must be a non-empty string for text-to-image endpoint "
        "'fal-ai/flux/dev', got '  '",
        f"{path}:7: input.image_url: missing, required by image-to-video endpoint "
        "'fal-ai/kling-video/v2/master/image-to-video'",
        f"{path}:8: input.audio_url: missing, required by speech-to-text endpoint 'fal-ai/whisper'",
    ]
    # loading with the catalog reports the same problems in one go
    assert len(problems_of(path, CATALOG)) == 7


UNKNOWN_NOBODY = "endpoint_id: unknown endpoint 'nobody/nothing': not in fal_catalog.models"


@pytest.mark.parametrize(
    ("file_name", "text", "expected"),
    [
        pytest.param(
            "mixed.jsonl",
            jsonl("{bad", {"endpoint_id": "x/y", "input": {}}),
            [
                (
                    1,
                    "json: invalid JSON: Expecting property name enclosed in double quotes "
                    "(column 2)",
                ),
                (2, "endpoint_id: unknown endpoint 'x/y': not in fal_catalog.models"),
            ],
            id="jsonl",
        ),
        pytest.param(
            "story.yaml",
            "endpoint_id: nobody/nothing\nitems:\n  - prompt: ok\n  - not an object\n",
            [(1, UNKNOWN_NOBODY), (4, "items[1]: must be an object of inputs, got string")],
            id="yaml",
        ),
        pytest.param(
            "rows.csv",
            "endpoint_id,prompt\n"
            "fal-ai/flux/dev,ok\n"
            "fal-ai/flux/dev,too,many\n"
            "nobody/nothing,x\n"
            "fal-ai/flux/dev,\n",
            [
                (3, "row: expected 2 columns (endpoint_id, prompt), found 3"),
                (4, UNKNOWN_NOBODY),
                (5, "input.prompt: missing, required by text-to-image endpoint 'fal-ai/flux/dev'"),
            ],
            id="csv",
        ),
    ],
)
def test_structural_and_catalog_problems_are_reported_together(
    tmp_path: Path, file_name: str, text: str, expected: list[tuple[int, str]]
) -> None:
    path = write(tmp_path, file_name, text)
    assert problems_of(path, CATALOG) == [f"{path}:{line}: {problem}" for line, problem in expected]


# Line 2 is not JSON, line 3 names an endpoint fal does not have, line 4's input is not an
# object, line 5 has both of the last two mistakes at once.
ONE_PASS_JSONL = jsonl(
    GOOD,
    '{"endpoint_id": "fal-ai/flux/dev", "input": {',
    {"endpoint_id": "nobody/nothing", "input": {"prompt": "x"}},
    {"endpoint_id": "fal-ai/flux/dev", "input": "not an object"},
    {"endpoint_id": "nobody/else", "input": 3},
)


def test_every_problem_of_every_line_is_reported_in_one_pass(tmp_path: Path) -> None:
    path = write(tmp_path, "three.jsonl", ONE_PASS_JSONL)
    expected = [
        (2, "json"),
        (3, "endpoint_id"),
        (4, "input"),
        (5, "input"),
        (5, "endpoint_id"),
    ]
    with pytest.raises(PromptSetError) as caught:
        load_prompt_set(path, CATALOG)
    assert [(p.line, p.field) for p in caught.value.problems] == expected
    assert f"{path}:3: endpoint_id: unknown endpoint 'nobody/nothing'" in str(caught.value)
    assert f"{path}:4: input: must be an object, got string" in str(caught.value)

    # The way run-batch and the asset go: read first, get the catalog for the endpoints the
    # file names (even on lines with other problems), then check everything at once.
    draft = read_prompt_set(path)
    assert draft.endpoint_ids == ["fal-ai/flux/dev", "nobody/nothing", "nobody/else"]
    with pytest.raises(PromptSetError) as again:
        validate_prompt_set(draft, CATALOG)
    assert [str(p) for p in again.value.problems] == [str(p) for p in caught.value.problems]

    # Without a catalog only what the file itself shows.
    assert [(p.line, p.field) for p in read_prompt_set(path).problems] == [
        (2, "json"),
        (4, "input"),
        (5, "input"),
    ]


def test_required_inputs_by_category() -> None:
    assert required_inputs("text-to-image") == ("prompt",)
    assert required_inputs("text-to-speech") == ("prompt",)
    assert required_inputs("image-to-video") == ("prompt", "image_url")
    assert required_inputs("speech-to-text") == ("audio_url",)
    assert required_inputs("training") == ()
    assert required_inputs(None) == ()


@pytest.mark.parametrize("file_name", ["cat.duckdb", "fal_catalog.duckdb"])
def test_load_endpoint_catalog_from_duckdb(tmp_path: Path, file_name: str) -> None:
    with duckdb.connect(str(tmp_path / file_name)) as conn:
        with pytest.raises(CatalogNotLoadedError, match="materialize the fal_catalog/models"):
            load_endpoint_catalog(conn)
        db = f'"{tmp_path.joinpath(file_name).stem}"'
        conn.execute(f"CREATE SCHEMA {db}.fal_catalog")
        conn.execute(
            f"CREATE TABLE {db}.fal_catalog.models (endpoint_id VARCHAR, category VARCHAR, "
            "status VARCHAR, display_name VARCHAR)"
        )
        conn.execute(
            f"INSERT INTO {db}.fal_catalog.models VALUES "
            "('fal-ai/flux/dev', 'text-to-image', 'active', 'FLUX'), "
            "('fal-ai/old', 'text-to-image', 'deprecated', 'Old'), "
            "('fal-ai/bare', NULL, NULL, NULL)"
        )
        catalog = load_endpoint_catalog(conn)
        assert catalog == {
            "fal-ai/flux/dev": EndpointInfo("fal-ai/flux/dev", "text-to-image", "active"),
            "fal-ai/old": EndpointInfo("fal-ai/old", "text-to-image", "deprecated"),
            "fal-ai/bare": EndpointInfo("fal-ai/bare", None, None),
        }
        # dlt creates no column for a field that was always NULL: still loads
        conn.execute(
            f"CREATE OR REPLACE TABLE {db}.fal_catalog.models AS SELECT 'a/b' AS endpoint_id"
        )
        assert load_endpoint_catalog(conn) == {"a/b": EndpointInfo("a/b", None, None)}
