"""Every kind of invalid recipe file stops the worker with one line naming the setting, the file
and the field: ``CRM_RECIPE: path.yaml: conversation.steps[1].url: ...``."""

# ruff: noqa: E501 - the expected messages are whole lines
from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.errors import ConfigError
from shared.recipes import builtin_names, load_recipe

STEP = "    - {name: send, method: POST, url: /x}\n"
OK = "version: 1\nconversation:\n  steps:\n" + STEP


def problem(write: Callable[[str], str], text: str) -> str:
    """The message for ``text``, with the path replaced by FILE."""
    path = write(text)
    with pytest.raises(ConfigError) as caught:
        load_recipe(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"CRM_RECIPE: {path}")
    return message.replace(path, "FILE")


def test_a_valid_file_loads(write):
    assert load_recipe(write(OK)).event("conversation") is not None


def test_every_builtin_loads():
    assert {"webhook", "hubspot", "salesforce", "pipedrive"} <= set(builtin_names())
    for name in builtin_names():
        assert load_recipe(name).name == name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the file as a whole
        (
            "",
            "CRM_RECIPE: FILE: the top level must be a mapping with version and conversation or gdpr, got an empty file",
        ),
        (
            "- 1\n",
            "CRM_RECIPE: FILE: the top level must be a mapping with version and conversation or gdpr, got a list",
        ),
        (
            "version: [\n",
            "CRM_RECIPE: FILE: not valid YAML: line 2, column 1: expected the node content, but found '<stream end>'",
        ),
        (
            "version: 1\nversion: 1\n",
            "CRM_RECIPE: FILE: not valid YAML: line 2, column 1: duplicate key 'version'",
        ),
        ("conversation: {}\n", "CRM_RECIPE: FILE: version: required (write version: 1)"),
        ("version: 2\n", "CRM_RECIPE: FILE: version: unsupported version 2 (this bridge reads 1)"),
        ("version: 1\n", "CRM_RECIPE: FILE: a recipe needs conversation, gdpr, or both"),
        (
            "version: 1\nstepz: []\n" + "conversation:\n  steps:\n" + STEP,
            "CRM_RECIPE: FILE: stepz: unknown key (allowed: auth, base_url, conversation, description, gdpr, headers, outcomes, signature, vars, version)",
        ),
        (
            "version: 1\nbase_url: api.example.com\n" + OK[11:],
            "CRM_RECIPE: FILE: base_url: must be an absolute http(s) URL, got 'api.example.com'",
        ),
        (
            "version: 1\nvars: {Api: 1}\n" + OK[11:],
            "CRM_RECIPE: FILE: vars.Api: a name is lower-case letters, digits and _ (a letter first)",
        ),
        (
            "version: 1\nvars: {day: 2021-09-21}\n" + OK[11:],
            "CRM_RECIPE: FILE: vars.day: a date is not a JSON value (quote it to make a string)",
        ),
        (
            "version: 1\nheaders: {expr: x}\n" + OK[11:],
            "CRM_RECIPE: FILE: headers: must be a mapping of names to values, got an expression node",
        ),
        # events and steps
        (
            "version: 1\nconversation: []\n",
            "CRM_RECIPE: FILE: conversation: must be a mapping, got a list",
        ),
        ("version: 1\nconversation: {}\n", "CRM_RECIPE: FILE: conversation.steps: required"),
        (
            "version: 1\nconversation:\n  steps: []\n",
            "CRM_RECIPE: FILE: conversation.steps: must not be empty",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {method: POST, url: /x}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].name: required",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: Send, method: POST, url: /x}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].name: a step name is lower-case letters, digits and _ (a letter first)",
        ),
        (
            "version: 1\nconversation:\n  steps:\n" + STEP + STEP,
            "CRM_RECIPE: FILE: conversation.steps[1].name: another step is already named 'send'",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: /x, urll: /y}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].urll: unknown key (allowed: description, form, headers, json, mapping, method, name, outcomes, query, recover, save, url, when)",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: a, url: /x}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].method: required (GET, POST, PUT, PATCH, DELETE)",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: a, method: FETCH, url: /x}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].method: must be one of GET, POST, PUT, PATCH, DELETE, got 'FETCH'",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: a, method: POST}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].url: required (a path such as /crm/v3/objects/notes/{saved.note_id})",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: api/x}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].url: must start with / (a path after the API base), http(s):// or {+...} (for a URL that an expression gives whole, write {expr: ...})",
        ),
        (
            'version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: "/x/{contact.}"}\n',
            "CRM_RECIPE: FILE: conversation.steps[0].url: invalid JMESPath expression 'contact.': Expecting: ['quoted_identifier', 'unquoted_identifier', 'lbracket', 'lbrace'], got: eof at column 9",
        ),
        (
            'version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: "/x/{a}}"}\n',
            "CRM_RECIPE: FILE: conversation.steps[0].url: unmatched '}' in the URL (write }} for a brace)",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: 42}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].url: must be text or {expr: ...}, got a number",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: /x, json: {a: 1}, form: {a: 1}}\n",
            "CRM_RECIPE: FILE: conversation.steps[0]: a step's body is one of json, form or mapping",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: /x, form: [1]}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].form: must be a mapping of names to values, got a list",
        ),
        (
            'version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: /x, query: {q: {expr: "upper(x)"}}}\n',
            "CRM_RECIPE: FILE: conversation.steps[0].query.q: invalid JMESPath expression 'upper(x)': unknown function upper() (see https://jmespath.org/specification.html and the text functions in examples/recipes/README.md)",
        ),
        (
            'version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: /x, json: {n: {expr: "truncate(transcript, `5`)"}}}\n',
            "CRM_RECIPE: FILE: conversation.steps[0].json.n: invalid JMESPath expression 'truncate(transcript, `5`)': truncate() takes 3 argument(s), got 2",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: /x, mapping: body}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].mapping: must be one of 'conversation' or 'gdpr', got 'body'",
        ),
        (
            'version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: /x, when: "!contact.email"}\n',
            "CRM_RECIPE: FILE: conversation.steps[0].when: invalid JMESPath expression '!contact.email': ! applies to the first name only (JMESPath reads !a.b as (!a).b): write !(a.b)",
        ),
        # save, when, remember, references
        (
            'version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: /x, save: {Id: "response.body.id"}}\n',
            "CRM_RECIPE: FILE: conversation.steps[0].save.Id: a saved name is lower-case letters, digits and _ (a letter first)",
        ),
        (
            'version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: /x, save: {id: "response.body."}}\n',
            "CRM_RECIPE: FILE: conversation.steps[0].save.id: invalid JMESPath expression 'response.body.': Expecting: ['quoted_identifier', 'unquoted_identifier', 'lbracket', 'lbrace'], got: eof at column 15",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: /x, when: 3}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].when: a condition is an expression or {expr, reason}, got a number",
        ),
        (
            "version: 1\nconversation:\n  when: {expr: contact.email, why: x}\n  steps:\n" + STEP,
            "CRM_RECIPE: FILE: conversation.when: unknown key 'why' in a condition (allowed: expr, reason)",
        ),
        (
            "version: 1\nconversation:\n  when: []\n  steps:\n" + STEP,
            "CRM_RECIPE: FILE: conversation.when: an empty list of conditions (leave when out instead)",
        ),
        (
            'version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: "/x/{saved.id}"}\n',
            "CRM_RECIPE: FILE: conversation.steps[0].url: saved.id is not saved by an earlier step (known: none)",
        ),
        (
            'version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: /x, save: {contact_id: r}}\n    - {name: b, method: POST, url: "/n/{saved.contactid}"}\n',
            "CRM_RECIPE: FILE: conversation.steps[1].url: saved.contactid is not saved by an earlier step (known: contact_id)",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: /x, json: {n: {expr: memory.note}}}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].json.n: memory.note is not remembered by this event kind (remember:) (known: none)",
        ),
        (
            'version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: "/{vars.api}/x"}\n',
            "CRM_RECIPE: FILE: conversation.steps[0].url: vars.api is not declared in vars (known: none)",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - {name: a, method: POST, url: {expr: settings.crm_api_token}}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].url: settings.crm_api_token is not a setting a recipe can read (known: crm_base_url, crm_endpoint_url, crm_gdpr_method, crm_gdpr_url, crm_oauth_client_id, crm_recipe, gdpr_action)",
        ),
        # recover
        (
            "version: 1\nconversation:\n  steps:\n    - name: a\n      method: POST\n      url: /x\n      save: {id: response.body.id}\n      recover: {method: GET, url: /x}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].recover.save: required: what the recovery finds (the step's saved values)",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - name: a\n      method: POST\n      url: /x\n      save: {id: response.body.id, at: response.body.at}\n      recover: {method: GET, url: /x, save: {id: response.body.id}}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].recover.save: must save what the step saves (missing: at)",
        ),
        (
            "version: 1\nconversation:\n  steps:\n    - name: a\n      method: POST\n      url: /x\n      recover: {method: GET, url: /x, save: {id: r}, when: x}\n",
            "CRM_RECIPE: FILE: conversation.steps[0].recover.when: unknown key (allowed: form, found, headers, json, method, outcomes, query, save, url)",
        ),
        # outcome rules
        (
            "version: 1\noutcomes:\n  - {status: 429}\n" + OK[11:],
            "CRM_RECIPE: FILE: outcomes[0].outcome: required",
        ),
        (
            "version: 1\noutcomes:\n  - {status: 429, outcome: retry}\n" + OK[11:],
            "CRM_RECIPE: FILE: outcomes[0].outcome: must be one of 'success', 'transient', 'permanent' or 'renew_token', got 'retry'",
        ),
        (
            "version: 1\noutcomes:\n  - {outcome: transient}\n" + OK[11:],
            "CRM_RECIPE: FILE: outcomes[0]: a rule needs status, when, or both",
        ),
        (
            "version: 1\noutcomes:\n  - {status: 99, outcome: transient}\n" + OK[11:],
            'CRM_RECIPE: FILE: outcomes[0].status: a status is 100-599, a class like "4xx" or a range like "500-599", got 99',
        ),
        (
            'version: 1\noutcomes:\n  - {status: "6xx", outcome: transient}\n' + OK[11:],
            'CRM_RECIPE: FILE: outcomes[0].status: a status is 100-599, a class like "4xx" or a range like "500-599", got \'6xx\'',
        ),
        (
            "version: 1\noutcomes:\n  - {status: 429, outcome: transient, backoff: -1}\n" + OK[11:],
            "CRM_RECIPE: FILE: outcomes[0].backoff: input should be greater than or equal to 0",
        ),
        (
            'version: 1\nconversation:\n  steps:\n    - name: a\n      method: POST\n      url: /x\n      outcomes:\n        - {when: "response.body.[", outcome: permanent}\n',
            "CRM_RECIPE: FILE: conversation.steps[0].outcomes[0].when: invalid JMESPath expression 'response.body.[': Invalid jmespath expression at column 16",
        ),
        # auth and signature
        (
            "version: 1\nauth: {type: token}\n" + OK[11:],
            "CRM_RECIPE: FILE: auth.type: must be one of 'none', 'bearer', 'api_key', 'basic', 'oauth2_client_credentials' or 'oauth2_refresh_token', got 'token'",
        ),
        (
            "version: 1\nauth: {type: api_key}\n" + OK[11:],
            "CRM_RECIPE: FILE: auth: api_key sends the key in a header or a query parameter: give one",
        ),
        (
            "version: 1\nauth: {type: bearer, header: X-Key}\n" + OK[11:],
            "CRM_RECIPE: FILE: auth.header: only for type api_key, not bearer",
        ),
        (
            'version: 1\nauth: {type: bearer, scheme: "a b"}\n' + OK[11:],
            "CRM_RECIPE: FILE: auth.scheme: 'a b' is not an HTTP authorization scheme",
        ),
        (
            'version: 1\nauth: {type: bearer, token_url: "https://x/token"}\n' + OK[11:],
            "CRM_RECIPE: FILE: auth.token_url: only for the oauth2 types, not bearer",
        ),
        (
            "version: 1\nauth: {type: oauth2_client_credentials, secret: crm_api_token}\n"
            + OK[11:],
            "CRM_RECIPE: FILE: auth.secret: the oauth2 types read CRM_OAUTH_CLIENT_SECRET (and CRM_OAUTH_REFRESH_TOKEN)",
        ),
        (
            "version: 1\nauth: {type: bearer, secret: drift_access_token}\n" + OK[11:],
            "CRM_RECIPE: FILE: auth.secret: must be one of 'crm_api_token', 'crm_oauth_client_secret', 'crm_oauth_refresh_token' or 'crm_signing_secret', got 'drift_access_token'",
        ),
        (
            'version: 1\nauth: {type: bearer, optional: "yes"}\n' + OK[11:],
            "CRM_RECIPE: FILE: auth.optional: must be true or false, got a string",
        ),
        (
            "version: 1\nsignature: {header: 5}\n" + OK[11:],
            "CRM_RECIPE: FILE: signature.header: must be a string, got a number",
        ),
    ],
)
def test_invalid_files(write, text, expected):
    assert problem(write, text) == expected


