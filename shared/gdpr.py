"""GDPR deletion requests: the typed request, the document a recipe renders, and the policy.

``gdpr_delete_requested`` is the one action the bridge takes on the webhook's body alone: Drift
sends no API record to check it against. The body is trusted because the webhook verified the
Drift app's token (in constant time) before publishing it, and only the worker's service account
can publish to the events topic. The request names the contact by email and/or Drift contact id;
a bare ``id`` is not read as one. ``GDPR_ACTION`` chooses what happens:

* ``delete`` (default): the recipe's ``gdpr`` steps run (a deletion through the CRM's API);
* ``report``: nothing is deleted; the request is logged and dead-lettered with the reason
  "GDPR_ACTION=report", so a person acts on it from the dead-letter subscription.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.errors import PermanentError
from shared.events import DriftEvent, GdprDeleteRequested


class GdprReportedError(PermanentError):
    """``GDPR_ACTION=report``: the request is left for a person, in the dead-letter topic."""


class GdprRequest(BaseModel):
    """One deletion request, as a recipe sees it (``event.*`` and ``contact.*``)."""

    model_config = ConfigDict(frozen=True)

    event_type: str
    org_id: int | None
    key: str
    email: str | None
    contact_id: int | None

    @classmethod
    def of(cls, event: DriftEvent, payload: GdprDeleteRequested) -> GdprRequest:
        return cls(
            event_type=event.type,
            org_id=event.org_id,
            key=event.key(),
            email=payload.email,
            contact_id=payload.contact_id,
        )

    def document(self) -> dict[str, Any]:
        """What mappings and recipes render from: ``event.{type,org_id,key}`` and
        ``contact.{email,id}``."""
        return {
            "event": {"type": self.event_type, "org_id": self.org_id, "key": self.key},
            "contact": {"email": self.email, "id": self.contact_id},
        }
