"""The customer examples in examples/mappings/ render the seed's sample conversation as shown.

The record document is built offline from samples.drift_seed with the same builders the worker
uses (shared.records), so these tests follow the real record shape without any network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from samples import drift_seed as seed_data
from shared import mapping, records
from shared.mapping import load_mapping

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "mappings"
SETTING = "CRM_MAPPING_FILE"
EVENT_KEY = "k" * 64


def sample_record() -> dict[str, Any]:
    """The seed's conversation_push as the worker would gather it, as the mapping sees it."""
    push = seed_data.sample_conversation_push("unused-token")
    pushed = push["data"]["data"]
    conversation = records.conversation_info(seed_data.sample_conversation())
    record = records.ConversationRecord(
        event=records.EventInfo(
            type=push["type"],
            org_id=push["orgId"],
            key=EVENT_KEY,
            source=push["data"]["source"],
            pushed_at=pushed["pushedAt"],
            pushed_by_user_id=pushed["userId"],
        ),
        conversation=conversation,
        contact=records.contact_info(seed_data.sample_contact()),
        participants=[
            records.participant(user)
            for user in seed_data.sample_users()
            if user["id"] in conversation.participant_ids
        ],
        transcript=seed_data.SAMPLE_TRANSCRIPT,
    )
    return record.to_json_dict()


def render(name: str) -> tuple[mapping.Mapping, Any]:
    loaded = load_mapping(str(EXAMPLES / name), "conversation", SETTING)
    body = loaded.render(sample_record())
    # What goes on the wire: the body survives a JSON round trip unchanged (ids included).
    assert json.loads(json.dumps(body)) == body
    return loaded, body


def test_sample_record_has_the_shape_the_examples_rely_on():
    document = sample_record()
    assert document["contact"]["id"] == seed_data.SAMPLE_CONTACT_ID > 2**53
    assert document["conversation"]["updated_at"] == "2021-09-21T16:08:10.684Z"
    assert [p["id"] for p in document["participants"]] == [seed_data.SAMPLE_USER_ID]
    assert document["transcript"] == seed_data.SAMPLE_TRANSCRIPT


def test_every_example_is_tested():
    tested = {"hubspot.yaml", "salesforce.yaml", "marketing_lead.yaml"}
    assert {path.name for path in EXAMPLES.glob("*.yaml")} == tested


def test_hubspot():
    loaded, body = render("hubspot.yaml")
    assert loaded.method == "POST"
    assert body["properties"] == {
        "email": seed_data.SEED_EMAIL,
        "firstname": "Gregg",
        "lastname": "Parker",
        "company": "Camp Waziyatah",
        "jobtitle": "Owner, Director",
        # no phone in the sample: omitted, not sent as null
        "city": "Boston",
        "state": "Massachusetts",
        "country": "United States",
        "drift_contact_id": "11751623441268736",
        "lifecyclestage": "lead",
    }
    assert body["note"] == {
        "hs_note_body": seed_data.SAMPLE_TRANSCRIPT,
        "hs_timestamp": "2021-09-21T16:08:10.684Z",
        "drift_conversation_id": "3275727977",
    }
    assert body["associations"] == [
        {
            "from": "note",
            "to": "contact",
            "match_on": "email",
            "association_category": "HUBSPOT_DEFINED",
            "association_type_id": 202,
        }
    ]


def test_hubspot_sends_no_null_properties_for_an_anonymous_contact():
    # GIVEN a conversation whose contact Drift knows nothing about
    loaded = load_mapping(str(EXAMPLES / "hubspot.yaml"), "conversation", SETTING)
    body = loaded.render({**sample_record(), "contact": None})
    # THEN nothing would blank an existing HubSpot value, and no id reads "null"
    assert body["properties"] == {"email": None, "lifecyclestage": "lead"}
    assert body["note"]["drift_conversation_id"] == "3275727977"


def test_salesforce():
    loaded, body = render("salesforce.yaml")
    assert loaded.method is None
    assert body == {
        "Lead": {
            "FirstName": "Gregg",
            "LastName": "Parker",
            "Email": seed_data.SEED_EMAIL,
            "Company": "Camp Waziyatah",
            "Title": "Owner, Director",
            "City": "Boston",
            "State": "Massachusetts",
            "Country": "United States",
            "LeadSource": "Drift",
            "Drift_Contact_Id__c": "11751623441268736",
        },
        "Task": {
            "Subject": "Drift conversation 3275727977",
            "Description": seed_data.SAMPLE_TRANSCRIPT,
            "Status": "Completed",
            "Drift_Conversation_Id__c": "3275727977",
            "Drift_Conversation_Updated_At__c": "2021-09-21T16:08:10.684Z",
            "ActivityDate": "2021-09-21",
        },
    }


def test_salesforce_fills_required_fields_for_an_anonymous_contact():
    # GIVEN a conversation whose contact Drift knows nothing about
    loaded = load_mapping(str(EXAMPLES / "salesforce.yaml"), "conversation", SETTING)
    document = {**sample_record(), "contact": None}
    # THEN Salesforce's required LastName and Company still get a value
    assert loaded.render(document)["Lead"] == {
        "LastName": "Unknown",
        "Company": "Unknown",
        "LeadSource": "Drift",
    }


