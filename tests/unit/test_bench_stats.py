"""The benchmark's pure helpers: percentiles, summaries, targets, the table and /proc parsing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from bench import stats
from bench.stats import (
    Figure,
    at_least,
    at_most,
    child_breakdown,
    figures_table,
    format_number,
    format_table,
    format_value,
    importtime_by_package,
    parse_importtime,
    parse_proc_stat,
    parse_proc_status,
    percentile,
    ratio,
    self_time,
    summarize,
    throughput,
    time_by_application_function,
    top_self_frames,
)

# -- percentiles and summaries ---------------------------------------------------------------


def test_percentile_interpolates_linearly_between_closest_ranks():
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == 25.0  # rank 1.5
    assert percentile(values, 90) == pytest.approx(37.0)  # rank 2.7


def test_percentile_ignores_input_order_and_does_not_mutate_it():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 50) == 3.0
    assert values == [5.0, 1.0, 4.0, 2.0, 3.0]


def test_percentile_of_one_value_is_that_value():
    assert percentile([7.5], 99) == 7.5


def test_percentile_matches_numpy_linear_definition_on_one_to_a_hundred():
    values = list(range(1, 101))
    # numpy.percentile(range(1, 101), 99) == 99.01
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 50) == pytest.approx(50.5)


@pytest.mark.parametrize("p", [-1, 100.5, float("nan")])
def test_percentile_rejects_out_of_range(p):
    with pytest.raises(ValueError):
        percentile([1.0, 2.0], p)


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summarize_reports_every_statistic():
    summary = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert summary["n"] == 5
    assert summary["min"] == 1.0
    assert summary["max"] == 100.0
    assert summary["mean"] == pytest.approx(22.0)
    assert summary["p50"] == 3.0
    assert summary["p99"] == pytest.approx(96.16)
    with pytest.raises(ValueError):
        summarize([])


def test_ratio_and_throughput_never_raise():
    assert ratio(3, 4) == 0.75
    assert ratio(1, 0) == math.inf
    assert math.isnan(ratio(0, 0))
    assert throughput(500, 10.0) == 50.0
    assert throughput(0, 0.0) == 0.0


# -- targets and figures ----------------------------------------------------------------------


def test_at_most_and_at_least_judge_the_target_and_say_it():
    fast = at_most("s", "p50", 4.0, "ms", 5.0)
    slow = at_most("s", "p50", 6.0, "ms", 5.0)
    assert (fast.met, slow.met) == (True, False)
    assert fast.target == "<= 5.00 ms"
    assert at_most("s", "edge", 5.0, "ms", 5.0).met is True
    assert at_least("s", "rps", 100.0, "req/s", 60.0).met is True
    assert at_least("s", "rps", 10.0, "req/s", 60.0).met is False


def test_a_figure_without_a_value_has_no_verdict():
    assert at_most("s", "missing", None, "ms", 5.0).met is None


def test_figure_to_dict_is_json_safe():
    assert Figure("s", "n", math.inf, "x").to_dict()["value"] is None
    data = Figure("s", "n", 1.5, "ms", "<= 2 ms", True, "note").to_dict()
    assert data == {
        "section": "s",
        "name": "n",
        "value": 1.5,
        "unit": "ms",
        "target": "<= 2 ms",
        "met": True,
        "note": "note",
    }


# -- formatting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (0, "0"),
        (1234, "1,234"),
        (0.0, "0.00"),
        (0.1234, "0.123"),
        (1.234, "1.23"),
        (12.345, "12.35"),
        (123.45, "123.5"),
        (12345.6, "12,346"),
        (math.inf, "inf"),
        (math.nan, "nan"),
    ],
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_format_value_adds_the_unit_only_to_a_number():
    assert format_value(2.5, "ms") == "2.50 ms"
    assert format_value(None, "ms") == "-"
    assert format_value(3.0, "") == "3.00"


def test_format_table_aligns_columns():
    table = format_table(("name", "value"), [("a", "1"), ("long name", "1000")], right=(1,))
    lines = table.splitlines()
    assert lines[0] == "name       value"
    assert lines[1] == "---------  -----"
    assert lines[2] == "a              1"
    assert lines[3] == "long name   1000"


def test_format_table_rejects_ragged_rows():
    with pytest.raises(ValueError):
        format_table(("a", "b"), [("only one",)])


def test_figures_table_shows_value_target_and_verdict():
    table = figures_table(
        [at_most("webhook", "p50", 4.0, "ms", 5.0), Figure("memory", "rss", 80.0, "MiB")]
    )
    lines = table.splitlines()
    assert lines[0].split() == ["section", "measurement", "value", "target", "result"]
    assert "4.00 ms" in lines[2] and "<= 5.00 ms" in lines[2] and lines[2].endswith("met")
    assert "80.00 MiB" in lines[3] and not lines[3].endswith("met")
    assert "NOT MET" in figures_table([at_most("s", "x", 6.0, "ms", 5.0)])


# -- /proc and -X importtime parsing ----------------------------------------------------------


def test_parse_proc_status_reads_kib_fields():
    text = (
        "Name:\tpython3\nVmPeak:\t  200 kB\nVmHWM:\t  153600 kB\nVmRSS:\t  102400 kB\nThreads:\t9\n"
    )
    fields = parse_proc_status(text)
    assert fields["VmHWM"] == 153600
    assert fields["VmRSS"] == 102400
    assert "Threads" not in fields and "Name" not in fields


def test_parse_proc_stat_survives_odd_command_names():
    fields = " ".join(["S", "1", "4242", "4242"] + ["0"] * 7 + ["150", "50"] + ["0"] * 20)
    assert parse_proc_stat(f"4243 (gunicorn: worker) [x]) {fields}") == (1, 4242, 200)


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   _json
import time:      2000 |       2100 | json
import time:     30000 |      30000 |     pydantic_core._pydantic_core
import time:      5000 |      35000 |   pydantic_core
import time:     40000 |      75000 | pydantic
import time:      1000 |       1000 | shared.errors
"""


