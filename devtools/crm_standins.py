"""The vendors' stand-ins as ``make demo RECIPE=...`` and ``make local`` run them.

``start(recipe)`` starts the loopback stand-in of a built-in recipe's vendor
(``devtools.vendors``) with a records page added at ``/_standin/records`` (an HTML view of what
the CRM holds, for people); ``worker_settings(recipe, standin)`` gives the worker the settings
that point it at the stand-in with the stand-in's own credentials (local values, not secrets);
``holdings(standin)`` describes the persons and activities it holds as cards, which
``render_text`` prints for the demo and the page shows.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from devtools.vendors import STAND_INS, VendorStandIn
from devtools.vendors import dynamics as dynamics_vendor
from devtools.vendors import hubspot as hubspot_vendor
from devtools.vendors import marketo as marketo_vendor
from devtools.vendors import pipedrive as pipedrive_vendor
from devtools.vendors import salesforce as salesforce_vendor
from devtools.vendors import zoho as zoho_vendor

RECORDS_PATH = "/_standin/records"
VENDOR_NAMES = {
    "hubspot": "HubSpot",
    "salesforce": "Salesforce",
    "pipedrive": "Pipedrive",
    "zoho": "Zoho CRM",
    "dynamics": "Dynamics 365",
    "marketo": "Marketo",
}
#: The built-in recipes whose vendor has a stand-in the local stack can run.
RECIPES = tuple(VENDOR_NAMES)
#: The visitor's address when the stand-in is used: the seed article's own is obfuscated
#: ("[email protected]"), which a CRM refuses as an e-mail address.
DEMO_EMAIL = "gregg.parker@example.com"


def has_standin(recipe: str | None) -> bool:
    return recipe in RECIPES


def vendor_name(recipe: str) -> str:
    return VENDOR_NAMES.get(recipe, recipe)


# -- the stand-in with its records page ---------------------------------------------------------


def _with_records_page(cls: type[VendorStandIn]) -> type[VendorStandIn]:
    """``cls`` whose server also answers ``GET /_standin/records`` with the records page."""
    base = cls.handler_class

    class Handler(base):  # type: ignore[misc, valid-type]
        def _dispatch(self) -> None:
            if self.command == "GET" and urlsplit(self.path).path.rstrip("/") == RECORDS_PATH:
                page = render_html(self.server.app).encode("utf-8")
                self.send_bytes(
                    200, page, "text/html; charset=utf-8", {"Cache-Control": "no-store"}
                )
                return
            super()._dispatch()

    return type(f"{cls.__name__}WithRecordsPage", (cls,), {"handler_class": Handler})


def start(recipe: str, *, latency: float = 0.0) -> VendorStandIn:
    """Start the stand-in of ``recipe``'s vendor (with its default, local credentials)."""
    if not has_standin(recipe):
        raise ValueError(f"no local stand-in for CRM_RECIPE={recipe}; one of {', '.join(RECIPES)}")
    return _with_records_page(STAND_INS[recipe])(latency=latency).start()


def records_url(standin: VendorStandIn) -> str:
    return f"{standin.url}{RECORDS_PATH}"


def worker_settings(recipe: str, standin: VendorStandIn) -> dict[str, str]:
    """The worker's settings for ``recipe`` against ``standin`` (its own local credentials)."""
    settings = {"CRM_RECIPE": recipe}
    if recipe == "salesforce":
        assert isinstance(standin, salesforce_vendor.SalesforceStandIn)
        # The API base comes from the token answer's instance_url, as with a real org.
        settings.update(
            CRM_OAUTH_TOKEN_URL=f"{standin.url}/services/oauth2/token",
            CRM_OAUTH_CLIENT_ID=standin.client_id,
            CRM_OAUTH_CLIENT_SECRET=standin.client_secret,
        )
    elif recipe == "hubspot":
        settings.update(CRM_BASE_URL=standin.url, CRM_API_TOKEN=hubspot_vendor.DEFAULT_TOKEN)
    elif recipe == "pipedrive":
        settings.update(CRM_BASE_URL=standin.url, CRM_API_TOKEN=pipedrive_vendor.DEFAULT_API_TOKEN)
    elif recipe == "zoho":
        settings.update(
            CRM_BASE_URL=standin.url,
            CRM_OAUTH_TOKEN_URL=f"{standin.url}/oauth/v2/token",
            CRM_OAUTH_CLIENT_ID=zoho_vendor.DEFAULT_CLIENT_ID,
            CRM_OAUTH_CLIENT_SECRET=zoho_vendor.DEFAULT_CLIENT_SECRET,
            CRM_OAUTH_REFRESH_TOKEN=zoho_vendor.DEFAULT_REFRESH_TOKEN,
        )
    elif recipe == "dynamics":
        settings.update(
            CRM_BASE_URL=standin.url,
            CRM_OAUTH_TOKEN_URL=standin.token_url,
            CRM_OAUTH_SCOPE=standin.scope,
            CRM_OAUTH_CLIENT_ID=dynamics_vendor.DEFAULT_CLIENT_ID,
            CRM_OAUTH_CLIENT_SECRET=dynamics_vendor.DEFAULT_CLIENT_SECRET,
        )
    elif recipe == "marketo":
        settings.update(
            CRM_BASE_URL=standin.url,
            CRM_OAUTH_TOKEN_URL=f"{standin.url}/identity/oauth/token",
            CRM_OAUTH_CLIENT_ID=marketo_vendor.DEFAULT_CLIENT_ID,
            CRM_OAUTH_CLIENT_SECRET=marketo_vendor.DEFAULT_CLIENT_SECRET,
        )
    return settings


