"""Pure helpers of the benchmark: percentiles, summaries, targets, figures and the text table.

Nothing here touches the network, processes or the clock, so ``tests/unit/test_bench_stats.py``
can check every function on plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(values: Iterable[float], p: float) -> float:
    """The ``p``-th percentile (0..100) with linear interpolation between closest ranks.

    The same definition as ``numpy.percentile(values, p)`` (method "linear"): for ``n`` sorted
    values the rank is ``p/100 * (n-1)``, interpolated between its neighbours.
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100 or math.isnan(p):
        raise ValueError(f"percentile must be within 0..100, not {p}")
    rank = p / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def summarize(values: Sequence[float]) -> dict[str, float]:
    """n, mean, min, p50, p90, p99 and max of ``values`` (which must not be empty)."""
    if not values:
        raise ValueError("summary of no values")
    return {
        "n": len(values),
        "mean": sum(values) / len(values),
        "min": min(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values),
    }


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; ``inf`` (or ``nan`` for 0/0) instead of raising."""
    if denominator == 0:
        return math.nan if numerator == 0 else math.inf
    return numerator / denominator


def throughput(count: int, seconds: float) -> float:
    """Events per second; 0 when nothing happened, ``inf`` for a zero duration."""
    if count == 0:
        return 0.0
    return ratio(count, seconds)


@dataclass
class Figure:
    """One measured number, with its unit and, when there is one, its target.

    ``met`` is None when the figure has no target (or could not be measured).
    """

    section: str
    name: str
    value: float | None
    unit: str
    target: str | None = None
    met: bool | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if isinstance(self.value, float) and not math.isfinite(self.value):
            data["value"] = None  # JSON has no inf/nan
        return data


def at_most(section: str, name: str, value: float | None, unit: str, limit: float, **kw: Any):
    """A figure whose target is ``value <= limit``."""
    met = None if value is None else value <= limit
    return Figure(section, name, value, unit, f"<= {format_number(limit)} {unit}", met, **kw)


def at_least(section: str, name: str, value: float | None, unit: str, floor: float, **kw: Any):
    """A figure whose target is ``value >= floor``."""
    met = None if value is None else value >= floor
    return Figure(section, name, value, unit, f">= {format_number(floor)} {unit}", met, **kw)


def format_number(value: float | None) -> str:
    """Three significant digits for small numbers, whole numbers with separators for large."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 10:
        return f"{value:.2f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.3f}"


def format_value(value: float | None, unit: str) -> str:
    text = format_number(value)
    return text if not unit or value is None else f"{text} {unit}"


