"""The loopback HTTP server machinery the Drift simulator and the CRM sink share.

A ``ThreadingHTTPServer`` (one daemon thread per connection, HTTP/1.1 keep-alive with exact
``Content-Length``, a listen backlog of 128) run in a background thread, plus a handler base
class with JSON helpers and the ways a fake server misbehaves on purpose (drop the connection,
reset it, hang until told to stop).
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from shared import jsonutil

MAX_BODY_BYTES = 16 * 1024 * 1024
_QUIET_ERRORS = (OSError,)  # ConnectionError, TimeoutError: the client went away


def dumps(obj: Any) -> bytes:
    """JSON bytes. Python's json writes ints exactly, so ids above 2**53 survive; text UTF-8
    cannot hold (a lone surrogate) is written escaped, as a real API's JSON encoder does."""
    return jsonutil.dumps(obj)


class _LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: Any):
        self.app = app
        self.stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    def close_all_connections(self) -> None:
        """Shut down every open connection, so idle keep-alive clients cannot outlive stop()."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, _QUIET_ERRORS) or self.stopping.is_set():
            return  # clients hanging up is business as usual for a fault injector
        super().handle_error(request, client_address)


class _LoopbackHTTPServer6(_LoopbackHTTPServer):
    address_family = socket.AF_INET6


class BaseHandler(BaseHTTPRequestHandler):
    """Handler base: HTTP/1.1, quiet, no Nagle delay, body read up front, JSON helpers."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    # Idle keep-alive connections are dropped after this many seconds (frees their thread).
    timeout = 120
    server: _LoopbackHTTPServer
    server_version = "devtools"
    sys_version = ""

    # Set by _prepare() for each request.
    body: bytes
    route: str
    query: dict[str, list[str]]

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    # Every method goes to the subclass's ``_dispatch`` (which answers 405 where it must).
    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fakes serve thousands of requests; per-request lines would drown output."""

    # -- request plumbing -------------------------------------------------------------------

    def _prepare(self) -> bool:
        """Split the target and read the body; False when the request was already answered."""
        parts = urlsplit(self.path)
        self.route = parts.path or "/"
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.body = b""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            try:
                self.body = self._read_chunked()
            except ValueError:
                self.send_json(400, {"error": {"type": "validation_error", "message": "bad chunk"}})
                self.close_connection = True
                return False
            return True
        length_header = self.headers.get("Content-Length")
        if length_header:
            try:
                length = int(length_header)
                if length < 0:
                    raise ValueError(length_header)
            except ValueError:
                self.send_json(
                    400, {"error": {"type": "validation_error", "message": "bad length"}}
                )
                self.close_connection = True
                return False
            if length > MAX_BODY_BYTES:
                self.send_json(413, {"error": {"type": "validation_error", "message": "too big"}})
                self.close_connection = True
                return False
            self.body = self.rfile.read(length)
        return True

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(65537)
            size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError("too big")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65537)

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json_body(self) -> Any:
        """The body parsed as JSON, or None when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    # -- answers ----------------------------------------------------------------------------

    def send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, dumps(obj), "application/json", headers)

    def drop_connection(self, *, reset: bool) -> None:
        """Close without answering; with ``reset`` the peer gets a TCP RST, not a FIN."""
        self.close_connection = True
        try:
            if reset:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            self.connection.close()
        except OSError:
            pass

    def pause(self, seconds: float) -> bool:
        """Sleep, cut short by the server stopping; True when the full time elapsed."""
        if seconds <= 0:
            return not self.server.stopping.is_set()
        return not self.server.stopping.wait(seconds)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _QUIET_ERRORS:
            self.close_connection = True


class BackgroundServer:
    """Start/stop/context-manager plumbing for a loopback server run in a daemon thread."""

    handler_class: type[BaseHandler]
    thread_name = "devtools-server"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: _LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            return self
        server_class = _LoopbackHTTPServer6 if ":" in self.host else _LoopbackHTTPServer
        server = server_class((self.host, self.port), self.handler_class, self)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},  # stop() waits at most this long
            name=f"{self.thread_name}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.stopping.set()  # wakes handlers sleeping in latency / timeout / slow faults
        server.shutdown()
        server.close_all_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """``http://HOST:PORT``; still valid after stop() (a restart reuses the port)."""
        if not self.port:
            raise RuntimeError("server not started")
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_until_signalled(server: BackgroundServer, banner: str) -> int:
    """Start ``server``, print ``banner`` + its URL, serve until SIGTERM/SIGINT; exit status 0."""
    done = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        done.set()

    previous: dict[int, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, _on_signal)
    try:
        server.start()
        print(f"{banner} {server.url}", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
