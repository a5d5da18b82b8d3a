"""The declarative mapping language (shared.mapping): every node kind, the built-ins, caching,
and one exact one-line message for each kind of invalid file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import mapping
from shared.errors import ConfigError, PermanentError
from shared.mapping import Mapping, MappingError, load_mapping

SETTING = "CRM_MAPPING_FILE"
BIG_ID = 11751623441268736  # above 2**53: a float cannot hold it

DOCUMENT: dict[str, Any] = {
    "event": {"type": "conversation_push", "org_id": 5000883, "key": "k" * 64},
    "conversation": {
        "id": 3275727977,
        "status": "closed",
        "updated_at": "2021-09-21T16:08:10.684Z",
        "tags": ["pricing", "demo"],
    },
    "contact": {"id": BIG_ID, "email": "gregg@example.com", "company": None, "phone": None},
    "participants": [
        {"id": 2322756, "name": "Agent", "email": "agent@example.com"},
        {"id": 5028476, "name": "A Simon", "email": None},
    ],
    "transcript": "line one\nline two",
    "messages": None,
}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    mapping.clear_cache()
    yield
    mapping.clear_cache()


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], str]:
    """Write a mapping file and return its path (as the setting would hold it)."""
    counter = iter(range(1000))

    def _write(text: str) -> str:
        path = tmp_path / f"mapping{next(counter)}.yaml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return _write


def load(write: Callable[[str], str], text: str) -> Mapping:
    return load_mapping(write(text), "conversation", SETTING)


def render(write: Callable[[str], str], body: str, document: Any = DOCUMENT) -> Any:
    return load(write, "version: 1\nbody:\n" + body).render(document)


def config_error(path: str | None, kind: str = "conversation") -> str:
    with pytest.raises(ConfigError) as caught:
        load_mapping(path, kind, SETTING)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- features -------------------------------------------------------------------------------------


def test_expr_selects_from_the_document_and_keeps_types(write):
    # GIVEN expressions for a string, a big integer, a list and a projection
    body = render(
        write,
        """
  email: {expr: "contact.email"}
  contact_id: {expr: "contact.id"}
  tags: {expr: "conversation.tags"}
  ids: {expr: "participants[].id"}
  first_participant: {expr: "participants[0]"}
  everything: {expr: "@"}
""",
    )
    # THEN each value comes out with its JSON type, the big id exactly
    assert body["email"] == "gregg@example.com"
    assert body["contact_id"] == BIG_ID
    assert type(body["contact_id"]) is int
    assert json.loads(json.dumps(body))["contact_id"] == BIG_ID
    assert body["tags"] == ["pricing", "demo"]
    assert body["ids"] == [2322756, 5028476]
    assert body["first_participant"]["name"] == "Agent"
    assert body["everything"] == DOCUMENT


def test_functions_build_strings(write):
    body = render(
        write,
        """
  subject: {expr: "join('', ['Drift conversation ', to_string(conversation.id)])"}
  contact_id: {expr: "to_string(contact.id)"}
""",
    )
    assert body == {"subject": "Drift conversation 3275727977", "contact_id": str(BIG_ID)}


def test_const_takes_any_yaml_value(write):
    body = render(
        write,
        """
  source: {const: "drift"}
  number: {const: 42}
  big: {const: 11751623441268736}
  flag: {const: false}
  nothing: {const: null}
  list: {const: [1, "two", {three: 3}]}
  object: {const: {expr: "not an expression", nested: [true]}}
  text_that_looks_like_an_expression: {const: "contact.email"}
""",
    )
    assert body == {
        "source": "drift",
        "number": 42,
        "big": BIG_ID,
        "flag": False,
        "nothing": None,
        "list": [1, "two", {"three": 3}],
        "object": {"expr": "not an expression", "nested": [True]},
        "text_that_looks_like_an_expression": "contact.email",
    }


def test_bare_scalars_are_constants_and_strings_stay_literal(write):
    body = render(
        write,
        """
  source: drift
  path_like: contact.email
  number: 7
  ratio: 0.5
  flag: true
  nothing: null
""",
    )
    assert body == {
        "source": "drift",
        "path_like": "contact.email",
        "number": 7,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
    }


def test_default_applies_when_the_expression_yields_null_or_nothing(write):
    body = render(
        write,
        """
  company: {expr: "contact.company", default: "Unknown"}
  missing: {expr: "contact.no_such_field", default: "n/a"}
  present: {expr: "contact.email", default: "unused"}
  owner_email: {expr: "participants[1].email", default: null}
  structured: {expr: "contact.phone", default: {kind: none}}
  false_is_a_value: {expr: "`false`", default: true}
  empty_string_is_a_value: {expr: "''", default: "x"}
