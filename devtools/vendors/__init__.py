"""Loopback stand-ins for the CRM vendors' REST APIs, for tests and benchmarks.

Each answers as its vendor documents (statuses, error bodies, auth) from an in-memory store,
and shares one interface (``devtools.vendors._base``)::

    with HubSpotStandIn(token="pat") as crm:       # or Salesforce, Pipedrive, Zoho, ...
        crm.url                                    # http://127.0.0.1:PORT (API and token URLs)
        crm.rate_limit(times=1, retry_after=2)     # the vendor's own rate-limit answer
        crm.expire_token()                         # the vendor's expired-token answer
        crm.lose_answer(endpoint="contacts.create")  # write, then drop the connection
        crm.count_persons(), crm.count_activities(), crm.persons(), crm.activities()
        crm.requests                               # every RecordedRequest, for the contract
        crm.call_counts(), crm.calls("contacts.create"), crm.reset()

``tests/contract/vendor_contract.assert_all_valid(crm.requests)`` checks everything a stand-in
received against the vendor's published description of its API.
"""

from devtools.vendors._base import (
    ANY_ENDPOINT,
    EXPIRED_TOKEN,
    FAULT_KINDS,
    LOSE_ANSWER,
    RATE_LIMIT,
    RESET,
    SERVER_ERROR,
    Answer,
    RecordedRequest,
    StandInError,
    VendorStandIn,
)
from devtools.vendors.dynamics import DynamicsStandIn
from devtools.vendors.hubspot import HubSpotStandIn
from devtools.vendors.marketo import MarketoStandIn
from devtools.vendors.pipedrive import PipedriveStandIn
from devtools.vendors.salesforce import SalesforceStandIn
from devtools.vendors.zoho import ZohoStandIn

STAND_INS: dict[str, type[VendorStandIn]] = {
    cls.vendor: cls
    for cls in (
        HubSpotStandIn,
        SalesforceStandIn,
        PipedriveStandIn,
        ZohoStandIn,
        DynamicsStandIn,
        MarketoStandIn,
    )
}

__all__ = [
    "ANY_ENDPOINT",
    "EXPIRED_TOKEN",
    "FAULT_KINDS",
    "LOSE_ANSWER",
    "RATE_LIMIT",
    "RESET",
    "SERVER_ERROR",
    "STAND_INS",
    "Answer",
    "DynamicsStandIn",
    "HubSpotStandIn",
    "MarketoStandIn",
    "PipedriveStandIn",
    "RecordedRequest",
    "SalesforceStandIn",
    "StandInError",
    "VendorStandIn",
    "ZohoStandIn",
]
