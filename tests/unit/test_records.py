"""The canonical record: timestamps, ids, contact fallbacks, tags, messages."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from samples import drift_seed as seed_data
from shared import records
from shared.errors import DriftTransientError
from shared.records import ContactInfo, ConversationInfo, ConversationRecord, EventInfo

BIG = 11751623441268736  # above 2**53 and not representable as a float
HUGE = 2**63 + 1


# -- timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        (1632240461843, "2021-09-21T16:07:41.843Z"),
        (1632240461000, "2021-09-21T16:07:41.000Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (1627616677362, "2021-07-30T03:44:37.362Z"),
        (
            dt.datetime(2021, 9, 21, 18, 7, 41, 843000, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2021-09-21T16:07:41.843Z",
        ),
        (dt.datetime(2021, 9, 21, 16, 7, 41), "2021-09-21T16:07:41.000Z"),  # naive: UTC
        ("2021-09-21T16:07:41.843Z", "2021-09-21T16:07:41.843Z"),
    ],
)
def test_timestamps_serialise_as_iso_utc_with_milliseconds(value: object, iso: str) -> None:
    info = ConversationInfo(id=1, created_at=value)

    assert info.model_dump(mode="json")["created_at"] == iso


def test_absent_timestamps_stay_null() -> None:
    info = records.conversation_info({"id": 5})

    assert info.model_dump(mode="json")["created_at"] is None
    assert info.updated_at is None


def test_epoch_millis_become_aware_utc_datetimes() -> None:
    info = ConversationInfo(id=1, created_at=1632240461843)

    assert info.created_at == dt.datetime(2021, 9, 21, 16, 7, 41, 843000, tzinfo=dt.UTC)


def test_a_bool_timestamp_is_dropped_not_an_error() -> None:
    info = records.conversation_info({"id": 5, "createdAt": True})

    assert info.created_at is None


def test_an_out_of_range_timestamp_is_dropped_not_an_os_error() -> None:
    info = records.conversation_info({"id": 5, "createdAt": 10**20})

    assert info.created_at is None


# -- ids --------------------------------------------------------------------------------------


def test_bool_is_not_an_id() -> None:
    info = records.conversation_info(
        {
            "id": True,
            "contactId": True,
            "inboxId": False,
            "relatedPlaybookId": True,
            "participants": [True, 5, False],
        },
        requested_id=42,
    )

    assert info.id == 42  # what was asked for, never 0
    assert info.contact_id is None
    assert info.inbox_id is None
    assert info.playbook_id is None
    assert info.participant_ids == [5]
    assert records.contact_info({"id": True}).id is None
    assert records.participant({"id": False}) is None


def test_a_conversation_answer_without_an_id_is_never_conversation_0() -> None:
    assert records.conversation_info({"status": "closed"}, requested_id=7).id == 7
    with pytest.raises(DriftTransientError):
        records.conversation_info({"status": "closed"})


@pytest.mark.parametrize("raw", ["1632240461843", " 1632240461843 ", 1632240461843])
def test_epoch_millis_given_as_a_string_are_kept(raw) -> None:
    info = records.conversation_info({"id": 5, "createdAt": raw})

    assert info.model_dump(mode="json")["created_at"] == "2021-09-21T16:07:41.843Z"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123", 123),
        (str(BIG), BIG),
        ("12a", None),
        ("-5", None),
        ("١٢٣", None),
        (1.5, None),
        (None, None),
    ],
)
def test_ids_as_decimal_strings_only(raw: object, expected: int | None) -> None:
    assert records.conversation_info({"id": 1, "contactId": raw}).contact_id == expected


def test_ids_above_2_53_survive_model_dump_and_json() -> None:
    record = ConversationRecord(
        event=EventInfo(type="conversation_push", key="k", org_id=HUGE),
        conversation=records.conversation_info(
            {"id": HUGE, "contactId": BIG, "participants": [BIG + 2]}
        ),
        contact=records.contact_info({"id": BIG, "attributes": {"big": HUGE}}),
        participants=[records.participant({"id": BIG + 4})],
    )

    dumped = record.to_json_dict()
    text = json.dumps(dumped)
    back = json.loads(text)

    assert dumped["conversation"]["contact_id"] == BIG
    assert f'"id": {HUGE}' in text and f'"contact_id": {BIG}' in text
    assert back["event"]["org_id"] == HUGE
    assert back["conversation"]["id"] == HUGE
    assert back["conversation"]["participant_ids"] == [BIG + 2]
    assert back["contact"]["id"] == BIG
    assert back["contact"]["attributes"]["big"] == HUGE
    assert back["participants"][0]["id"] == BIG + 4


def test_records_are_frozen_and_strict_about_fields() -> None:
    info = ContactInfo(id=1)
    with pytest.raises(ValidationError):
        info.id = 2  # type: ignore[misc]
    with pytest.raises(ValidationError):
        ContactInfo(id=1, unexpected="x")  # type: ignore[call-arg]


# -- conversation -----------------------------------------------------------------------------


def test_conversation_info_from_the_seed() -> None:
    info = records.conversation_info(seed_data.sample_conversation())

    assert info.model_dump(mode="json") == {
        "id": seed_data.SAMPLE_CONVERSATION_ID,
        "status": "closed",
        "created_at": "2021-09-21T16:07:41.843Z",
        "updated_at": "2021-09-21T16:08:10.684Z",
        "inbox_id": 642330,
        "playbook_id": 2310900,
        "contact_id": BIG,
        "participant_ids": [seed_data.SAMPLE_USER_ID],
        "tags": [],
    }


def test_tags_keep_named_ones_only() -> None:
    info = records.conversation_info(
        {
            "id": 1,
            "conversationTags": [
                {"color": "ff0000", "name": "hot-lead"},
                {"color": "00ff00"},
                {"name": ""},
                "not-a-dict",
                {"color": "0000ff", "name": "pricing"},
            ],
        }
    )

    assert info.tags == ["hot-lead", "pricing"]
    assert records.conversation_info({"id": 1, "conversationTags": None}).tags == []


# -- contact ----------------------------------------------------------------------------------


def test_contact_info_from_the_seed_keeps_every_raw_attribute() -> None:
    raw = seed_data.sample_contact()

    info = records.contact_info(raw)

    assert info.id == BIG
    assert info.email == seed_data.SEED_EMAIL
    assert (info.name, info.first_name, info.last_name) == ("Gregg Parker", "Gregg", "Parker")
    assert (info.company, info.title) == ("Camp Waziyatah", "Owner, Director")
    assert (info.city, info.state, info.country) == ("Boston", "Massachusetts", "United States")
    assert info.location == "Boston, MA, US"
    assert info.external_id == "5239c583-cc8e-4617-353-79681622839e"
    assert info.model_dump(mode="json")["created_at"] == "2021-07-30T03:44:37.362Z"
    assert info.attributes == raw["attributes"]


@pytest.mark.parametrize(
    ("attributes", "field", "expected"),
    [
        ({"name": "Ada Lovelace", "display_name": "Ada L."}, "name", "Ada Lovelace"),
        ({"display_name": "Ada L."}, "name", "Ada L."),
        ({"first_name": "Ada", "last_name": "Lovelace"}, "name", "Ada Lovelace"),
        ({"firstName": "Ada"}, "name", "Ada"),
        ({"lastName": "Lovelace"}, "name", "Lovelace"),
        ({"name": "   ", "first_name": "Ada"}, "name", "Ada"),
        ({}, "name", None),
        ({"company": "A", "company_name": "B", "employment_name": "C"}, "company", "A"),
        ({"company_name": "B", "employment_name": "C"}, "company", "B"),
        ({"employment_name": "C"}, "company", "C"),
        ({"title": "T", "job_title": "J", "employment_title": "E"}, "title", "T"),
        ({"job_title": "J", "employment_title": "E"}, "title", "J"),
        ({"employment_title": "E"}, "title", "E"),
        ({"display_location": "Boston, MA, US", "city": "X"}, "location", "Boston, MA, US"),
        ({"city": "Boston", "state": "MA", "country": "US"}, "location", "Boston, MA, US"),
        ({"city": "Boston", "country": "US"}, "location", "Boston, US"),
        ({"country": "Deutschland"}, "location", "Deutschland"),
        ({}, "location", None),
        ({"phone_number": "+1 555"}, "phone", "+1 555"),
        ({"external_id": "e-1"}, "external_id", "e-1"),
        ({"email": {"nested": "no"}}, "email", None),
    ],
)
def test_contact_named_field_fallbacks(
    attributes: dict[str, object], field: str, expected: str | None
) -> None:
    assert getattr(records.contact_info({"id": 1, "attributes": attributes}), field) == expected


def test_contact_without_attributes() -> None:
    info = records.contact_info({"id": 1, "attributes": "not a dict"})

    assert info.attributes == {}
    assert info.name is None


def test_non_ascii_contact_fields_are_unchanged() -> None:
    info = records.contact_info(
        {"id": 1, "attributes": {"first_name": "Zoë", "last_name": "Ångström", "city": "Zürich"}}
    )

    assert info.name == "Zoë Ångström"
    assert json.loads(json.dumps(info.model_dump(mode="json")))["city"] == "Zürich"


# -- participants and messages ----------------------------------------------------------------


def test_participant_from_a_user() -> None:
    (listed, agent) = seed_data.sample_users()

    assert records.participant(agent).model_dump() == {
        "id": seed_data.SAMPLE_USER_ID,
        "name": "Agent",
        "email": "agent@example.com",
        "alias": "Agent",
        "role": "admin",
        "bot": False,
    }
    assert records.participant({"id": 7, "bot": "yes"}).bot is None
    assert records.participant(listed).email == seed_data.SEED_EMAIL


def test_message_info_from_drift_messages() -> None:
    bot_message, contact_message = seed_data.sample_messages()[:2]

    assert records.message_info(contact_message).model_dump(mode="json") == {
        "id": contact_message["id"],
        "type": "chat",
        "author_type": "contact",
        "author_id": BIG,
        "bot": False,
        "body": "<p>No thanks!</p>",
        "created_at": "2021-09-21T16:07:49.410Z",
    }
    assert records.message_info(bot_message).bot is True
    assert records.message_info(bot_message).author_id == seed_data.SAMPLE_USER_ID


def test_message_info_tolerates_missing_parts() -> None:
    info = records.message_info({"author": "nobody", "body": 42})

    assert info.model_dump() == {
        "id": None,
        "type": None,
        "author_type": None,
        "author_id": None,
        "bot": None,
        "body": None,
        "created_at": None,
    }


def test_message_ids_reject_bools_like_every_other_id() -> None:
    info = records.message_info({"id": True, "author": {"type": "user", "id": True}})

    assert info.id is None
    assert info.author_id is None
