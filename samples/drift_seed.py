"""The Drift sample from the seed article ("Custom MAP/CRM Integration"), as Python data.

Values are copied verbatim from the article wherever it gives them, including its oddities:
the article's e-mail addresses were mangled by an obfuscator into ``[email protected]`` (with
a NO-BREAK SPACE, U+00A0, between the two words); that literal string is what the article
shows, so it is what the simulator serves.

Every accessor returns a fresh deep copy, so callers may mutate what they get.
"""

from __future__ import annotations

import copy
from html import escape
from typing import Any

#: The article's obfuscated e-mail placeholder, exactly as printed (U+00A0 between the words).
SEED_EMAIL = "[email\u00a0protected]"

ORG_ID = 5000883

SAMPLE_CONVERSATION_ID = 3275727977
#: The Drift user who pushed the conversation and its only participant.
SAMPLE_USER_ID = 2322756
#: The user the article's ``/users/list`` example shows.
SEED_LIST_USER_ID = 5028476
#: Above 2**53: a JSON parser that goes through floats cannot hold every id of this size.
SAMPLE_CONTACT_ID = 11751623441268736
SAMPLE_PUSHED_AT = 1632349419751
SAMPLE_INBOX_ID = 642330
SAMPLE_PLAYBOOK_ID = 2310900

_SAMPLE_CONVERSATION: dict[str, Any] = {
    "status": "closed",
    "participants": [SAMPLE_USER_ID],
    # The article is inconsistent: its conversation shows contactId 11409060726, but the contact
    # it then fetches "from the returned conversation" has id 11751623441268736. We link the
    # conversation to the contact the article actually shows, so that the sample is coherent
    # end to end and exercises an id above 2**53.
    "contactId": SAMPLE_CONTACT_ID,
    "createdAt": 1632240461843,
    "id": SAMPLE_CONVERSATION_ID,
    "relatedPlaybookId": SAMPLE_PLAYBOOK_ID,
    "inboxId": SAMPLE_INBOX_ID,
    "updatedAt": 1632240490684,
}

_SAMPLE_CONTACT: dict[str, Any] = {
    "id": SAMPLE_CONTACT_ID,
    "createdAt": 1627616677362,
    "attributes": {
        "country": "United States",
        "_END_USER_VERSION": 104,
        "recent_entrance_page_title": "test site",
        "employment_seniority": "executive",
        "city": "Boston",
        "_calculated_version": 104,
        "timezone": "America/New_York",
        "employment_role": "owner",
        "latitude": 42.3600825,
        "original_conversation_started_page_title": "test site",
        # The article wraps this JSON-in-a-string over two lines for layout; the value itself
        # cannot hold a raw line break, so the wrap (and its padding) is dropped.
        "last_context_location": (
            '{"city":"Los Angeles","region":"California",'
            '"country":"US","countryName":"United States"}'
        ),
        "linkedin_handle": "in/gregg-parker",
        "original_entrance_page_url": "https://drift.me/admin",
        "employment_name": "Camp Waziyatah",
        "recent_conversation_started_page_title": "test site",
        "recent_conversation_started_page_url": "drift.me/admin",
        "state": "Massachusetts",
        "first_name": "Gregg",
        "email": SEED_EMAIL,
        "events": {},
        "start_date": 1627616677362,
        "longitude": -71.0588801,
        "original_ip": "172.112.190,3.229.120",
        "display_location": "Boston, MA, US",
        "_end_user_version": 104,
        "recent_entrance_page_url": "https://drift.me/admin",
        "avatarUrl": "https://d1ts43dypk8bqh.cloudfront.net/v1/avatars/573792f1-cbc3-49ce",
        "ip": "172.112.190,3.229.120",
        "externalId": "5239c583-cc8e-4617-353-79681622839e",
        "timeZone": "America/New_York",
        "last_name": "Parker",
        "display_name": "Gregg Parker",
        "original_conversation_started_page_url": "drift.me/admin",
        "tags": [],
        "last_contacted": 1628025353187,
        "avatar_url": "https://d1ts43dypk8bqh.cloudfront.net/v1/avatars/573792f1-cbc3-49ce",
        "original_entrance_page_title": "test site",
        "employment_title": "Owner, Director",
        "socialProfiles": {},
        "name": "Gregg Parker",
        "last_active": 1627621324929,
    },
}

_USERS: list[dict[str, Any]] = [
    # Verbatim from the article's /users/list example.
    {
        "id": SEED_LIST_USER_ID,
        "orgId": ORG_ID,
        "name": "A Simon",
        "email": SEED_EMAIL,
        "role": "member",
        "availability": "OFFLINE",
        "verified": False,
        "bot": False,
        "createdAt": 1630082419824,
        "updatedAt": 1630082419824,
    },
    # The conversation's participant and pusher; the article never shows this user.
    {
        "id": SAMPLE_USER_ID,
        "orgId": ORG_ID,
        "name": "Agent",
        "alias": "Agent",
        "email": "agent@example.com",
        "role": "admin",
        "availability": "AVAILABLE",
        "verified": True,
        "bot": False,
        "locale": "en-US",
        "timeZone": "America/Los_Angeles",
        "createdAt": 1627000000000,
        "updatedAt": 1632240490684,
    },
]

