"""operations.preview: every request a recipe would send for the seed's sample conversation (or
a given event), sending nothing, with warnings for expressions that give null."""

from __future__ import annotations

import io
import json

import pytest

from operations.preview import null_warnings, preview
from samples import drift_seed as seed_data
from shared.errors import ConfigError

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _no_outer_settings(function_env):
    function_env()


def test_the_webhook_preview_is_todays_single_request():
    (request,) = preview()
    assert request["method"] == "POST"
    assert request["url"] == "https://crm.example.invalid/records"
    assert request["headers"]["Content-Type"] == "application/json"
    assert len(request["headers"]["Idempotency-Key"]) == 64
    assert "Authorization" not in request["headers"]
    assert request["body"]["transcript"] == seed_data.SAMPLE_TRANSCRIPT


@pytest.mark.parametrize(
    ("recipe", "steps"),
    [
        ("hubspot", ["contact", "update_note", "note"]),
        ("pipedrive", ["find_person", "create_person", "update_note", "note"]),
        (
            "salesforce",
            [
                "lookup",
                "create_lead_and_task",
                "update_lead_and_add_task",
                "update_contact_and_add_task",
                "update_task",
            ],
        ),
    ],
)
def test_a_builtin_recipe_preview_lists_every_step_with_masked_credentials(recipe, steps):
    warnings = io.StringIO()
    planned = preview(recipe=recipe, warnings=warnings)
    assert [p["step"] for p in planned] == steps
    text = json.dumps(planned)
    assert "preview-api-token" not in text and "preview-client-secret" not in text
    assert any(
        p["headers"].get("Authorization") == "Bearer ***"
        or p["headers"].get("x-api-token") == "***"
        for p in planned
    )
    assert warnings.getvalue() == ""


def test_a_later_push_preview_shows_the_update(tmp_path):
    planned = preview(recipe="hubspot", memory={"note_id": "77", "contact_id": "5"})
    update = next(p for p in planned if p["step"] == "update_note")
    assert update["runs"] == "yes" and update["url"].endswith("/crm/v3/objects/notes/77")


def test_a_gdpr_event_file_previews_the_deletion(tmp_path):
    event = tmp_path / "gdpr.json"
    event.write_text(json.dumps(seed_data.sample_gdpr_delete_requested("tok")))
    (request,) = preview(event_file=str(event), recipe="hubspot")
    assert request["url"].endswith("/crm/v3/objects/contacts/gdpr-delete")
    assert request["body"] == {"objectId": seed_data.SEED_EMAIL, "idProperty": "email"}


def test_an_anonymous_visitor_preview_sends_nothing_and_says_why(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "version: 1\nconversation:\n  when: {expr: contact.phone, reason: no phone}\n"
        '  steps:\n    - {name: a, method: POST, url: "https://crm.example.invalid/x"}\n'
    )
    warnings = io.StringIO()
    assert preview(recipe=str(recipe), warnings=warnings) == []
    assert warnings.getvalue() == "nothing would be sent: no phone\n"


def test_a_misspelt_field_is_warned_about_with_the_closest_name(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "version: 1\nconversation:\n  steps:\n    - name: a\n      method: POST\n"
        '      url: "https://crm.example.invalid/x"\n      json:\n'
        '        email: {expr: "contact.emial"}\n        phone: {expr: "contact.phone"}\n'
        '        kept: {expr: "contact.phone", omit_if_null: true}\n'
    )
    warnings = io.StringIO()
    (request,) = preview(recipe=str(recipe), warnings=warnings)
    assert request["body"] == {"email": None, "phone": None}
    assert warnings.getvalue().splitlines() == [
        "warning: conversation.steps[0].json.email: contact.emial does not exist in the record; "
        "did you mean contact.email?",
        "warning: conversation.steps[0].json.phone: contact.phone is null for this record",
    ]


def test_null_warnings_ignore_answers_and_conditions():
    document = {"contact": {"email": "a@b.c", "phone": None}, "conversation": {"id": 1, "tags": []}}
    nulls = [
        ("x.json.id", "saved.contact_id", False),
        ("x.when", "contact.phone", False),
        ("x.json.tags", "conversation.tags[?@ == 'a']", False),
        ("x.json.c", "conversaton.id", False),
    ]
    assert null_warnings(nulls, document) == [
        "x.json.tags: conversation.tags[?@ == 'a'] is null for this record",
        "x.json.c: conversaton.id does not exist in the record; did you mean conversation.id?",
    ]


def test_a_bad_recipe_stops_the_preview_with_its_one_line(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\nconversation:\n  steps:\n    - {name: a, method: GO, url: /x}\n")
    with pytest.raises(ConfigError) as caught:
        preview(recipe=str(recipe))
    assert str(caught.value) == (
        f"CRM_RECIPE: {recipe}: conversation.steps[0].method: "
        "must be one of GET, POST, PUT, PATCH, DELETE, got 'GO'"
    )