""",
    )
    assert body == {
        "company": "Unknown",
        "missing": "n/a",
        "present": "gregg@example.com",
        "owner_email": None,
        "structured": {"kind": "none"},
        "false_is_a_value": False,
        "empty_string_is_a_value": "",
    }


def test_omit_if_null_drops_the_key_or_list_item(write):
    body = render(
        write,
        """
  phone: {expr: "contact.phone", omit_if_null: true}
  email: {expr: "contact.email", omit_if_null: true}
  kept_null: {expr: "contact.phone"}
  explicit_false: {expr: "contact.phone", omit_if_null: false}
  with_default: {expr: "contact.phone", default: "none", omit_if_null: true}
  items:
    - {expr: "contact.phone", omit_if_null: true}
    - {expr: "contact.email", omit_if_null: true}
""",
    )
    assert body == {
        "email": "gregg@example.com",
        "kept_null": None,
        "explicit_false": None,
        "with_default": "none",
        "items": ["gregg@example.com"],
    }


def test_nested_objects_and_lists_render_recursively(write):
    body = render(
        write,
        """
  note:
    subject: {expr: "join('', ['Drift conversation ', to_string(conversation.id)])"}
    meta:
      source: drift
      status: {expr: "conversation.status"}
  items:
    - {const: 1}
    - {expr: "conversation.id"}
    - plain
    - [nested, {expr: "event.type"}]
    - who: {expr: "participants[0].name"}
  empty_object: {}
  empty_list: []
  "key with spaces": {expr: "event.org_id"}