# -- what the CRM holds, for people ----------------------------------------------------------


@dataclass
class Card:
    """One record: a title line, labelled fields, and a text (a transcript) if it has one."""

    kind: str  # "person" or "activity"
    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    text: str | None = None


def html_to_text(markup: str) -> str:
    """A note's HTML as the text a person reads: ``<br>`` and paragraphs as line breaks."""
    text = re.sub(r"(?i)<br\s*/?>", "\n", markup)
    text = re.sub(r"(?i)</p>\s*<p>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text).strip("\n")


def _fields(*pairs: tuple[str, Any]) -> list[tuple[str, str]]:
    return [(label, str(value)) for label, value in pairs if value not in (None, "", [])]


def holdings(standin: VendorStandIn) -> list[Card]:
    """Every person, then every activity, the stand-in holds."""
    vendor = standin.vendor
    if vendor == "hubspot":
        return _hubspot(standin)
    if vendor == "salesforce":
        return _salesforce(standin)
    if vendor == "pipedrive":
        return _pipedrive(standin)
    if vendor in _FIELDS:
        return _generic(standin, *_FIELDS[vendor])
    snapshot = standin.snapshot()
    return [
        Card(kind, f"{kind} {index}", text=json.dumps(item, indent=2, default=str))
        for kind, items in (("person", snapshot["persons"]), ("activity", snapshot["activities"]))
        for index, item in enumerate(items, 1)
    ]


def _hubspot(standin: Any) -> list[Card]:
    cards = []
    for contact in standin.contacts():
        p = contact["properties"]
        name = " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x)
        cards.append(
            Card(
                "person",
                f"Contact {contact['id']}: {name or '(no name)'} <{p.get('email')}>",
                _fields(
                    ("company", p.get("company")),
                    ("job title", p.get("jobtitle")),
                    ("city", p.get("city")),
                    ("country", p.get("country")),
                ),
            )
        )
    for note in standin.notes():
        p = note["properties"]
        links = ", ".join(
            f"contact {link['contact']} (association type {link['type']})"
            for link in note["associations"]
        )
        cards.append(
            Card(
                "activity",
                f"Note {note['id']}",
                _fields(
                    ("on", links or "no contact"),
                    ("hs_timestamp", p.get("hs_timestamp")),
                    ("drift_conversation_id", p.get("drift_conversation_id")),
                ),
                html_to_text(p.get("hs_note_body") or ""),
            )
        )
    return cards


def _salesforce(standin: Any) -> list[Card]:
    cards = []
    for person in standin.persons():
        kind = person["attributes"]["type"]
        cards.append(
            Card(
                "person",
                f"{kind} {person['Id']}: {person.get('Name') or '(no name)'} "
                f"<{person.get('Email')}>",
                _fields(
                    ("Company", person.get("Company")),
                    ("Title", person.get("Title")),
                    ("City", person.get("City") or person.get("MailingCity")),
                    ("Status", person.get("Status") if kind == "Lead" else None),
                ),
            )
        )
    for task in standin.tasks():
        cards.append(
            Card(
                "activity",
                f"Task {task['Id']}: {task.get('Subject')}",
                _fields(
                    ("WhoId", task.get("WhoId")),
                    ("Status", task.get("Status")),
                    ("ActivityDate", task.get("ActivityDate")),
                ),
                task.get("Description"),
            )
        )
    return cards


def _pipedrive(standin: Any) -> list[Card]:
    cards = []
    for person in standin.persons():
        emails = ", ".join(e.get("value", "") for e in person.get("emails") or [])
        cards.append(
            Card(
                "person",
                f"Person {person['id']}: {person.get('name') or '(no name)'} <{emails}>",
                _fields(
                    ("phones", ", ".join(p.get("value", "") for p in person.get("phones") or []))
                ),
            )
        )
    for note in standin.notes():
        cards.append(
            Card(
                "activity",
                f"Note {note['id']}",
                _fields(("person_id", note.get("person_id")), ("add_time", note.get("add_time"))),
                html_to_text(note.get("content") or ""),
            )
        )
    return cards


def render_text(cards: list[Card], indent: str = "  ") -> list[str]:
    """The cards as console lines (a transcript indented under its activity)."""
    lines: list[str] = []
    for card in cards:
        lines.append(f"{indent}{card.title}")
        for label, value in card.fields:
            lines.append(f"{indent}  {label}: {value}")
        if card.text is not None:
            text_lines = card.text.split("\n")
            lines.append(f"{indent}  text ({len(text_lines)} lines):")
            lines.extend(f"{indent}    {line}" for line in text_lines)
    return lines


def render_html(standin: VendorStandIn) -> str:
    """The records page: what the stand-in holds, people first; refresh to see new records."""
    name = vendor_name(standin.vendor)
    cards = holdings(standin)
    sections = []
    for kind, heading in (("person", "People"), ("activity", "Activities")):
        items = [c for c in cards if c.kind == kind]
        body = "".join(_card_html(c) for c in items) or "<p class=empty>none yet</p>"
        sections.append(f"<h2>{heading} ({len(items)})</h2>{body}")
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(name)} stand-in: records</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}"
        ".card{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;margin:.6em 0}"
        "dt{font-weight:600;float:left;clear:left;margin-right:.5em}"
        "pre{white-space:pre-wrap;background:#f6f6f6;padding:.6em}.empty{color:#777}"
        "</style></head><body>"
        f"<h1>What {html.escape(name)} holds</h1>"
        f"<p>The local stand-in of {html.escape(name)}'s API at {html.escape(standin.url)}: "
        "the records the bridge wrote. Reload the page to see new ones.</p>"
        + "".join(sections)
        + "</body></html>"
    )


