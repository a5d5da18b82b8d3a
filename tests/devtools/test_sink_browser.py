"""The CRM sink's page in a real browser (headless Chromium): the summary a person reads first,
the transcript with its line breaks, new requests appearing without a reload while what the
person opened stays open, and the conversation filter.

Chromium is driven two ways: ``--dump-dom`` (what the page shows once loaded) and the DevTools
protocol over its WebSocket (a few lines of client below, standard library only) for what
happens while the page stays open. Without a Chromium the tests skip, unless
``DRIFT_BRIDGE_REQUIRE_BROWSER=1`` (CI) turns that into a failure.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.crm_sink import CrmSink
from devtools.emulator import wait_until
from samples import drift_seed as seed

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
FIRST_LINE, SECOND_LINE = seed.SAMPLE_TRANSCRIPT.splitlines()[:2]


@pytest.fixture(scope="module")
def browser() -> str:
    found = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if found is None:
        reason = "no Chromium here (apt-get install chromium)"
        if os.environ.get("DRIFT_BRIDGE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}, and DRIFT_BRIDGE_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    return found


def _record(conversation_id: int, name: str, email: str, transcript: str) -> dict[str, Any]:
    """A body shaped as the built-in mapping sends it."""
    return {
        "type": "conversation_push",
        "org_id": seed.ORG_ID,
        "conversation": {"id": conversation_id, "status": "closed"},
        "contact": {"id": seed.SAMPLE_CONTACT_ID, "name": name, "email": email, "company": "Acme"},
        "participants": [{"id": seed.SAMPLE_USER_ID, "name": "A Simon", "email": "a@example.com"}],
        "transcript": transcript,
    }


def _sample() -> dict[str, Any]:
    body = _record(seed.SAMPLE_CONVERSATION_ID, "Gregg Parker", seed.SEED_EMAIL, "")
    body["contact"]["company"] = "Camp Waziyatah"
    body["transcript"] = seed.SAMPLE_TRANSCRIPT
    return body


def _post(sink: CrmSink, body: dict[str, Any]) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": "k-" + str(len(data))}
    assert requests.post(f"{sink.url}/crm/records", data=data, headers=headers, timeout=10).ok


def _text(dom: str) -> str:
    """The text a person sees (tags dropped, entities decoded)."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", dom))


def test_the_page_shows_the_summary_and_the_transcript_as_text(browser, tmp_path):
    with CrmSink(signing_secret="sink-secret") as sink:
        _post(sink, _sample())
        result = subprocess.run(
            [
                browser,
                *FLAGS,
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=2000",
                "--dump-dom",
                f"{sink.url}/",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    # THEN the card's summary says whose conversation it is, before anything raw
    summary = _text(dom[dom.index('<dl class="summary">') : dom.index("</dl>")])
    assert "Gregg Parker" in summary
    assert seed.SEED_EMAIL.replace("\u00a0", " ") in summary.replace("\u00a0", " ")
    assert "Camp Waziyatah" in summary and "A Simon" in summary
    assert str(seed.SAMPLE_CONVERSATION_ID) in summary and "conversation_push" in summary
    assert "INVALID" in summary  # unsigned, and the sink checks signatures
    # AND the transcript keeps its line breaks
    transcript = _text(re.search(r"<pre class=\"transcript\">(.*?)</pre>", dom, re.S).group(1))
    assert transcript.splitlines()[:2] == [FIRST_LINE, SECOND_LINE]
    # AND the raw request is folded below the summary
    assert dom.index('<dl class="summary">') < dom.index("<details>")


# -- a page left open ------------------------------------------------------------------------


class DevTools:
    """Just enough of the Chrome DevTools protocol: one page, ``evaluate``."""

    def __init__(self, url: str) -> None:
        match = re.fullmatch(r"ws://([^/:]+):(\d+)(/.*)", url)
        assert match, url
        host, port, path = match.group(1), int(match.group(2)), match.group(3)
        self.sock = socket.create_connection((host, port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = self.sock.recv(4096)
            assert chunk, "DevTools closed the connection during the handshake"
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 101"), answer[:200]
        self._buffer = answer.split(b"\r\n\r\n", 1)[1]
        self._next_id = 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def _send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self.sock.recv(65536)
            assert chunk, "DevTools closed the connection"
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _message(self) -> str:
        parts: list[bytes] = []
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._read(8))
            payload = self._read(length)
            if opcode == 0x9:  # ping
                continue
            assert opcode != 0x8, "DevTools closed the WebSocket"
            parts.append(payload)
            if first & 0x80:  # FIN
                return b"".join(parts).decode()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self._send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._message())
            if message.get("id") == self._next_id:
                assert "error" not in message, message
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")


@contextlib.contextmanager
def _open_page(browser: str, url: str) -> Iterator[DevTools]:
    profile = Path(tempfile.mkdtemp(prefix="sink-browser-"))
    process = subprocess.Popen(
        [browser, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    tools: DevTools | None = None
    try:
        active = profile / "DevToolsActivePort"
        wait_until(lambda: active.exists() and active.read_text().strip(), 60, "Chromium")
        port = int(active.read_text().split()[0])

        def page_target() -> str | None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.loads(r.read()) if t.get("type") == "page"]
            return pages[0]["webSocketDebuggerUrl"] if pages else None

        tools = DevTools(wait_until(page_target, 30, "Chromium's page"))
        loaded = f"location.href.startsWith({json.dumps(url)}) && document.readyState"
        wait_until(lambda: tools.evaluate(loaded) == "complete", 30, "the page to load")
        yield tools
    finally:
        if tools is not None:
            tools.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def test_a_new_request_appears_without_a_reload_and_what_was_opened_stays_open(browser):
    with CrmSink() as sink:
        _post(sink, _sample())
        with _open_page(browser, f"{sink.url}/") as page:
            # GIVEN a person who opened the first request's raw view
            assert "Gregg Parker" in page.evaluate("document.querySelector('dl.summary').innerText")
            first_line = page.evaluate(
                "document.querySelector('pre.transcript').innerText.split('\\n')[0]"
            )
            assert first_line == FIRST_LINE
            page.evaluate("window.stillTheSamePage = true")
            page.evaluate("document.querySelector('#r-1 details').open = true")

            # WHEN another request reaches the CRM
            _post(
                sink,
                _record(4000000042, "Zoë Example", "zoe@example.com", "Hello\nIs it working?"),
            )

            # THEN it appears on top, without a reload, and the opened view is still open
            wait_until(
                lambda: "Zoë Example" in page.evaluate("document.body.innerText"),
                30,
                "the new request to appear on the page",
            )
            assert page.evaluate("window.stillTheSamePage") is True
            assert page.evaluate("document.querySelector('#r-1 details').open") is True
            order = page.evaluate(
                "Array.from(document.querySelectorAll('article.r')).map(a => a.dataset.seq)"
            )
            assert order == ["2", "1"]
            assert "2 accepted" in page.evaluate("document.getElementById('counts').innerText")

            # WHEN the person filters by the first conversation's id THEN only it is shown
            page.evaluate(
                "const f = document.getElementById('filter');"
                f"f.value = '{seed.SAMPLE_CONVERSATION_ID}';"
                "f.dispatchEvent(new Event('input'))"
            )
            hidden = page.evaluate(
                "Array.from(document.querySelectorAll('article.r')).map(a => a.hidden)"
            )
            assert hidden == [True, False]
