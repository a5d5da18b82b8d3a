"""What every vendor stand-in shares, checked on all six: the control plane, fault bookkeeping
and its refusals, the reset and server-error faults, latency, waiting for calls, unknown paths,
and the command line."""

from __future__ import annotations

import signal
import threading
import time

import pytest
import requests

from devtools.vendors import STAND_INS, StandInError, VendorStandIn
from tests.devtools import cli_helpers

TIMEOUT = 10
# One endpoint of each vendor that needs no setup to be called (its answer may be an error).
SOME_ENDPOINT = {
    "hubspot": ("POST", "/crm/v3/objects/contacts/search", "contacts.search"),
    "salesforce": ("GET", "/services/data/v62.0/query?q=SELECT+Id+FROM+Lead", "query"),
    "pipedrive": ("GET", "/api/v2/persons/search?term=ada", "persons.search"),
    "zoho": ("GET", "/crm/v8/Leads/search?email=a%40b.co", "records.search"),
    "dynamics": ("GET", "/api/data/v9.2/contacts", "contacts.query"),
    "marketo": ("GET", "/rest/v1/leads.json?filterType=email&filterValues=a", "leads.get"),
}


@pytest.fixture(params=sorted(STAND_INS))
def standin(request) -> VendorStandIn:
    with STAND_INS[request.param]() as running:
        yield running


def hit(standin: VendorStandIn) -> requests.Response:
    method, path, _ = SOME_ENDPOINT[standin.vendor]
    return requests.request(method, standin.url + path, json={} if method == "POST" else None,
                            timeout=TIMEOUT)  # fmt: skip


def test_every_stand_in_has_the_common_store_and_endpoints(standin) -> None:
    assert standin.count_persons() == 0
    assert standin.count_activities() == 0
    assert set(standin.snapshot()) == {"persons", "activities"}
    _, _, endpoint = SOME_ENDPOINT[standin.vendor]
    assert endpoint in standin.endpoints
    assert standin.call_counts()[endpoint] == 0


def test_faults_are_checked_and_consumed_in_order(standin) -> None:
    _, _, endpoint = SOME_ENDPOINT[standin.vendor]
    with pytest.raises(StandInError):
        standin.add_fault("meltdown")
    with pytest.raises(StandInError):
        standin.add_fault("rate_limit", endpoint="no.such.endpoint")
    with pytest.raises(StandInError):
        standin.add_fault("rate_limit", times=0)
    standin.add_fault("server_error", endpoint=endpoint)
    standin.add_fault("reset", endpoint=endpoint)
    assert standin.pending_faults() == {endpoint: [("server_error", 1), ("reset", 1)]}
    failed = hit(standin)
    if standin.vendor == "marketo":  # Marketo says it in the body: 200, success false, 611
        assert failed.json()["errors"][0]["code"] == "611"
    else:
        assert failed.status_code >= 500
    with pytest.raises(requests.ConnectionError):
        hit(standin)
    assert standin.pending_faults() == {}
    assert [r.fault for r in standin.calls(endpoint)] == ["server_error", "reset"]
    assert standin.calls(endpoint)[1].status == 0
    standin.clear_faults()


def test_unknown_paths_are_recorded_and_answered(standin) -> None:
    answer = requests.get(f"{standin.url}/definitely/not/an/api", timeout=TIMEOUT)
    assert 400 <= answer.status_code < 500
    [request] = standin.requests
    assert (request.endpoint, request.vendor) == ("unknown", standin.vendor)


def test_wait_for_calls_and_reset(standin) -> None:
    _, _, endpoint = SOME_ENDPOINT[standin.vendor]
    threading.Timer(0.05, hit, args=(standin,)).start()
    [call] = standin.wait_for_calls(endpoint, 1, timeout=10)
    assert call.status is not None
    with pytest.raises(TimeoutError, match=endpoint):
        standin.wait_for_calls(endpoint, 2, timeout=0.2)
    standin.reset()
    assert standin.requests == []
    assert standin.call_counts()[endpoint] == 0


def test_control_plane_health_and_faults(standin) -> None:
    base = f"{standin.url}/_standin"
    assert requests.get(f"{base}/health", timeout=TIMEOUT).json()["vendor"] == standin.vendor
    assert requests.post(f"{base}/faults", json={"kind": "server_error"}, timeout=TIMEOUT).ok
    assert requests.get(f"{base}/faults", timeout=TIMEOUT).json() == {"*": [["server_error", 1]]}
    assert requests.post(f"{base}/expire-token", timeout=TIMEOUT).ok
    assert requests.post(f"{base}/faults/clear", timeout=TIMEOUT).ok
    assert requests.get(f"{base}/calls", timeout=TIMEOUT).json() == standin.call_counts()
    assert requests.post(f"{base}/nothing", timeout=TIMEOUT).status_code == 404


def test_latency_delays_every_answer() -> None:
    with STAND_INS["hubspot"](latency=0.2) as slow:
        started = time.monotonic()
        hit(slow)
        assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("vendor", sorted(STAND_INS))
def test_cli_prints_its_url_and_stops_on_sigterm(vendor) -> None:
    process, url = cli_helpers.start_cli(f"devtools.vendors.{vendor}", f"{vendor} stand-in",
                                         "--port", "0")  # fmt: skip
    try:
        health = requests.get(f"{url}/_standin/health", timeout=TIMEOUT)
        assert health.json() == {"ok": True, "vendor": vendor}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