def _card_html(card: Card) -> str:
    fields = "".join(
        f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>"
        for label, value in card.fields
    )
    text = f"<pre>{html.escape(card.text)}</pre>" if card.text is not None else ""
    return f"<div class=card><h3>{html.escape(card.title)}</h3><dl>{fields}</dl>{text}</div>"


# (person kind, id, first, last, email, fields), (activity kind, id, title, link, text, html?)
_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "zoho": (
        ("Lead/Contact", "id", "First_Name", "Last_Name", "Email", "Company"),
        ("Note", "id", "Note_Title", "Parent_Id", "Note_Content", ""),
    ),
    "dynamics": (
        ("Contact", "contactid", "firstname", "lastname", "emailaddress1", "jobtitle"),
        ("Note", "annotationid", "subject", "_objectid_value", "notetext", ""),
    ),
    "marketo": (
        ("Lead", "id", "firstName", "lastName", "email", "company"),
        ("driftConversation_c", "conversationId", "subject", "leadID", "transcript", ""),
    ),
}


def _generic(standin: Any, person: tuple[str, ...], activity: tuple[str, ...]) -> list[Card]:
    """Cards for a vendor whose records are flat field maps (Zoho, Dataverse, Marketo)."""
    kind, id_key, first, last, email, extra = person
    if kind == "Lead/Contact":  # Zoho keeps two modules of persons
        people = [("Lead", r) for r in standin.leads()] + [
            ("Contact", r) for r in standin.contacts()
        ]
    else:
        people = [(kind, r) for r in standin.persons()]
    cards = []
    for label, record in people:
        name = " ".join(str(x) for x in (record.get(first), record.get(last)) if x)
        cards.append(
            Card(
                "person",
                f"{label} {record.get(id_key)}: {name or '(no name)'} <{record.get(email)}>",
                _fields((extra, record.get(extra))),
            )
        )
    kind, id_key, title, link, text, _ = activity
    for record in standin.activities():
        parent = record.get(link)
        if isinstance(parent, dict):
            parent = parent.get("id")
        cards.append(
            Card(
                "activity",
                f"{kind} {record.get(id_key)}: {record.get(title) or ''}".rstrip(": "),
                _fields(("on", parent)),
                record.get(text),
            )
        )
    return cards