def status_text(met: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: ""}[met]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Iterable[int] = ()):
    """A plain-text table; columns whose index is in ``right`` are right-aligned."""
    right_aligned = set(right)
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    width = len(headers)
    if any(len(row) != width for row in cells):
        raise ValueError("every row needs one cell per header")
    widths = [max(len(row[i]) for row in cells) for i in range(width)]

    def line(row: Sequence[str]) -> str:
        parts = [
            row[i].rjust(widths[i]) if i in right_aligned else row[i].ljust(widths[i])
            for i in range(width)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def figures_table(figures: Sequence[Figure]) -> str:
    """The report: one row per figure, grouped by section in the order given."""
    rows = [
        (
            f.section,
            f.name,
            format_value(f.value, f.unit),
            f.target or "",
            status_text(f.met),
        )
        for f in figures
    ]
    return format_table(("section", "measurement", "value", "target", "result"), rows, right=(2,))


def parse_proc_status(text: str) -> dict[str, int]:
    """The ``kB`` fields of ``/proc/<pid>/status`` (VmHWM, VmRSS, ...) in KiB."""
    fields: dict[str, int] = {}
    for raw in text.splitlines():
        name, _, rest = raw.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            fields[name.strip()] = int(parts[0])
    return fields


def parse_proc_stat(text: str) -> tuple[int, int, int]:
    """``(ppid, pgrp, utime + stime in clock ticks)`` from ``/proc/<pid>/stat``.

    The command name (field 2) may hold spaces and parentheses: fields are counted after the
    last ')'."""
    rest = text[text.rindex(")") + 2 :].split()
    return int(rest[1]), int(rest[2]), int(rest[11]) + int(rest[12])


def parse_importtime(lines: Iterable[str], top: int = 5) -> list[tuple[str, float]]:
    """The ``top`` slowest top-level imports in ``python -X importtime`` output, as
    ``(module, cumulative ms)``, slowest first. A top-level import is one the measured code
    made itself (no indentation before the module name)."""
    found: list[tuple[str, float]] = []
    for raw in lines:
        if not raw.startswith("import time:"):
            continue
        parts = raw[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip("\n")
        if name.startswith(" ") and not name.startswith("  "):
            found.append((name.strip(), int(parts[1]) / 1000))
    found.sort(key=lambda item: item[1], reverse=True)
    return found[:top]


# -- profile trees (pyinstrument frames, or anything with the same attributes) -------------------


def frame_label(frame: Any, root: str | None = None) -> str:
    """``function (path:line)``, the path relative to ``root`` when it lies under it."""
    path = frame.file_path or "?"
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif root and path.startswith(root.rstrip("/") + "/"):
        path = path[len(root.rstrip("/")) + 1 :]
    return f"{frame.function} ({path}:{frame.line_no})"


def is_application(path: str | None, root: str) -> bool:
    """Code of this repository (not its virtual environments, not the standard library)."""
    if not path or not path.startswith(root.rstrip("/") + "/"):
        return False
    inside = path[len(root.rstrip("/")) + 1 :]
    return not inside.startswith((".venv", "bench/"))


def _synthetic(frame: Any) -> bool:
    """pyinstrument's ``[self]``/``[await]`` pseudo-frames hold their parent's own time."""
    return bool(getattr(frame, "is_synthetic", False))


def real_children(frame: Any) -> list[Any]:
    return [child for child in frame.children if not _synthetic(child)]


def self_time(frame: Any) -> float:
    """Time in ``frame`` itself: its total minus its real (non-synthetic) children's."""
    return max(0.0, frame.time - sum(child.time for child in real_children(frame)))


def walk_frames(root: Any, app_root: str):
    """Every frame of the tree with its nearest application ancestor (itself included), or
    None when no frame of this repository is on its stack."""
    stack = [(root, None)]
    while stack:
        frame, app = stack.pop()
        if is_application(frame.file_path, app_root):
            app = frame
        yield frame, app
        stack.extend((child, app) for child in real_children(frame))


def top_self_frames(root: Any, app_root: str, top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` frames by self time (summed over every place they occur in the tree), each
    with its share of the total and the application function it most often ran under."""
    total = root.time or 1.0
    by_frame: dict[str, dict[str, Any]] = {}
    for frame, app in walk_frames(root, app_root):
        spent = self_time(frame)
        if spent <= 0:
            continue
        entry = by_frame.setdefault(
            frame_label(frame, app_root), {"self_seconds": 0.0, "callers": {}}
        )
        entry["self_seconds"] += spent
        caller = frame_label(app, app_root) if app is not None else "(framework, no app code)"
        entry["callers"][caller] = entry["callers"].get(caller, 0.0) + spent
    ranked = sorted(by_frame.items(), key=lambda item: item[1]["self_seconds"], reverse=True)
    return [
        {
            "frame": label,
            "self_seconds": entry["self_seconds"],
            "share": entry["self_seconds"] / total,
            "under": max(entry["callers"].items(), key=lambda item: item[1])[0],
        }
        for label, entry in ranked[:top]
    ]


def time_by_application_function(root: Any, app_root: str) -> list[dict[str, Any]]:
    """Self time attributed to the nearest application function on the stack: what each
    function of this repository costs, libraries it calls included."""
    total = root.time or 1.0
    spent: dict[str, float] = {}
    for frame, app in walk_frames(root, app_root):
        label = frame_label(app, app_root) if app is not None else "(framework, no app code)"
        spent[label] = spent.get(label, 0.0) + self_time(frame)
    return [
        {"function": label, "seconds": seconds, "share": seconds / total}
        for label, seconds in sorted(spent.items(), key=lambda item: item[1], reverse=True)
    ]


def child_breakdown(root: Any, function: str, path_suffix: str) -> dict[str, Any]:
    """Total time in every frame named ``function`` defined in a file ending ``path_suffix``,
    split by what it called directly (``(self)`` for its own lines)."""
    total = 0.0
    children: dict[str, float] = {}
    stack = [root]
    while stack:
        frame = stack.pop()
        if frame.function == function and (frame.file_path or "").endswith(path_suffix):
            total += frame.time
            for child in real_children(frame):
                children[child.function] = children.get(child.function, 0.0) + child.time
            children["(self)"] = children.get("(self)", 0.0) + self_time(frame)
            continue  # a recursive call would be counted twice
        stack.extend(real_children(frame))
    return {
        "seconds": total,
        "children": dict(sorted(children.items(), key=lambda item: item[1], reverse=True)),
    }


def importtime_by_package(lines: Iterable[str], top: int = 8) -> list[tuple[str, float]]:
    """Self import time summed by top-level package (``pydantic``, ``google``, ``shared``...),
    in ms, slowest first: unlike cumulative times these do not overlap, and add up to the
    whole import."""
    spent: dict[str, float] = {}
    for raw in lines:
        if not raw.startswith("import time:"):
            continue
        parts = raw[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        package = parts[2].strip().split(".")[0]
        spent[package] = spent.get(package, 0.0) + int(parts[0]) / 1000
    return sorted(spent.items(), key=lambda item: item[1], reverse=True)[:top]
