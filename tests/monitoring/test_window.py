"""Windows of predictions: parsing, checking and description."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from workbench.errors import ValidationError
from workbench.monitoring import Window

START = datetime(2026, 9, 7, tzinfo=UTC)
END = datetime(2026, 9, 14, tzinfo=UTC)


def test_window_parse_last() -> None:
    assert Window.parse("last:500") == Window(last=500)


def test_window_parse_bare_number() -> None:
    assert Window.parse(" 250 ") == Window(last=250)


def test_window_parse_all() -> None:
    assert Window.parse("ALL") == Window(last=None)


def test_window_parse_none_is_default() -> None:
    assert Window.parse(None) == Window(last=1000)


def test_window_parse_iso_interval() -> None:
    window = Window.parse("2026-09-07T00:00Z/2026-09-14T00:00Z")

    assert window.start == START
    assert window.end == END
    assert window.last is None


def test_window_parse_converts_offset_to_utc() -> None:
    window = Window.parse("2026-09-07T02:00+02:00/2026-09-14T00:00Z")

    assert window.start == START
    assert window.start.utcoffset() == timedelta(0)


def test_window_parse_open_interval() -> None:
    window = Window.parse("2026-09-07T00:00Z/")

    assert window.start == START
    assert window.end is None


def test_window_parse_interval_with_last() -> None:
    window = Window.parse("2026-09-07T00:00Z/2026-09-14T00:00Z last:50")

    assert window == Window(last=50, start=START, end=END)


@pytest.mark.parametrize(
    "window",
    [
        Window(),
        Window(last=None),
        Window.between(START, END),
        Window(last=None, start=START),
        Window(last=None, end=END),
        Window(last=20, start=START, end=END),
    ],
    ids=["last", "all", "range", "open-end", "open-start", "range-last"],
)
def test_window_describe_round_trips(window: Window) -> None:
    assert Window.parse(window.describe()) == window


@pytest.mark.parametrize("text", ["last week", "last:", "last:-5", "/", "2026-09-07T00:00Z/ last:x", ""])
def test_window_parse_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValidationError, match="is invalid; use last:N"):
        Window.parse(text)


def test_window_parse_rejects_zero_size() -> None:
    with pytest.raises(ValidationError, match="last=0 is invalid"):
        Window.parse("last:0")


def test_window_parse_rejects_bad_timestamp() -> None:
    with pytest.raises(ValidationError, match="end='next monday' is not an ISO 8601 timestamp"):
        Window.parse("2026-09-07T00:00Z/next monday")


def test_window_rejects_naive_times() -> None:
    with pytest.raises(ValidationError, match="start='2026-09-07T00:00:00' has no time zone"):
        Window.parse("2026-09-07T00:00/2026-09-14T00:00Z")


def test_window_rejects_start_after_end() -> None:
    with pytest.raises(ValidationError, match="is not before its end"):
        Window.between(END, START)


def test_window_to_dict() -> None:
    window = Window.between(datetime(2026, 9, 7, 2, tzinfo=timezone(timedelta(hours=2))), END)

    assert window.to_dict() == {"last": None, "start": "2026-09-07T00:00:00+00:00",
                                "end": "2026-09-14T00:00:00+00:00"}
