"""Function processes for the benchmark: start, poll until they answer, read their memory.

Functions run under functions-framework exactly as ``devtools.stack.FunctionProcess`` starts them
(own process group; gunicorn master plus one worker). Memory is the sum over the process group
of ``/proc/<pid>/status`` fields, so the master and its forked worker are both counted.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import time
from pathlib import Path
from typing import Any

from bench.stats import parse_proc_stat, parse_proc_status
from devtools.emulator import free_port
from devtools.stack import FunctionProcess, StackError

KIB_PER_MIB = 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def function_process(
    name: str,
    target: str,
    env: dict[str, str],
    log_dir: Path,
    signature: str = "http",
    source: Path | None = None,
) -> FunctionProcess:
    """A ``FunctionProcess`` on a free port; ``source`` overrides functions/<name>/main.py
    (the no-op function and the experiments live in bench/)."""
    return FunctionProcess(
        name, target, free_port(), env, log_dir / f"{name}.log", signature, source
    )


def probe(port: int, timeout: float = 5.0) -> bool:
    """True once anything answers HTTP on ``port`` (any status is an answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def start_and_wait(process: FunctionProcess, timeout: float = 60.0, interval: float = 0.005):
    """Start ``process`` and poll until it answers; returns seconds from spawn to first answer."""
    started = time.perf_counter()
    process.start()
    deadline = started + timeout
    while True:
        assert process.process is not None
        if process.process.poll() is not None:
            tail = process.log_path.read_text(errors="replace")[-1500:]
            raise StackError(f"the {process.name} exited at start:\n{tail}")
        if probe(process.port):
            return time.perf_counter() - started
        if time.perf_counter() >= deadline:
            raise TimeoutError(f"the {process.name} did not answer within {timeout:.0f}s")
        time.sleep(interval)


def group_pids(pgid: int) -> list[int]:
    """Every live process whose process group is ``pgid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            if parse_proc_stat(stat)[1] == pgid:
                found.append(int(entry))
    return sorted(found)


def group_cpu_seconds(pgid: int | None) -> float:
    """User + system CPU seconds consumed so far by the live processes of group ``pgid``."""
    if pgid is None:
        return 0.0
    ticks = 0
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            ticks += parse_proc_stat(Path(f"/proc/{pid}/stat").read_text())[2]
    return ticks / CLOCK_TICKS


def _cpu_ticks() -> list[int]:
    """user nice system idle iowait irq softirq steal, summed over cores (/proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return [0] * 8
    return [int(value) for value in fields[:8]]


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent running something since boot (all cores)."""
    ticks = _cpu_ticks()
    return (sum(ticks) - ticks[3] - ticks[4] - ticks[7]) / CLOCK_TICKS  # not idle/iowait/steal


def steal_seconds() -> float:
    """CPU seconds the hypervisor gave to someone else while this VM wanted to run."""
    return _cpu_ticks()[7] / CLOCK_TICKS


def self_cpu_seconds() -> float:
    """CPU seconds of this process (the load generator and everything in-process)."""
    return time.process_time()


class CpuMeter:
    """CPU seconds spent by named process groups (and this process) over a block."""

    def __init__(self, groups: dict[str, int | None]) -> None:
        self.groups = groups
        self.spent: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self._wall = time.perf_counter()
        self._start = {name: group_cpu_seconds(pgid) for name, pgid in self.groups.items()}
        self._self = self_cpu_seconds()
        self._machine = machine_busy_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        for name, pgid in self.groups.items():
            self.spent[name] = group_cpu_seconds(pgid) - self._start[name]
        self.spent["load_generator"] = self_cpu_seconds() - self._self
        machine = machine_busy_seconds() - self._machine
        # Whatever else ran on the machine meanwhile (other processes: noise in the figures).
        self.spent["other_processes"] = max(0.0, machine - sum(self.spent.values()))
        self.wall = time.perf_counter() - self._wall

    def report(self, requests: int) -> dict[str, dict[str, float]]:
        """Per group: CPU seconds, cores busy on average, CPU ms per request."""
        return {
            name: {
                "cpu_seconds": spent,
                "cores_busy": spent / self.wall if self.wall else 0.0,
                "cpu_ms_per_request": spent * 1000 / requests if requests else 0.0,
            }
            for name, spent in self.spent.items()
        }


def group_memory(pgid: int | None) -> dict[str, Any]:
    """VmHWM, VmRSS and PSS of each process of the group, and their sums, in MiB."""
    if pgid is None:
        return {"pids": [], "hwm_mib": None, "rss_mib": None, "pss_mib": None, "processes": []}
    processes = []
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError):
            fields = parse_proc_status(Path(f"/proc/{pid}/status").read_text())
            pss = None
            with contextlib.suppress(OSError):
                rollup = parse_proc_status(Path(f"/proc/{pid}/smaps_rollup").read_text())
                pss = rollup.get("Pss", 0) / KIB_PER_MIB
            processes.append(
                {
                    "pid": pid,
                    "hwm_mib": fields.get("VmHWM", 0) / KIB_PER_MIB,
                    "rss_mib": fields.get("VmRSS", 0) / KIB_PER_MIB,
                    "pss_mib": pss,
                }
            )
    return {
        "pids": [p["pid"] for p in processes],
        "hwm_mib": sum(p["hwm_mib"] for p in processes),
        "rss_mib": sum(p["rss_mib"] for p in processes),
        # PSS shares the pages the gunicorn master and its forked worker have in common.
        "pss_mib": sum(p["pss_mib"] or 0 for p in processes),
        "processes": processes,
    }


class SectionMeter:
    """CPU of the whole machine over a section, split into this benchmark's (this process, its
    reaped children, the emulator) and everything else (other users of the machine)."""

    def __init__(self, emulator_pid: int | None) -> None:
        self.emulator_pid = emulator_pid

    @staticmethod
    def _ours() -> float:
        times = os.times()
        return time.process_time() + times.children_user + times.children_system

    def __enter__(self) -> SectionMeter:
        self._wall = time.perf_counter()
        self._machine = machine_busy_seconds()
        self._steal = steal_seconds()
        self._ours_start = self._ours() + group_cpu_seconds(self.emulator_pid)
        self._load = os.getloadavg()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        machine = machine_busy_seconds() - self._machine
        steal = steal_seconds() - self._steal
        ours = self._ours() + group_cpu_seconds(self.emulator_pid) - self._ours_start
        self.report = {
            "wall_seconds": wall,
            "machine_busy_cores": machine / wall if wall else 0.0,
            "bench_cores": ours / wall if wall else 0.0,
            "other_processes_cores": max(0.0, machine - ours) / wall if wall else 0.0,
            "steal_cores": steal / wall if wall else 0.0,
            "load_average_before": list(self._load),
            "load_average_after": list(os.getloadavg()),
        }
