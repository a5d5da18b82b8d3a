"""A local stand-in for Drift's REST API (https://driftapi.com), served over loopback HTTP.

It serves the seed article's sample (see ``samples.drift_seed``) plus any number of generated
conversations, with the same envelopes, error bodies and status codes as the real API, and lets
tests inject faults (429, 5xx, timeouts, connection resets, 403, 404) and latency per endpoint,
rotate the access token, and count calls. Everything is also reachable over HTTP under
``/_sim/`` (no auth) for the local stack and subprocess tests.

Use it in-process::

    with DriftSimulator() as sim:
        sim.add_fault("conversation", "429", times=2)
        requests.get(f"{sim.url}/conversations/3275727977", headers=...)

or as a process: ``python -m devtools.drift_simulator --port 0`` prints
``drift-simulator listening on http://127.0.0.1:PORT`` and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import hmac
import random
import re
import sys
import threading
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

from devtools._httpbase import BackgroundServer, BaseHandler, serve_until_signalled
from samples import drift_seed as seed_data

ENDPOINTS: tuple[str, ...] = (
    "conversation",
    "contact",
    "users_list",
    "user",
    "transcript",
    "messages",
    "conversations_list",
    "gdpr_delete",
)
#: "*" in add_fault() targets every endpoint (consulted after the endpoint's own queue).
ANY_ENDPOINT = "*"
FAULT_KINDS: tuple[str, ...] = (
    "429",
    "429_retry_after",
    "500",
    "502",
    "503",
    "timeout",
    "reset",
    "403",
    "404",
)
USERS_LIST_SHAPES = ("data", "bare")
MESSAGES_PAGE_SIZE = 50
CONVERSATIONS_LIST_MAX_LIMIT = 50
CONVERSATIONS_LIST_DEFAULT_LIMIT = 25
CONVERSATIONS_LIST_ORDERS = ("newest", "shuffled")
MAX_CALLS_KEPT = 10_000  # per endpoint, for calls(); counts are never truncated

_FIRST_GENERATED_CONVERSATION_ID = 4_000_000_001
# Odd and above 2**53, so a float-based JSON parser would corrupt every one of them.
_FIRST_GENERATED_CONTACT_ID = 11_751_623_441_300_001
_FIRST_GENERATED_MESSAGE_ID = 4_200_000_001
_GENERATED_EPOCH_MS = 1_633_046_400_000  # 2021-10-01T00:00:00Z
_PDT = dt.timezone(dt.timedelta(hours=-7), "PDT")

_ROUTES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("GET", "conversations_list", re.compile(r"^/conversations/list/?$")),
    ("GET", "transcript", re.compile(r"^/conversations/([^/]+)/transcript/?$")),
    ("GET", "messages", re.compile(r"^/conversations/([^/]+)/messages/?$")),
    ("GET", "conversation", re.compile(r"^/conversations/([^/]+)/?$")),
    ("GET", "contact", re.compile(r"^/contacts/([^/]+)/?$")),
    ("GET", "users_list", re.compile(r"^/users/list/?$")),
    ("GET", "user", re.compile(r"^/users/([^/]+)/?$")),
    ("POST", "gdpr_delete", re.compile(r"^/gdpr/delete/?$")),
)

_ASCII_NAMES = [
    ("Ada", "Lovelace", "Analytical Engines Ltd", "Countess"),
    ("Grace", "Hopper", "Navy Computing", "Rear Admiral"),
    ("Alan", "Turing", "Bletchley Park", "Cryptanalyst"),
    ("Katherine", "Johnson", "NASA Langley", "Mathematician"),
    ("Linus", "Pauling", "Caltech", "Professor"),
    ("Barbara", "Liskov", "MIT", "Institute Professor"),
]
_NON_ASCII_NAMES = [
    ("Jürgen", "Groß", "Müller & Söhne GmbH", "Geschäftsführer"),
    ("Zoë", "Ångström", "Ørsted Åbo", "Fysiker"),
    ("李", "娜", "北京科技有限公司", "经理"),
    ("José", "Muñoz", "Compañía Ñandú", "Director técnico"),
    ("Siobhán", "Ó Briain", "Éire Teoranta", "Stiúrthóir"),
    ("Дмитрий", "Соколов", "ООО «Ромашка»", "Директор"),  # noqa: RUF001
]
_ASCII_PLACES = [
    ("Boston", "Massachusetts", "United States", "Boston, MA, US"),
    ("Austin", "Texas", "United States", "Austin, TX, US"),
    ("London", "England", "United Kingdom", "London, GB"),
]
_NON_ASCII_PLACES = [
    ("München", "Bayern", "Deutschland", "München, BY, DE"),
    ("São Paulo", "São Paulo", "Brasil", "São Paulo, SP, BR"),
    ("Zürich", "Zürich", "Schweiz", "Zürich, ZH, CH"),
]
_ASCII_CONTACT_LINES = [
    "Hi, I have a question about pricing.",
    "Can I get a demo next week?",
    "Thanks, that helps!",
    "Does it integrate with our CRM?",
]
_NON_ASCII_CONTACT_LINES = [
    "Grüße — 你好 — 👋",
    "Ça marche, merci beaucoup ! «très bien»",
    "Привет! Нужна помощь с заказом №42",  # noqa: RUF001
    "ありがとうございます 🙏 — naïve café",
]
_AGENT_LINES = [
    "Hey there!  How can I help?",
    "Sure, let me check that for you.",
    "You can grab a time on my calendar here.",
    "Anything else I can do?",
]
_TAGS = [
    {"color": "ff0000", "name": "hot-lead"},
    {"color": "00ff00", "name": "support"},
    {"color": "0000ff", "name": "pricing"},
]


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


def _transcript_stamp(ms: int) -> str:
    """Drift's transcript time stamp, e.g. ``Sep 21,\\n09: 07: 46 AM PDT``."""
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).astimezone(_PDT)
    return f"{t:%b} {t.day},\n{t:%I}: {t:%M}: {t:%S} {t:%p} PDT"