def test_an_unknown_name_that_is_not_a_file(write):
    with pytest.raises(ConfigError) as caught:
        load_recipe("hubspott")
    assert str(caught.value) == (
        "CRM_RECIPE: hubspott: not a built-in recipe "
        f"({', '.join(builtin_names())}) and no such file"
    )


def test_a_missing_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_recipe(str(tmp_path / "crm.yaml"))
    assert str(caught.value) == f"CRM_RECIPE: {tmp_path / 'crm.yaml'}: file not found"


def test_an_empty_setting():
    with pytest.raises(ConfigError, match=r"^CRM_RECIPE: empty"):
        load_recipe(" ")


def test_a_bad_mapping_file_is_reported_under_its_own_setting(write):
    bad = write('version: 1\nbody:\n  x: {expr: "contact.["}\n')
    with pytest.raises(ConfigError) as caught:
        load_recipe("webhook", mapping_file=bad)
    assert str(caught.value).startswith(f"CRM_MAPPING_FILE: {bad}: body.x: invalid JMESPath")


def test_a_bad_mapping_file_given_as_the_recipe_names_the_recipe_setting(write):
    bad = write('version: 1\nbody:\n  x: {expr: "contact.["}\n')
    with pytest.raises(ConfigError) as caught:
        load_recipe(bad)
    assert str(caught.value).startswith(f"CRM_RECIPE: {bad}: body.x: invalid JMESPath")


def test_a_recipe_is_compiled_once(write):
    path = write(OK)
    assert load_recipe(path) is load_recipe(path)
