"""Structured logging (contract section 7): one Cloud Logging JSON object per line, empty fields
dropped, and no token, secret or transcript in any line, whatever carries it."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from shared import logger
from shared.logger import REDACTED, get_logger, log_context, register_secret


def fresh(prefix: str) -> str:
    """A value no other line of the run contains (registered secrets are process-wide)."""
    return f"{prefix}-{uuid.uuid4().hex}"


# --- the line format --------------------------------------------------------------------------


def test_each_call_is_one_json_object_per_line_with_the_fixed_keys(logs):
    # GIVEN a structured logger
    log = get_logger("unit.format")
    # WHEN it logs twice, once with a message spanning two lines and non-ASCII text
    log.info("webhook accepted", event_type="conversation_push", org_id=5000883)
    log.warning("first line\nsecond line", contact="Zoë")
    # THEN there are exactly two physical lines, each one JSON object
    physical = logs.text.splitlines()
    assert len(physical) == 2
    first, second = (json.loads(line) for line in physical)
    assert first["severity"] == "INFO" and first["message"] == "webhook accepted"
    assert first["logger"] == "drift_bridge.unit.format"
    assert first["event_type"] == "conversation_push" and first["org_id"] == 5000883
    assert second["severity"] == "WARNING"
    assert second["message"] == "first line\nsecond line"
    assert second["contact"] == "Zoë" and "Zoë" in physical[1]  # kept readable, not \u-escaped
    # AND time is ISO 8601 in UTC with milliseconds
    when = dt.datetime.fromisoformat(first["time"])
    assert when.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - when) < dt.timedelta(minutes=5)
    assert len(first["time"].split(".")[1]) == len("123+00:00")


@pytest.mark.parametrize(
    ("method", "severity"),
    [
        ("debug", "DEBUG"),
        ("info", "INFO"),
        ("warning", "WARNING"),
        ("error", "ERROR"),
        ("critical", "CRITICAL"),
        ("exception", "ERROR"),
    ],
)
def test_severity_names_cloud_logging_understands(logs, method, severity):
    getattr(get_logger("unit.severity"), method)("something happened")
    (line,) = logs.lines()
    assert line["severity"] == severity


def test_empty_fields_are_dropped_but_falsy_values_kept(logs):
    get_logger("unit.empty").info(
        "x", none=None, blank="", no_map={}, no_list=[], zero=0, false=False, text_zero="0"
    )
    (line,) = logs.lines()
    for dropped in ("none", "blank", "no_map", "no_list"):
        assert dropped not in line
    assert line["zero"] == 0 and line["false"] is False and line["text_zero"] == "0"


def test_values_json_cannot_encode_are_written_as_text(logs):
    when = dt.datetime(2021, 9, 22, 22, 23, 39, tzinfo=dt.UTC)
    get_logger("unit.default").info("x", when=when, ids=(1, 2), obj=object())
    (line,) = logs.lines()
    assert line["when"] == str(when)
    assert line["ids"] == [1, 2]
    assert line["obj"].startswith("<object object")


def test_level_filters_lower_severities(logs):
    # GIVEN the bridge configured at WARNING (as LOG_LEVEL=WARNING does)
    logger.configure("WARNING", stream=logs.stream)
    log = get_logger("unit.level")
    # WHEN it logs at every level
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    # THEN only WARNING and above are written
    assert [line["message"] for line in logs.lines()] == ["w", "e"]


# --- the guard by key -------------------------------------------------------------------------


def test_sensitive_keys_are_redacted_at_any_depth(logs):
    values = {name: fresh(name) for name in ("token", "api", "auth", "pw", "tx", "deep", "hdr")}
    get_logger("unit.keys").info(
        "x",
        token=values["token"],
        api_token=values["api"],
        Authorization=f"Bearer {values['auth']}",
        password=values["pw"],
        transcript=values["tx"],
        request={"headers": {"X-Verification-Token": values["hdr"]}, "body": {"token": "x"}},
        crm={"signing_secret": values["deep"], "status": 200},
        reason="kept as it is",
    )
    for value in values.values():
        assert value not in logs.text
    (line,) = logs.lines()
    assert line["token"] == line["api_token"] == line["Authorization"] == REDACTED
    assert line["password"] == line["transcript"] == REDACTED
    assert line["request"]["headers"]["X-Verification-Token"] == REDACTED
    assert line["crm"] == {"signing_secret": REDACTED, "status": 200}
    assert line["reason"] == "kept as it is"


def test_log_context_fields_are_guarded_too(logs):
    value = fresh("context-token")
    with log_context(access_token=value, conversation_id=7):
        get_logger("unit.keys").info("x")
    (line,) = logs.lines()
    assert line["access_token"] == REDACTED and line["conversation_id"] == 7
    assert value not in logs.text


# --- the guard by value -----------------------------------------------------------------------


def test_registered_secret_is_redacted_in_message_fields_and_stack_trace(logs):
    # GIVEN a secret the process has read
    secret = fresh("registered-secret")
    register_secret(secret)
    log = get_logger("unit.values")
    # WHEN it appears in a message, an innocent-looking field, a nested field
    log.info(f"calling with {secret}", url=f"https://crm.example.com/?key={secret}")
    log.warning("nested", request={"query": [secret, "other"]})
    # AND in an exception logged from inside its except block
    try:
        raise ValueError(f"Drift refused {secret}")
    except ValueError:
        log.exception("delivery failed")
    # THEN it appears nowhere, and the lines still parse with the redaction in place
    assert secret not in logs.text
    first, second, third = logs.lines()
    assert first["message"] == f"calling with {REDACTED}"
    assert first["url"].endswith(f"key={REDACTED}")
    assert second["request"]["query"] == [REDACTED, "other"]
    assert third["severity"] == "ERROR"
    assert "Traceback" in third["stack_trace"] and "ValueError" in third["stack_trace"]
    assert f"Drift refused {REDACTED}" in third["stack_trace"]


def test_error_with_exc_info_records_the_stack_trace(logs):
    secret = fresh("exc-info-secret")
    register_secret(secret)
    try:
        {}[secret]
    except KeyError:
        get_logger("unit.values").error("lookup failed", exc_info=True)
    (line,) = logs.lines()
    assert "KeyError" in line["stack_trace"] and secret not in logs.text


def test_values_shorter_than_four_characters_are_not_registered(logs):
    # GIVEN a three-character "secret", and empty ones
    register_secret("Qx7")
    register_secret("")
    register_secret(None)
    # WHEN ordinary text contains it
    get_logger("unit.values").info("value Qx7 stays")
    # THEN it is left alone (it would redact ordinary words)
    (line,) = logs.lines()
    assert line["message"] == "value Qx7 stays"


def test_four_characters_are_enough_to_register(logs):
    register_secret("Zq8W")
    get_logger("unit.values").info("value Zq8W goes")
    (line,) = logs.lines()
    assert line["message"] == f"value {REDACTED} goes"


# --- log_context ------------------------------------------------------------------------------


def test_log_context_adds_fields_inside_the_block_only(logs):
    log = get_logger("unit.context")
    with log_context(correlation_id="abc-123"):
        log.info("inside")
        with log_context(conversation_id=3275727977):
            log.info("nested")
        log.info("after nested")
    log.info("outside")
    inside, nested, after_nested, outside = logs.lines()
    assert inside["correlation_id"] == "abc-123" and "conversation_id" not in inside
    assert nested["correlation_id"] == "abc-123" and nested["conversation_id"] == 3275727977
    assert "conversation_id" not in after_nested and after_nested["correlation_id"] == "abc-123"
    assert "correlation_id" not in outside


def test_log_context_is_removed_when_the_block_raises(logs):
    log = get_logger("unit.context")
    with pytest.raises(RuntimeError), log_context(event_key="k1"):
        raise RuntimeError("boom")
    log.info("after")
    (line,) = logs.lines()
    assert "event_key" not in line


def test_call_fields_win_over_context_fields(logs):
    with log_context(stage="context"):
        get_logger("unit.context").info("x", stage="call")
    (line,) = logs.lines()
    assert line["stage"] == "call"


# --- regressions: bugs this suite found, since fixed ----------------------------------------


@pytest.mark.parametrize(
    "special", ['"', "\\", "\t", "\n", "ü"], ids=["quote", "backslash", "tab", "newline", "umlaut"]
)
def test_secret_with_json_escaped_characters_is_redacted(logs, special):
    # The guard used to search the JSON text only, where these characters are escaped.
    secret = f"pa{special}ss-{uuid.uuid4().hex}"
    register_secret(secret)
    get_logger("unit.escape").info(f"using {secret}", field=secret, nested={"list": [secret]})
    (line,) = logs.lines()
    assert line["message"] == f"using {REDACTED}"
    assert line["field"] == REDACTED
    assert line["nested"] == {"list": [REDACTED]}
    assert json.dumps(secret)[1:-1] not in logs.text


def test_sensitive_keys_inside_lists_and_tuples_are_redacted(logs):
    values = [fresh("listed-token"), fresh("tupled-password")]
    get_logger("unit.keys").info(
        "x", items=[{"token": values[0], "id": 1}], pairs=({"password": values[1]},)
    )
    (line,) = logs.lines()
    for value in values:
        assert value not in logs.text
    assert line["items"] == [{"token": REDACTED, "id": 1}]
    assert line["pairs"] == [{"password": REDACTED}]


def test_a_secret_containing_another_is_redacted_whole(logs):
    # Replacing the shorter one first used to leave the rest of the longer one in the line;
    # with 24 pairs, an order that merely happens to be right passes with chance 2**-24.
    pairs = [(fresh("short"), uuid.uuid4().hex) for _ in range(24)]
    for short, tail in pairs:
        register_secret(short)
        register_secret(short + tail)
    log = get_logger("unit.overlap")
    for short, tail in pairs:
        log.info(f"value {short + tail}")
    for _, tail in pairs:
        assert tail not in logs.text
    assert all(line["message"] == f"value {REDACTED}" for line in logs.lines())


def test_fields_cannot_rewrite_the_fixed_keys(logs):
    # A field called severity used to turn an ERROR line into whatever it said.
    with log_context(message="from context"):
        get_logger("unit.reserved").error(
            "app disconnected", severity="DEBUG", logger="other", time="yesterday"
        )
    (line,) = logs.lines()
    assert line["severity"] == "ERROR"
    assert line["message"] == "app disconnected"
    assert line["logger"] == "drift_bridge.unit.reserved"
    assert line["time"] != "yesterday"
    # AND the caller's values are kept under other keys, not silently lost
    assert {"DEBUG", "other", "yesterday", "from context"} <= set(line.values())