class SimulatorError(ValueError):
    """A control-plane call with bad arguments."""


class DriftSimulator(BackgroundServer):
    """Drift's REST API, faked over loopback HTTP (see the module docstring)."""

    thread_name = "drift-simulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        access_token: str = "local-access-token",  # noqa: S107 - the local default
        latency: float = 0.0,
        seed: bool = True,
        *,
        users_list_shape: str = "data",
        hide_from_list: Iterable[int] | None = None,
        timeout_seconds: float = 30.0,
        rng_seed: int = seed_data.ORG_ID,
        conversations_list_order: str = "newest",
    ) -> None:
        """``conversations_list_order``: ``newest`` (``updatedAt`` descending, as Drift seems
        to answer) or ``shuffled`` (a fixed pseudo-random order: Drift does not document
        one, so callers must not rely on it)."""
        super().__init__(host, port)
        if conversations_list_order not in CONVERSATIONS_LIST_ORDERS:
            raise SimulatorError(
                f"conversations_list_order must be one of {CONVERSATIONS_LIST_ORDERS}"
            )
        self.conversations_list_order = conversations_list_order
        self._list_seed = rng_seed
        self._lock = threading.RLock()
        self._initial = {
            "access_token": access_token,
            "latency": float(latency),
            "users_list_shape": users_list_shape,
            "hide_from_list": set(hide_from_list or ()),
            "timeout_seconds": float(timeout_seconds),
        }
        self._conversations: dict[int, dict[str, Any]] = {}
        self._contacts: dict[int, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._transcripts: dict[int, str] = {}
        self._messages: dict[int, list[dict[str, Any]]] = {}
        self._rng = random.Random(rng_seed)
        self._next_conversation_id = _FIRST_GENERATED_CONVERSATION_ID
        self._next_message_id = _FIRST_GENERATED_MESSAGE_ID
        self._generated = 0
        self._counts: Counter[str] = Counter()
        self._calls: dict[str, deque[tuple[str, dict[str, str]]]] = {}
        self._faults: dict[str, deque[list[Any]]] = {}
        self._gdpr_deletions: list[str] = []
        self._latency: dict[str, float] = {}
        self.reset()
        if seed:
            self._load_seed()

    # -- data -------------------------------------------------------------------------------

    def _load_seed(self) -> None:
        with self._lock:
            for user in seed_data.sample_users():
                self._users[user["id"]] = user
            self.add_conversation(
                seed_data.sample_conversation(),
                contact=seed_data.sample_contact(),
                transcript=seed_data.SAMPLE_TRANSCRIPT,
                messages=seed_data.sample_messages(),
            )

    def add_user(self, user: dict[str, Any]) -> None:
        """Add or replace a user (served by /users/{id} and, unless hidden, /users/list)."""
        with self._lock:
            self._users[int(user["id"])] = copy.deepcopy(user)

    def add_conversation(
        self,
        conversation: dict[str, Any],
        *,
        contact: dict[str, Any] | None = None,
        transcript: str = "",
        messages: list[dict[str, Any]] | None = None,
    ) -> int:
        """Add or replace a conversation (and its contact, transcript and messages)."""
        with self._lock:
            conversation_id = int(conversation["id"])
            self._conversations[conversation_id] = copy.deepcopy(conversation)
            if contact is not None:
                self._contacts[int(contact["id"])] = copy.deepcopy(contact)
            self._transcripts[conversation_id] = transcript
            self._messages[conversation_id] = copy.deepcopy(messages or [])
            return conversation_id

    def get_conversation(self, conversation_id: int) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._conversations[conversation_id])

    def get_contact(self, contact_id: int) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._contacts[contact_id])

    def get_user(self, user_id: int) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._users[user_id])

    def get_transcript(self, conversation_id: int) -> str:
        with self._lock:
            return self._transcripts[conversation_id]

    def get_messages(self, conversation_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._messages[conversation_id])

    def conversation_ids(self) -> list[int]:
        with self._lock:
            return list(self._conversations)

    def gdpr_deletions(self) -> list[str]:
        """E-mails received by POST /gdpr/delete, oldest first."""
        with self._lock:
            return list(self._gdpr_deletions)

    def generate_conversations(
        self,
        n: int,
        start_id: int | None = None,
        messages_per_conversation: int = 3,
        non_ascii: bool = False,
    ) -> list[int]:
        """Add ``n`` conversations with ids ``start_id..start_id+n-1``; return their ids.

        Each gets its own contact (id odd and above 2**53), participants among the known users,
        ``messages_per_conversation`` chat messages alternating contact/agent, and a transcript in
        Drift's format built from them. ``non_ascii`` puts accents, CJK and emoji in names and
        texts. Deterministic: the same sequence of calls on a fresh simulator gives the same data.
        """
        if n < 0 or messages_per_conversation < 0:
            raise SimulatorError("n and messages_per_conversation must be >= 0")
        with self._lock:
            if start_id is None:
                start_id = self._next_conversation_id
            ids = list(range(start_id, start_id + n))
            taken = [i for i in ids if i in self._conversations]
            if taken:
                raise SimulatorError(f"conversation ids already exist: {taken[:5]}")
            users = [u for u in self._users.values() if not u.get("bot")]
            if not users:
                raise SimulatorError("no users to take part in generated conversations")
            for conversation_id in ids:
                self._generate_one(conversation_id, users, messages_per_conversation, non_ascii)
            self._next_conversation_id = max(self._next_conversation_id, start_id + n)
            return ids

    def _generate_one(
        self,
        conversation_id: int,
        users: list[dict[str, Any]],
        message_count: int,
        non_ascii: bool,
    ) -> None:
        rng = self._rng
        index = self._generated
        self._generated += 1
        first, last, company, title = rng.choice(_NON_ASCII_NAMES if non_ascii else _ASCII_NAMES)
        city, state, country, display = rng.choice(
            _NON_ASCII_PLACES if non_ascii else _ASCII_PLACES
        )
        contact_lines = _NON_ASCII_CONTACT_LINES if non_ascii else _ASCII_CONTACT_LINES
        contact_id = _FIRST_GENERATED_CONTACT_ID + 2 * index
        email = f"visitor{index}@example.com"
        created_at = _GENERATED_EPOCH_MS + index * 3_600_000 + rng.randrange(600_000)
        participants = rng.sample(users, k=min(len(users), rng.randint(1, 2)))
        agent = participants[0]

        messages: list[dict[str, Any]] = []
        transcript_lines: list[str] = []
        at = created_at
        for m in range(message_count):
            at += rng.randrange(1_000, 30_000)
            from_contact = m % 2 == 1
            text = rng.choice(contact_lines if from_contact else _AGENT_LINES)
            if non_ascii and m == 1:
                text = _NON_ASCII_CONTACT_LINES[0]  # every non-ASCII transcript has "Grüße …"
            messages.append(
                seed_data.make_message(
                    message_id=self._next_message_id,
                    conversation_id=conversation_id,
                    author_type="contact" if from_contact else "user",
                    author_id=contact_id if from_contact else agent["id"],
                    bot=False,
                    created_at=at,
                    text=text,
                    org_id=seed_data.ORG_ID,
                )
            )
            self._next_message_id += 1
            who = email if from_contact else agent.get("name", str(agent["id"]))
            transcript_lines.append(f"{_transcript_stamp(at)} {who}: {text}")

        conversation: dict[str, Any] = {
            "status": rng.choice(["closed", "closed", "open", "pending"]),
            "participants": [u["id"] for u in participants],
            "contactId": contact_id,
            "createdAt": created_at,
            "id": conversation_id,
            "inboxId": seed_data.SAMPLE_INBOX_ID,
            "updatedAt": at if message_count else created_at,
            "conversationTags": rng.sample(_TAGS, k=rng.randint(0, 2)),
        }
        if rng.random() < 0.5:
            conversation["relatedPlaybookId"] = seed_data.SAMPLE_PLAYBOOK_ID + rng.randrange(10)
        contact = {
            "id": contact_id,
            "createdAt": created_at - rng.randrange(86_400_000),
            "attributes": {
                "email": email,
                "name": f"{first} {last}",
                "display_name": f"{first} {last}",
                "first_name": first,
                "last_name": last,
                "phone": f"+1-617-555-{index % 10_000:04d}",
                "employment_name": company,
                "employment_title": title,
                "city": city,
                "state": state,
                "country": country,
                "display_location": display,
                "externalId": f"ext-{index:06d}",
                "tags": [],
                "events": {},
                "socialProfiles": {},
                "start_date": created_at,
            },
        }
        self.add_conversation(
            conversation,
            contact=contact,
            transcript="\n".join(transcript_lines),
            messages=messages,
        )

    # -- configuration ----------------------------------------------------------------------

    def configure(
        self,
        *,
        users_list_shape: str | None = None,
        hide_from_list: Iterable[int] | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        """Change how /users/list answers, which users it hides, or how long "timeout" hangs."""
        with self._lock:
            if users_list_shape is not None:
                if users_list_shape not in USERS_LIST_SHAPES:
                    raise SimulatorError(f"users_list_shape must be one of {USERS_LIST_SHAPES}")
                self._users_list_shape = users_list_shape
            if hide_from_list is not None:
                self._hide_from_list = {int(i) for i in hide_from_list}
            if timeout_seconds is not None:
                self._timeout_seconds = float(timeout_seconds)

    @property
    def users_list_shape(self) -> str:
        return self._users_list_shape

    @users_list_shape.setter
    def users_list_shape(self, value: str) -> None:
        self.configure(users_list_shape=value)

    @property
    def hide_from_list(self) -> set[int]:
        with self._lock:
            return set(self._hide_from_list)

    @hide_from_list.setter
    def hide_from_list(self, value: Iterable[int]) -> None:
        self.configure(hide_from_list=value)

    @property
    def timeout_seconds(self) -> float:
        return self._timeout_seconds

    @timeout_seconds.setter
    def timeout_seconds(self, value: float) -> None:
        self.configure(timeout_seconds=value)

    @property
    def access_token(self) -> str:
        return self._access_token

    def rotate_access_token(self, new: str) -> None:
        """Accept only ``new`` from now on; the previous token gets 403."""
        if not new:
            raise SimulatorError("access token must be non-empty")
        with self._lock:
            self._access_token = new

    def set_latency(self, seconds: float, endpoint: str | None = None) -> None:
        """Delay every answer of ``endpoint`` (None: of every endpoint) by ``seconds``."""
        if seconds < 0:
            raise SimulatorError("latency must be >= 0")
        with self._lock:
            if endpoint is None:
                self._latency_default = float(seconds)
                self._latency.clear()
            else:
                self._check_endpoint(endpoint, allow_any=False)
                self._latency[endpoint] = float(seconds)

    def latency_for(self, endpoint: str) -> float:
        with self._lock:
            return self._latency.get(endpoint, self._latency_default)

    # -- faults -----------------------------------------------------------------------------

    @staticmethod
    def _check_endpoint(endpoint: str, *, allow_any: bool) -> None:
        if endpoint not in ENDPOINTS and not (allow_any and endpoint == ANY_ENDPOINT):
            raise SimulatorError(f"unknown endpoint {endpoint!r}; one of {ENDPOINTS}")

    def add_fault(self, endpoint: str, kind: str, times: int | None = 1) -> None:
        """Queue a fault for ``endpoint`` ("*" = any); consumed FIFO; ``times=None``: forever."""
        kind = str(kind)
        self._check_endpoint(endpoint, allow_any=True)
        if kind not in FAULT_KINDS:
            raise SimulatorError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        if times is not None and times < 1:
            raise SimulatorError("times must be >= 1 or None")
        with self._lock:
            self._faults.setdefault(endpoint, deque()).append([kind, times])

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> dict[str, list[tuple[str, int | None]]]:
        with self._lock:
            return {ep: [(k, t) for k, t in q] for ep, q in self._faults.items() if q}

    def _take_fault(self, endpoint: str) -> str | None:
        with self._lock:
            for key in (endpoint, ANY_ENDPOINT):
                queue = self._faults.get(key)
                if not queue:
                    continue
                head = queue[0]
                kind, remaining = head
                if remaining is not None:
                    if remaining <= 1:
                        queue.popleft()
                    else:
                        head[1] = remaining - 1
                return kind
            return None

    # -- calls ------------------------------------------------------------------------------

    def _record_call(self, endpoint: str, path: str, query: dict[str, list[str]]) -> None:
        with self._lock:
            self._counts[endpoint] += 1
            self._calls.setdefault(endpoint, deque(maxlen=MAX_CALLS_KEPT)).append(
                (path, {k: v[0] for k, v in query.items() if v})
            )

    def call_counts(self) -> dict[str, int]:
        """Requests per endpoint (every endpoint listed, 0 when never called)."""
        with self._lock:
            return {endpoint: self._counts.get(endpoint, 0) for endpoint in ENDPOINTS}

    def calls(self, endpoint: str) -> list[tuple[str, dict[str, str]]]:
        """``(path, {query param: first value})`` of each call to ``endpoint``, oldest first."""
        self._check_endpoint(endpoint, allow_any=False)
        with self._lock:
            return list(self._calls.get(endpoint, ()))

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()
            self._calls.clear()

    def reset(self) -> None:
        """Back to the constructor's settings: no faults, no counts, initial token, latency and
        /users/list behaviour, no recorded GDPR deletions. Conversations are kept."""
        with self._lock:
            self._faults.clear()
            self._counts.clear()
            self._calls.clear()
            self._gdpr_deletions.clear()
            self._access_token = self._initial["access_token"]
            self._latency_default = self._initial["latency"]
            self._latency.clear()
            self._users_list_shape = self._initial["users_list_shape"]
            self._hide_from_list = set(self._initial["hide_from_list"])
            self._timeout_seconds = self._initial["timeout_seconds"]

    def token_ok(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return False
        with self._lock:
            expected = self._access_token
        return hmac.compare_digest(token.strip().encode(), expected.encode())

    # -- API answers (status, body or text) -------------------------------------------------

    def _answer(
        self, endpoint: str, arg: str | None, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        """Status and JSON body (or a ``str`` for text/plain) for an authenticated API call."""
        with self._lock:
            if endpoint == "users_list":
                hidden = self._hide_from_list
                users = [copy.deepcopy(u) for i, u in self._users.items() if i not in hidden]
                return 200, users if self._users_list_shape == "bare" else {"data": users}
            if endpoint == "conversations_list":
                return self._conversations_list(query)
            if endpoint == "gdpr_delete":
                email = body.get("email") if isinstance(body, dict) else None
                if not isinstance(email, str) or not email:
                    return 400, _error("validation_error", "email is required")
                self._gdpr_deletions.append(email)
                return 200, {"data": {"message": "ok"}}

            what = {"contact": "contact", "user": "user"}.get(endpoint, "conversation")
            try:
                key = int(arg or "")
            except ValueError:
                return 404, _error("not_found", f"{what} {arg!r} not found")
            table: dict[int, Any] = {
                "contact": self._contacts,
                "user": self._users,
            }.get(endpoint, self._conversations)
            if key not in table:
                return 404, _error("not_found", f"{what} {key} not found")
            if endpoint == "transcript":
                return 200, self._transcripts.get(key, "")
            if endpoint == "messages":
                return self._messages_page(key, query)
            return 200, {"data": table[key]}

    @staticmethod
    def _cursor(query: dict[str, list[str]]) -> int | None:
        raw = (query.get("next") or query.get("page_token") or [""])[0]
        if raw == "":
            return 0
        try:
            offset = int(raw)
        except ValueError:
            return None
        return offset if offset >= 0 else None

    def _messages_page(self, conversation_id: int, query: dict[str, list[str]]) -> tuple[int, Any]:
        offset = self._cursor(query)
        if offset is None:
            return 400, _error("validation_error", "invalid next cursor")
        messages = self._messages.get(conversation_id, [])
        page = messages[offset : offset + MESSAGES_PAGE_SIZE]
        end = offset + len(page)
        more = end < len(messages)
        pagination: dict[str, Any] = {"more": more}
        if more:
            pagination["next"] = str(end)
        return 200, {"data": {"messages": page}, "pagination": pagination}

    def _shuffled_position(self, conversation: dict[str, Any]) -> bytes:
        """A stable pseudo-random rank: the same for every page of one walk, so cursors hold."""
        key = f"{self._list_seed}:{conversation['id']}".encode()
        return hashlib.sha256(key).digest()

    def _conversations_list(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        offset = self._cursor(query)
        if offset is None:
            return 400, _error("validation_error", "invalid next cursor")
        raw_limit = (query.get("limit") or [""])[0]
        try:
            limit = int(raw_limit) if raw_limit else CONVERSATIONS_LIST_DEFAULT_LIMIT
        except ValueError:
            return 400, _error("validation_error", "limit must be an integer")
        if limit < 1:
            return 400, _error("validation_error", "limit must be >= 1")
        limit = min(limit, CONVERSATIONS_LIST_MAX_LIMIT)
        # Newest updatedAt first, or shuffled; nothing is filtered server-side (updatedAfter,
        # statusId are accepted and ignored): the caller filters by time.
        if self.conversations_list_order == "shuffled":
            ordered = sorted(self._conversations.values(), key=self._shuffled_position)
        else:
            ordered = sorted(
                self._conversations.values(),
                key=lambda c: (c["updatedAt"], c["id"]),
                reverse=True,
            )
        page = ordered[offset : offset + limit]
        end = offset + len(page)
        more = end < len(ordered)
        pagination: dict[str, Any] = {"more": more}
        if more:
            pagination["next"] = str(end)
        return 200, {"data": page, "pagination": pagination}


# -- HTTP -----------------------------------------------------------------------------------


class _SimulatorHandler(BaseHandler):
    server_version = "drift-simulator"

    @property
    def sim(self) -> DriftSimulator:
        return self.server.app

    def _dispatch(self) -> None:
        if not self._prepare():
            return
        try:
            if self.route.startswith("/_sim/"):
                self._control()
            else:
                self._api()
        except Exception as exc:  # a bug in the fake must not look like a hang
            self.send_json(500, _error("internal_error", f"simulator error: {exc!r}"))

    # -- the fake Drift API -----------------------------------------------------------------

    def _api(self) -> None:
        wrong_method = False
        for method, endpoint, pattern in _ROUTES:
            match = pattern.match(self.route)
            if match is None:
                continue
            if method != self.command:
                wrong_method = True
                continue
            self._serve(endpoint, match.group(1) if pattern.groups else None)
            return
        if wrong_method:
            self.send_json(405, _error("validation_error", f"{self.command} not allowed here"))
        else:
            self.send_json(404, _error("not_found", f"no route for {self.command} {self.route}"))

    def _serve(self, endpoint: str, arg: str | None) -> None:
        sim = self.sim
        sim._record_call(endpoint, self.route, self.query)
        if not self.pause(sim.latency_for(endpoint)):
            self.drop_connection(reset=False)  # stopping
            return
        fault = sim._take_fault(endpoint)
        if fault is not None:
            self._fault(fault)
            return
        if not sim.token_ok(self.headers.get("Authorization")):
            self.send_json(403, _error("authentication_error", "invalid or missing access token"))
            return
        status, body = sim._answer(endpoint, arg, self.query, self.json_body())
        if isinstance(body, str):
            self.send_bytes(status, body.encode("utf-8"), "text/plain; charset=utf-8")
        else:
            self.send_json(status, body)

    def _fault(self, kind: str) -> None:
        if kind == "429":
            self.send_json(429, _error("rate_limit", "rate limit exceeded"))
        elif kind == "429_retry_after":
            self.send_json(429, _error("rate_limit", "rate limit exceeded"), {"Retry-After": "1"})
        elif kind == "500":
            self.send_json(500, _error("internal_error", "internal server error"))
        elif kind in ("502", "503"):
            # What a load balancer in front of the API answers: HTML, not Drift's JSON envelope.
            reason = "Bad Gateway" if kind == "502" else "Service Unavailable"
            page = f"<html><body><h1>{kind} {reason}</h1></body></html>".encode()
            self.send_bytes(int(kind), page, "text/html; charset=utf-8")
        elif kind == "403":
            self.send_json(403, _error("authentication_error", "token revoked or expired"))
        elif kind == "404":
            self.send_json(404, _error("not_found", "not found"))
        elif kind == "timeout":
            self.pause(self.sim.timeout_seconds)
            self.drop_connection(reset=False)
        elif kind == "reset":
            self.drop_connection(reset=True)
        else:  # pragma: no cover - add_fault validates kinds
            raise AssertionError(kind)

    # -- the control plane (no auth) --------------------------------------------------------

    def _control(self) -> None:
        sim = self.sim
        route = self.route.rstrip("/")
        body = self.json_body()
        if self.command == "GET" and route == "/_sim/health":
            self.send_json(200, {"ok": True})
            return
        if self.command == "GET" and route == "/_sim/calls":
            self.send_json(200, sim.call_counts())
            return
        if self.command == "GET" and route == "/_sim/gdpr":
            self.send_json(200, {"emails": sim.gdpr_deletions()})
            return
        if self.command != "POST":
            self.send_json(404, _error("not_found", f"no control route {self.command} {route}"))
            return
        if not isinstance(body, dict):
            body = {}
        try:
            if route == "/_sim/faults":
                times = body.get("times", 1)
                sim.add_fault(str(body.get("endpoint", "")), str(body.get("kind", "")), times)
                self.send_json(200, {"ok": True, "pending": sim.pending_faults()})
            elif route == "/_sim/faults/clear":
                sim.clear_faults()
                self.send_json(200, {"ok": True})
            elif route == "/_sim/latency":
                sim.set_latency(float(body.get("seconds", 0)), body.get("endpoint"))
                self.send_json(200, {"ok": True})
            elif route == "/_sim/token":
                sim.rotate_access_token(str(body.get("access_token", "")))
                self.send_json(200, {"ok": True})
            elif route == "/_sim/generate":
                ids = sim.generate_conversations(
                    int(body.get("n", 1)),
                    start_id=body.get("start_id"),
                    messages_per_conversation=int(body.get("messages_per_conversation", 3)),
                    non_ascii=bool(body.get("non_ascii", False)),
                )
                self.send_json(200, {"ids": ids})
            elif route == "/_sim/config":
                sim.configure(
                    users_list_shape=body.get("users_list_shape"),
                    hide_from_list=body.get("hide_from_list"),
                    timeout_seconds=body.get("timeout_seconds"),
                )
                self.send_json(200, {"ok": True})
            elif route == "/_sim/reset":
                sim.reset()
                self.send_json(200, {"ok": True})
            else:
                self.send_json(404, _error("not_found", f"no control route POST {route}"))
        except (SimulatorError, TypeError, ValueError) as exc:
            self.send_json(400, _error("validation_error", str(exc)))


DriftSimulator.handler_class = _SimulatorHandler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.drift_simulator", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--access-token", default="local-access-token")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    parser.add_argument("--generate", type=int, default=0, metavar="N", help="N more conversations")
    parser.add_argument("--messages-per-conversation", type=int, default=3)
    parser.add_argument("--non-ascii", action="store_true", help="generated data in many scripts")
    parser.add_argument("--users-list-shape", choices=USERS_LIST_SHAPES, default="data")
    parser.add_argument(
        "--hide-from-list", default="", help="comma-separated user ids left out of /users/list"
    )
    parser.add_argument("--timeout-seconds", type=float, default=30.0)
    parser.add_argument("--no-seed", action="store_true", help="start without the seed sample")
    parser.add_argument(
        "--conversations-list-order", choices=CONVERSATIONS_LIST_ORDERS, default="newest"
    )
    args = parser.parse_args(argv)

    sim = DriftSimulator(
        host=args.host,
        port=args.port,
        access_token=args.access_token,
        latency=args.latency,
        seed=not args.no_seed,
        users_list_shape=args.users_list_shape,
        hide_from_list=[int(i) for i in args.hide_from_list.split(",") if i.strip()],
        timeout_seconds=args.timeout_seconds,
        conversations_list_order=args.conversations_list_order,
    )
    if args.generate:
        sim.generate_conversations(
            args.generate,
            messages_per_conversation=args.messages_per_conversation,
            non_ascii=args.non_ascii,
        )
    return serve_until_signalled(sim, "drift-simulator listening on")


if __name__ == "__main__":
    sys.exit(main())