#: The transcript exactly as the article prints it (12 lines, no trailing newline).
SAMPLE_TRANSCRIPT = "\n".join(
    [
        "Sep 21,",
        "09: 07: 46 AM PDT Bot (Agent): Hey there!  Would you like to speak with a human?",
        "Sep 21,",
        f"09: 07: 49 AM PDT {SEED_EMAIL}: No thanks!",
        "Sep 21,",
        "09: 07: 50 AM PDT Bot (Agent): Ok. Would you like to book a meeting with a sales rep"
        " instead?",
        "Sep 21,",
        f"09: 08: 00 AM PDT {SEED_EMAIL}: Yes please!",
        "Sep 21,",
        "09: 08: 03 AM PDT Bot (Agent): You can grab a time on Agent's calendar here.",
        "Sep 21,",
        f"09: 08: 10 AM PDT Bot (Agent): All set! I've sent an email confirmation to {SEED_EMAIL}",
    ]
)

# (author type, author id, bot, createdAt ms, text): the six chat messages behind the transcript.
# 09:07:46 AM PDT on Sep 21 2021 is 16:07:46 UTC, i.e. just after the conversation's createdAt.
_MESSAGE_SPECS: list[tuple[str, int, bool, int, str]] = [
    (
        "user",
        SAMPLE_USER_ID,
        True,
        1632240466120,
        "Hey there!  Would you like to speak with a human?",
    ),
    ("contact", SAMPLE_CONTACT_ID, False, 1632240469410, "No thanks!"),
    (
        "user",
        SAMPLE_USER_ID,
        True,
        1632240470250,
        "Ok. Would you like to book a meeting with a sales rep instead?",
    ),
    ("contact", SAMPLE_CONTACT_ID, False, 1632240480030, "Yes please!"),
    (
        "user",
        SAMPLE_USER_ID,
        True,
        1632240483400,
        "You can grab a time on Agent's calendar here.",
    ),
    (
        "user",
        SAMPLE_USER_ID,
        True,
        1632240490684,
        f"All set! I've sent an email confirmation to {SEED_EMAIL}",
    ),
]

_FIRST_MESSAGE_ID = 4011000001


def make_message(
    *,
    message_id: int,
    conversation_id: int,
    author_type: str,
    author_id: int,
    bot: bool,
    created_at: int,
    text: str,
    org_id: int = ORG_ID,
) -> dict[str, Any]:
    """One Drift chat Message (``body`` is HTML, as Drift sends it)."""

    return {
        "id": message_id,
        "orgId": org_id,
        "body": f"<p>{escape(text, quote=False)}</p>",
        "author": {"type": author_type, "id": author_id, "bot": bot},
        "type": "chat",
        "conversationId": conversation_id,
        "createdAt": created_at,
        "buttons": [],
        "context": {},
        "attributes": {},
    }


_SAMPLE_MESSAGES: list[dict[str, Any]] = [
    make_message(
        message_id=_FIRST_MESSAGE_ID + i,
        conversation_id=SAMPLE_CONVERSATION_ID,
        author_type=author_type,
        author_id=author_id,
        bot=bot,
        created_at=created_at,
        text=text,
    )
    for i, (author_type, author_id, bot, created_at, text) in enumerate(_MESSAGE_SPECS)
]


def sample_conversation() -> dict[str, Any]:
    """The sample Conversation (without the ``{"data": ...}`` envelope)."""
    return copy.deepcopy(_SAMPLE_CONVERSATION)


def sample_contact() -> dict[str, Any]:
    """The sample Contact: ``{"id", "createdAt", "attributes"}``."""
    return copy.deepcopy(_SAMPLE_CONTACT)


def sample_users() -> list[dict[str, Any]]:
    """Every seed user: the article's user 5028476 and the participant 2322756."""
    return copy.deepcopy(_USERS)


def sample_messages() -> list[dict[str, Any]]:
    """The six chat messages of the sample conversation, oldest first."""
    return copy.deepcopy(_SAMPLE_MESSAGES)


def sample_conversation_push(
    token: str,
    pushed_at: int | None = None,
    *,
    conversation_id: int = SAMPLE_CONVERSATION_ID,
    user_id: int = SAMPLE_USER_ID,
) -> dict[str, Any]:
    """The article's ``conversation_push`` webhook body, with the caller's verification token.

    ``pushed_at`` (epoch ms) defaults to the article's value; pass another one to model a later
    push of the same conversation.
    """
    return {
        "orgId": ORG_ID,
        "type": "conversation_push",
        "data": {
            "source": "conversation_manual_push",
            "data": {
                "conversationId": conversation_id,
                "userId": user_id,
                "pushedAt": SAMPLE_PUSHED_AT if pushed_at is None else pushed_at,
            },
        },
        "token": token,
    }


def sample_gdpr_delete_requested(token: str) -> dict[str, Any]:
    """A ``gdpr_delete_requested`` webhook body (Drift publishes no sample; this is our guess)."""
    return {
        "type": "gdpr_delete_requested",
        "orgId": ORG_ID,
        "token": token,
        "data": {"email": _SAMPLE_CONTACT["attributes"]["email"], "contactId": SAMPLE_CONTACT_ID},
    }


def sample_app_disconnected(token: str) -> dict[str, Any]:
    """An ``app_disconnected`` webhook body (Drift publishes no sample; this is our guess)."""
    return {
        "type": "app_disconnected",
        "orgId": ORG_ID,
        "token": token,
        "data": {"orgId": ORG_ID, "disconnectedAt": 1632349500000},
    }