def test_marketing_lead():
    loaded, body = render("marketing_lead.yaml")
    assert loaded.method is None
    assert body == {
        "email": seed_data.SEED_EMAIL,
        "first_name": "Gregg",
        "last_name": "Parker",
        "full_name": "Gregg Parker",
        "company": "Camp Waziyatah",
        "title": "Owner, Director",
        "location": "Boston, MA, US",
        "timezone": "America/New_York",
        "linkedin": "in/gregg-parker",
        # no lead_score attribute in the sample: "score" is omitted
        "source": "drift",
        "source_detail": "conversation_manual_push",
        "drift_contact_id": 11751623441268736,
        "drift_conversation_id": 3275727977,
        "conversation_url": "https://app.drift.com/conversations/3275727977",
        "conversation_tags": [],
        "agents": ["Agent"],
        "owner_email": "agent@example.com",
        "last_activity_at": "2021-09-21T16:08:10.684Z",
    }
    # The id above 2**53 reaches the wire as the exact integer, not a rounded float.
    assert '"drift_contact_id": 11751623441268736' in json.dumps(body)
    assert type(body["drift_contact_id"]) is int


def test_marketing_lead_with_a_score_and_no_contact_names():
    loaded = load_mapping(str(EXAMPLES / "marketing_lead.yaml"), "conversation", SETTING)
    document = sample_record()
    contact = document["contact"]
    contact.update(name=None, last_name=None)
    contact["attributes"]["lead_score"] = 87
    body = loaded.render(document)
    assert body["score"] == 87
    assert body["full_name"] == "Gregg "


@pytest.mark.parametrize("name", ["hubspot.yaml", "salesforce.yaml", "marketing_lead.yaml"])
def test_examples_keep_the_transcript_and_iso_timestamps(name):
    _, body = render(name)
    text = json.dumps(body, ensure_ascii=False)
    timestamps = {"2021-09-21T16:08:10.684Z"}
    assert any(stamp in text for stamp in timestamps)
    if name != "marketing_lead.yaml":
        assert json.dumps(seed_data.SAMPLE_TRANSCRIPT, ensure_ascii=False)[1:-1] in text


@pytest.mark.parametrize("name", ["hubspot.yaml", "salesforce.yaml", "marketing_lead.yaml"])
def test_examples_render_a_minimal_record(name):
    # GIVEN the smallest record the worker can build (no contact, no participants)
    minimal = records.ConversationRecord(
        event=records.EventInfo(type="conversation_push", key=EVENT_KEY),
        conversation=records.ConversationInfo(id=1),
    ).to_json_dict()
    # THEN each example still renders (no render-time error on missing data)
    body = load_mapping(str(EXAMPLES / name), "conversation", SETTING).render(minimal)
    assert json.loads(json.dumps(body)) == body


def test_builtin_conversation_mapping_on_the_sample_record():
    document = sample_record()
    body = load_mapping(None, "conversation", SETTING).render(document)
    assert body["type"] == "conversation_push"
    assert body["org_id"] == seed_data.ORG_ID
    assert body["conversation"]["created_at"] == "2021-09-21T16:07:41.843Z"
    assert body["conversation"]["inbox_id"] == seed_data.SAMPLE_INBOX_ID
    assert body["conversation"]["playbook_id"] == seed_data.SAMPLE_PLAYBOOK_ID
    assert body["contact"]["id"] == 11751623441268736
    assert body["contact"]["attributes"] == seed_data.sample_contact()["attributes"]
    assert body["participants"] == [
        {
            "id": 2322756,
            "name": "Agent",
            "email": "agent@example.com",
            "alias": "Agent",
            "role": "admin",
            "bot": False,
        }
    ]
    assert body["transcript"] == seed_data.SAMPLE_TRANSCRIPT
    assert "messages" not in body
    assert '"id": 11751623441268736' in json.dumps(body)


def _readme_yaml_blocks() -> list[str]:
    text = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    return text.split("```yaml\n")[1:]


def test_readme_mappings_load_and_render(tmp_path):
    # The language reference's YAML examples are real, valid mappings.
    blocks = [block.split("```", 1)[0] for block in _readme_yaml_blocks()]
    assert len(blocks) >= 4
    for i, block in enumerate(blocks):
        path = tmp_path / f"readme{i}.yaml"
        path.write_text(block, encoding="utf-8")
        body = load_mapping(str(path), "conversation", SETTING).render(sample_record())
        assert json.loads(json.dumps(body)) == body


def test_readme_shows_the_builtin_mappings_as_shipped():
    blocks = [block.split("```", 1)[0] for block in _readme_yaml_blocks()]
    for kind in ("conversation", "gdpr"):
        shipped = (ROOT / "shared" / "mappings" / f"builtin_{kind}.yaml").read_text(
            encoding="utf-8"
        )
        without_comments = "".join(
            line + "\n" for line in shipped.splitlines() if not line.startswith("#")
        )
        assert without_comments in blocks
