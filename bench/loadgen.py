"""A light HTTP load generator: threads, each holding one persistent ``http.client`` connection.

A fixed number of requests is split evenly over ``concurrency`` threads (request ``i`` goes to
thread ``i % concurrency``), so a run takes a bounded time. Connections are opened before the
clock starts; every thread starts at once on a barrier. Latency is measured per request from
just before ``request()`` to the last byte of the answer, in the client (so at high concurrency
it includes the client's own queueing for the GIL: on a small machine the load generator shares
the CPU with what it measures).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.stats import summarize, throughput


@dataclass
class LoadResult:
    concurrency: int
    requests: int
    wall_seconds: float
    latencies_ms: list[float]
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # connection errors (no status)
    sent_at: list[float] = field(default_factory=list)  # epoch seconds, per request index

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def failed(self) -> int:
        return self.requests - self.ok

    @property
    def requests_per_second(self) -> float:
        return throughput(self.ok, self.wall_seconds)

    def summary(self) -> dict[str, object]:
        latency = summarize(self.latencies_ms) if self.latencies_ms else {}
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "ok": self.ok,
            "failed": self.failed,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "connection_errors": self.errors,
            "wall_seconds": self.wall_seconds,
            "requests_per_second": self.requests_per_second,
            "latency_ms": latency,
        }


Body = bytes | Callable[[int], bytes]


def run_load(
    port: int,
    body: Body,
    requests: int,
    concurrency: int,
    headers: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    path: str = "/",
    timeout: float = 30.0,
) -> LoadResult:
    """POST ``requests`` bodies over ``concurrency`` keep-alive connections; wait for all."""
    if requests < 1 or concurrency < 1:
        raise ValueError("requests and concurrency must be >= 1")
    concurrency = min(concurrency, requests)
    send_headers = {"Content-Type": "application/json", **(headers or {})}
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    statuses: list[Counter[int]] = [Counter() for _ in range(concurrency)]
    errors = [0] * concurrency
    finished = [0.0] * concurrency
    sent_at = [0.0] * requests
    started: list[float] = []
    barrier = threading.Barrier(
        concurrency + 1, action=lambda: started.append(time.perf_counter()), timeout=timeout
    )

    def connect() -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.connect()
        return connection

    def worker(slot: int) -> None:
        try:
            connection = connect()
        except OSError:
            barrier.abort()  # the run cannot start: let the caller fail instead of hanging
            raise
        mine = latencies[slot]
        counts = statuses[slot]
        try:
            barrier.wait()
            for index in range(slot, requests, concurrency):
                payload = body(index) if callable(body) else body
                sent_at[index] = time.time()
                begin = time.perf_counter()
                try:
                    connection.request("POST", path, body=payload, headers=send_headers)
                    response = connection.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    errors[slot] += 1
                    connection.close()
                    connection = connect()
                    continue
                mine.append((time.perf_counter() - begin) * 1000)
                counts[response.status] += 1
                if response.will_close:
                    connection.close()
                    connection = connect()
            finished[slot] = time.perf_counter()
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(slot,), name=f"load-{slot}", daemon=True)
        for slot in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        for thread in threads:
            thread.join(timeout)
        raise RuntimeError(f"could not open {concurrency} connections to {host}:{port}") from None
    for thread in threads:
        thread.join()
    total: Counter[int] = Counter()
    for counts in statuses:
        total.update(counts)
    return LoadResult(
        concurrency=concurrency,
        requests=requests,
        wall_seconds=max(finished) - started[0],
        latencies_ms=[value for chunk in latencies for value in chunk],
        statuses=total,
        errors=sum(errors),
        sent_at=sent_at,
    )