""",
    )
    assert body == {
        "note": {
            "subject": "Drift conversation 3275727977",
            "meta": {"source": "drift", "status": "closed"},
        },
        "items": [1, 3275727977, "plain", ["nested", "conversation_push"], {"who": "Agent"}],
        "empty_object": {},
        "empty_list": [],
        "key with spaces": 5000883,
    }


def test_the_body_can_be_a_single_expression_or_a_list(write):
    assert render(write, '  {expr: "conversation.tags"}') == ["pricing", "demo"]
    assert render(write, '  - {expr: "event.type"}\n  - drift') == ["conversation_push", "drift"]
    assert render(write, "  just text") == "just text"


def test_renders_are_independent_of_each_other(write):
    # GIVEN a constant object WHEN a caller mutates one rendered body THEN the next is intact
    loaded = load(
        write,
        "version: 1\nbody:\n  meta: {const: {a: [1]}}\n  default_obj:\n"
        '    {expr: "contact.phone", default: {b: 2}}\n',
    )
    first = loaded.render(DOCUMENT)
    first["meta"]["a"].append(2)
    first["default_obj"]["b"] = 3
    assert loaded.render(DOCUMENT) == {"meta": {"a": [1]}, "default_obj": {"b": 2}}


def test_method_override(write):
    assert load(write, "version: 1\nmethod: PUT\nbody: {}\n").method == "PUT"
    assert load(write, "version: 1\nmethod: patch\nbody: {}\n").method == "PATCH"
    assert load(write, "version: 1\nbody: {}\n").method is None


def test_name_is_the_file_path_or_the_builtin(write):
    path = write("version: 1\nbody: {}\n")
    assert load_mapping(path, "conversation", SETTING).name == path
    assert load_mapping(None, "conversation", SETTING).name == "builtin:conversation"
    assert load_mapping("", "gdpr", SETTING).name == "builtin:gdpr"


def test_builtin_conversation_mapping_is_the_generic_body():
    builtin = load_mapping(None, "conversation", SETTING)
    body = builtin.render(DOCUMENT)
    assert builtin.method is None
    assert body == {
        "type": "conversation_push",
        "org_id": 5000883,
        "event": DOCUMENT["event"],
        "conversation": DOCUMENT["conversation"],
        "contact": DOCUMENT["contact"],
        "participants": DOCUMENT["participants"],
        "transcript": "line one\nline two",
    }
    assert "messages" not in body  # omitted when not gathered
    messages = [{"id": 1, "body": "<p>hi</p>"}]
    assert builtin.render({**DOCUMENT, "messages": messages})["messages"] == messages


def test_builtin_gdpr_mapping_names_the_contact():
    builtin = load_mapping("", "gdpr", "CRM_GDPR_MAPPING_FILE")
    document = {
        "event": {"type": "gdpr_delete_requested", "org_id": 5000883, "key": "k" * 64},
        "contact": {"email": "gregg@example.com", "id": BIG_ID},
    }
    assert builtin.render(document) == {
        "action": "delete_contact",
        "type": "gdpr_delete_requested",
        "org_id": 5000883,
        "contact": {"email": "gregg@example.com", "drift_contact_id": BIG_ID},
        "requested_by": "drift_gdpr_delete_requested",
    }
    only_id = {**document, "contact": {"email": None, "id": BIG_ID}}
    assert builtin.render(only_id)["contact"] == {"email": None, "drift_contact_id": BIG_ID}


def test_builtins_live_inside_the_shared_package():
    # The deploy bundle zips shared/, so the built-in files must sit in it.
    package = Path(mapping.__file__).parent
    for kind in ("conversation", "gdpr"):
        assert (package / "mappings" / f"builtin_{kind}.yaml").is_file()


def test_a_mapping_is_compiled_once_per_path_and_kind(write, monkeypatch):
    path = write("version: 1\nbody: {source: drift}\n")
    calls = []
    real_compile = mapping.jmespath.compile
    monkeypatch.setattr(mapping.jmespath, "compile", lambda s: calls.append(s) or real_compile(s))

    first = load_mapping(path, "conversation", SETTING)
    assert load_mapping(path, "conversation", "OTHER_SETTING") is first
    assert load_mapping(path, "gdpr", SETTING) is not first
    builtin = load_mapping(None, "conversation", SETTING)
    assert load_mapping("", "conversation", SETTING) is builtin
    compiled_so_far = len(calls)
    load_mapping(None, "conversation", SETTING)
    assert len(calls) == compiled_so_far

    # Editing the file changes nothing until the cache is cleared.
    Path(path).write_text("version: 1\nbody: {source: other}\n", encoding="utf-8")
    assert load_mapping(path, "conversation", SETTING).render({}) == {"source": "drift"}
    mapping.clear_cache()
    assert load_mapping(path, "conversation", SETTING).render({}) == {"source": "other"}


def test_a_failed_load_is_not_cached(write):
    path = write("version: 2\nbody: {}\n")
    config_error(path)
    Path(path).write_text("version: 1\nbody: {}\n", encoding="utf-8")
    assert load_mapping(path, "conversation", SETTING).render({}) == {}


def test_path_like_objects_are_accepted(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\nbody: {a: 1}\n", encoding="utf-8")
    assert load_mapping(path, "conversation", SETTING).render({}) == {"a": 1}


# -- render-time errors ---------------------------------------------------------------------------


def test_a_render_time_type_error_is_a_permanent_mapping_error_naming_the_field(write):
    # GIVEN an expression that only fails when the contact id is a number
    path = write(
        "version: 1\nbody:\n  note:\n    subject: {expr: \"join(' ', [transcript, contact.id])\"}\n"
    )
    loaded = load_mapping(path, "conversation", SETTING)
    # WHEN it renders THEN a PermanentError names the mapping, the field and the function
    with pytest.raises(MappingError) as caught:
        loaded.render(DOCUMENT)
    assert isinstance(caught.value, PermanentError)
    assert caught.value.reason == (
        f"mapping {path}: body.note.subject: join() expected array-string, "
        "got an array holding a number "
        "(expression \"join(' ', [transcript, contact.id])\")"
    )
    # AND the offending value (possibly personal data or the transcript) is not quoted
    assert "line one" not in caught.value.reason
    # AND a record where the types fit renders fine
    other = {**DOCUMENT, "contact": {"id": "abc"}}
    assert loaded.render(other) == {"note": {"subject": "line one\nline two abc"}}


def test_a_render_time_error_in_a_list_names_the_index(write):
    path = write('version: 1\nbody:\n  items:\n    - 1\n    - {expr: "abs(contact.email)"}\n')
    with pytest.raises(MappingError) as caught:
        load_mapping(path, "conversation", SETTING).render(DOCUMENT)
    assert caught.value.reason == (
        f"mapping {path}: body.items[1]: abs() expected number, got string "
        "(expression 'abs(contact.email)')"
    )
    assert "gregg" not in caught.value.reason


# -- invalid files: one exact line each -----------------------------------------------------------


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.yaml")
    assert config_error(path) == f"CRM_MAPPING_FILE: {path}: file not found"


def test_a_directory_is_not_a_file(tmp_path):
    expected = f"CRM_MAPPING_FILE: {tmp_path}: is a directory, not a file"
    assert config_error(str(tmp_path)) == expected


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\nbody: {name: caf\xe9}\n".encode("latin-1"))
    assert config_error(str(path)) == f"CRM_MAPPING_FILE: {path}: not UTF-8 text"


def test_invalid_yaml(write):
    path = write("version: 1\nbody:\n  email: {expr: contact.email\n  name: x\n")
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: not valid YAML: line 4, column 7: "
        "expected ',' or '}', but got ':'"
    )


def test_duplicate_keys_are_refused(write):
    path = write('version: 1\nbody:\n  email: {expr: "contact.email"}\n  email: x\n')
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: not valid YAML: line 4, column 3: duplicate key 'email'"
    )


def test_top_level_a_list(write):
    path = write("- version: 1\n- body: {}\n")
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: the top level must be a mapping with version and body, "
        "got a list"
    )


def test_empty_file(write):
    path = write("# nothing here\n")
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: the top level must be a mapping with version and body, "
        "got an empty file"
    )


def test_missing_version(write):
    path = write("body: {}\n")
    assert config_error(path) == f"CRM_MAPPING_FILE: {path}: version: required (write version: 1)"


@pytest.mark.parametrize("version", ["2", "'1'", "true", "1.0"])
def test_wrong_version(write, version):
    path = write(f"version: {version}\nbody: {{}}\n")
    shown = {"2": "2", "'1'": "'1'", "true": "True", "1.0": "1.0"}[version]
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: version: unsupported version {shown} (this bridge reads 1)"
    )


def test_missing_body(write):
    path = write("version: 1\nmethod: POST\n")
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body: required (the shape of the JSON sent to the CRM)"
    )


def test_unknown_top_level_key(write):
    path = write("version: 1\nbody: {}\nheaders: {X: 1}\n")
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: headers: unknown top-level key (allowed: version, method, body)"
    )


def test_bad_method(write):
    path = write("version: 1\nmethod: GET\nbody: {}\n")
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: method: must be one of POST, PUT, PATCH, DELETE, got 'GET'"
    )


def test_unknown_node_key(write):
    path = write('version: 1\nbody:\n  contact:\n    email: {expr: "contact.email", defualt: x}\n')
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.contact.email: unknown node key 'defualt' "
        "(allowed: expr, const, default, omit_if_null)"
    )


def test_expr_and_const_together(write):
    path = write('version: 1\nbody:\n  source: {expr: "event.type", const: drift}\n')
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.source: a node has either expr or const, not both"
    )


def test_invalid_jmespath_names_the_field(write):
    path = write(
        "version: 1\nbody:\n  note:\n    subject: {expr: \"join('', ['Drift ', conversation.])\"}\n"
    )
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.note.subject: invalid JMESPath expression "
        "\"join('', ['Drift ', conversation.])\": Expecting: ['quoted_identifier', "
        "'unquoted_identifier', 'lbracket', 'lbrace'], got: rbracket at column 34"
    )


def test_invalid_jmespath_in_a_list_names_the_index(write):
    path = write('version: 1\nbody:\n  items:\n    - {const: 1}\n    - {expr: "conversation.id["}')
    message = config_error(path)
    assert message.startswith(
        f"CRM_MAPPING_FILE: {path}: body.items[1]: invalid JMESPath expression 'conversation.id[': "
    )


def test_invalid_jmespath_literal(write):
    path = write('version: 1\nbody:\n  x: {expr: "`\\"abc`"}\n')
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.x: invalid JMESPath expression '`\"abc`': "
        'Bad token "abc at column 1'
    )


def test_deprecated_non_json_literal_is_refused(write):
    # JMESPath still reads `text` as a string but has deprecated it (JEP-12).
    path = write('version: 1\nbody:\n  x: {expr: "`drift`"}\n  y: {expr: "`\\"drift\\"`"}\n')
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.x: invalid JMESPath expression '`drift`': "
        "a `literal` must be JSON (write `\"text\"` or 'text' for a string)"
    )


def test_lexer_error(write):
    path = write('version: 1\nbody:\n  x: {expr: "contact ^ email"}\n')
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.x: invalid JMESPath expression 'contact ^ email': "
        "Unknown token ^ at column 9"
    )


def test_unknown_function_is_caught_at_load(write):
    path = write('version: 1\nbody:\n  x: {expr: "upper(contact.email)"}\n')
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.x: invalid JMESPath expression 'upper(contact.email)': "
        "unknown function upper() (see https://jmespath.org/specification.html and "
        "the text functions in examples/recipes/README.md)"
    )


def test_the_text_functions_work_in_a_mapping(write):
    # GIVEN a mapping that uses the text functions JMESPath lacks
    body = render(
        write,
        '  html: {expr: "text_to_html(transcript)"}\n'
        "  day: {expr: \"format_datetime(conversation.updated_at, '%Y-%m-%d')\"}\n"
        "  short: {expr: \"truncate(transcript, `6`, '~')\"}\n"
        "  dashed: {expr: \"replace(transcript, ' ', '-')\"}\n",
    )
    # THEN each renders from the document
    assert body == {
        "html": "line one<br>line two",
        "day": "2021-09-21",
        "short": "line ~",
        "dashed": "line-one\nline-two",
    }


def test_a_text_function_failure_names_the_field_not_the_value(write):
    # GIVEN a date format applied to text that is not a timestamp
    loaded = load(
        write, "version: 1\nbody:\n  day: {expr: \"format_datetime(contact.email, '%Y')\"}\n"
    )
    # WHEN it renders THEN a permanent error names the field and the function, not the email
    with pytest.raises(MappingError) as caught:
        loaded.render(DOCUMENT)
    assert "body.day: format_datetime() was given text that is not an ISO 8601 timestamp" in (
        caught.value.reason
    )
    assert "gregg@example.com" not in caught.value.reason


def test_wrong_arity_is_caught_at_load(write):
    path = write('version: 1\nbody:\n  x: {expr: "join(\', \')"}\n  y: {expr: "merge()"}\n')
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.x: invalid JMESPath expression \"join(', ')\": "
        "join() takes 2 argument(s), got 1"
    )
    path = write('version: 1\nbody:\n  y: {expr: "merge()"}\n')
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.y: invalid JMESPath expression 'merge()': "
        "merge() takes at least 1 argument(s), got 0"
    )


def test_default_without_expr(write):
    for node in ("{const: x, default: Unknown}", "{default: Unknown}"):
        path = write(f"version: 1\nbody:\n  company: {node}\n")
        expected = f"CRM_MAPPING_FILE: {path}: body.company: default used without expr"
        assert config_error(path) == expected


def test_omit_if_null_without_expr(write):
    path = write("version: 1\nbody:\n  a: {omit_if_null: true}\n")
    assert config_error(path) == f"CRM_MAPPING_FILE: {path}: body.a: omit_if_null used without expr"


def test_omit_if_null_must_be_a_boolean(write):
    path = write('version: 1\nbody:\n  a: {expr: "x", omit_if_null: "yes"}\n')
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.a: omit_if_null must be true or false, got 'yes'"
    )


def test_omit_if_null_on_the_body_itself(write):
    path = write('version: 1\nbody: {expr: "contact", omit_if_null: true}\n')
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body: omit_if_null cannot apply to the body itself"
    )


@pytest.mark.parametrize(
    ("expr", "got"), [("42", "a number"), ("[a, b]", "a list"), ("''", "an empty string")]
)
def test_non_string_expr(write, expr, got):
    path = write(f"version: 1\nbody:\n  a:\n    b: {{expr: {expr}}}\n")
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.a.b: expr must be a non-empty string, got {got}"
    )


def test_non_string_object_key(write):
    path = write("version: 1\nbody:\n  note:\n    1: one\n")
    assert config_error(path) == (
        f'CRM_MAPPING_FILE: {path}: body.note["1"]: object keys must be strings, got a number '
        "(quote the key)"
    )


def test_yaml_values_that_are_not_json(write):
    path = write("version: 1\nbody:\n  day: 2021-09-21\n")
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.day: a date is not a JSON value "
        "(quote it to make a string)"
    )
    path = write('version: 1\nbody:\n  x: {expr: "a", default: .nan}\n')
    assert config_error(path) == f"CRM_MAPPING_FILE: {path}: body.x: nan is not a JSON number"
    path = write("version: 1\nbody:\n  x: {const: {list: [1, 2021-09-21]}}\n")
    assert config_error(path) == (
        f"CRM_MAPPING_FILE: {path}: body.x.list[1]: a date is not a JSON value "
        "(quote it to make a string)"
    )


def test_keys_that_are_not_identifiers_are_quoted_in_the_path(write):
    path = write('version: 1\nbody:\n  "first name": {expr: "x y"}\n')
    assert config_error(path).startswith(
        f'CRM_MAPPING_FILE: {path}: body["first name"]: invalid JMESPath expression'
    )


def test_the_first_problem_is_reported(write):
    path = write('version: 1\nbody:\n  a: {expr: "ok"}\n  b: {expr: "bad["}\n  c: {expr: "("}\n')
    assert config_error(path).startswith(f"CRM_MAPPING_FILE: {path}: body.b: ")


def test_the_setting_name_leads_the_message(tmp_path):
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError) as caught:
        load_mapping(path, "gdpr", "CRM_GDPR_MAPPING_FILE")
    assert str(caught.value) == f"CRM_GDPR_MAPPING_FILE: {path}: file not found"