def test_parse_importtime_keeps_the_slowest_direct_imports():
    assert parse_importtime(IMPORTTIME.splitlines(), top=2) == [("pydantic", 75.0), ("json", 2.1)]


def test_importtime_by_package_sums_self_time():
    assert importtime_by_package(IMPORTTIME.splitlines()) == [
        ("pydantic", 40.0),
        ("pydantic_core", 35.0),
        ("json", 2.0),
        ("shared", 1.0),
        ("_json", 0.1),
    ]


# -- profile trees ----------------------------------------------------------------------------

ROOT = "/repo"


@dataclass
class FakeFrame:
    function: str
    file_path: str | None
    time: float
    children: list[FakeFrame] = field(default_factory=list)
    line_no: int = 1
    is_synthetic: bool = False


def tree() -> FakeFrame:
    wait = FakeFrame("wait", "/usr/lib/python3.11/threading.py", 6.0)
    publish = FakeFrame("publish", f"{ROOT}/shared/pubsub.py", 6.5, [wait])
    dumps = FakeFrame("dumps", "/usr/lib/python3.11/json/__init__.py", 1.0)
    build = FakeFrame("build_message", f"{ROOT}/shared/ingress.py", 1.2, [dumps])
    self_marker = FakeFrame("[self]", None, 0.3, is_synthetic=True)
    webhook = FakeFrame(
        "webhook", f"{ROOT}/functions/webhook/main.py", 8.0, [publish, build, self_marker]
    )
    return FakeFrame("run", f"{ROOT}/.venv/lib/site-packages/flask/app.py", 10.0, [webhook])


def test_self_time_ignores_synthetic_children():
    webhook = tree().children[0]
    assert self_time(webhook) == pytest.approx(0.3)  # 8 - 6.5 - 1.2


def test_top_self_frames_names_the_application_function_on_the_stack():
    top = top_self_frames(tree(), ROOT, top=2)
    assert top[0]["frame"].startswith("wait (")
    assert top[0]["self_seconds"] == 6.0
    assert top[0]["share"] == pytest.approx(0.6)
    assert top[0]["under"] == "publish (shared/pubsub.py:1)"
    assert top[1]["frame"].startswith("run (flask/app.py")
    assert top[1]["under"] == "(framework, no app code)"


def test_time_by_application_function_adds_up_to_the_total():
    spent = {e["function"]: e["seconds"] for e in time_by_application_function(tree(), ROOT)}
    assert spent["publish (shared/pubsub.py:1)"] == pytest.approx(6.5)
    assert spent["build_message (shared/ingress.py:1)"] == pytest.approx(1.2)
    assert spent["(framework, no app code)"] == pytest.approx(2.0)
    assert sum(spent.values()) == pytest.approx(10.0)


def test_child_breakdown_splits_a_function_by_its_callees():
    inside = child_breakdown(tree(), "webhook", "functions/webhook/main.py")
    assert inside["seconds"] == 8.0
    assert inside["children"] == {
        "publish": 6.5,
        "build_message": 1.2,
        "(self)": pytest.approx(0.3),
    }


def test_is_application_excludes_virtualenvs_and_the_benchmark():
    assert stats.is_application(f"{ROOT}/shared/pubsub.py", ROOT)
    assert not stats.is_application(f"{ROOT}/.venv/lib/x.py", ROOT)
    assert not stats.is_application(f"{ROOT}/bench/loadgen.py", ROOT)
    assert not stats.is_application("/usr/lib/python3.11/json/__init__.py", ROOT)
    assert not stats.is_application(None, ROOT)
