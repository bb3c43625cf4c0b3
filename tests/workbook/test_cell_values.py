"""Durations, starts and dates as a cutover manager writes them."""

from __future__ import annotations

import datetime as dt

import pytest

from transition.workbook.cells import (
    format_duration,
    normalise_key,
    parse_duration,
    parse_start,
    split_ids,
)

M = dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    "text, minutes",
    [
        ("45m", 45),
        ("2h", 120),
        ("1h30", 90),
        ("1d", 1440),
        ("01:30", 90),
        (90, 90),
        (2.5, 2.5),
        ("1h 30m", 90),
        ("90 min", 90),
        ("2j", 2880),
        ("1d2h", 1560),
        (dt.time(0, 45), 45),
        (dt.timedelta(hours=3), 180),
        ("0m", 0),
    ],
)
def test_durations(text, minutes):
    assert parse_duration(text) == minutes * M


@pytest.mark.parametrize("text", ["2 hours", "h", "1.5.2h", "-3h", "30m20"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    "text, days, hour, minute",
    [
        ("D-3 08:00", -3, 8, 0),
        ("D+0 22:30", 0, 22, 30),
        ("D+1", 1, 0, 0),
        ("J-1 8h", -1, 8, 0),
        ("d +2 07h15", 2, 7, 15),
        ("D", 0, 0, 0),
        ("J+10 23:59", 10, 23, 59),
    ],
)
def test_starts(text, days, hour, minute):
    start = parse_start(text)
    assert (start.days, start.time) == (days, dt.time(hour, minute))


def test_a_start_may_say_its_seconds():
    start = parse_start("D+0 22:30:15")
    assert (start.days, start.time) == (0, dt.time(22, 30, 15))
    assert str(start) == "D+0 22:30:15" and str(parse_start("D+0 22:30:00")) == "D+0 22:30"


@pytest.mark.parametrize(
    "text",
    ["D-3 25:00", "tomorrow", "3 08:00", "D-3 08:61", "D-3 08:00:60", "D-3 08:00:5", dt.time(8, 0)],
)
def test_bad_starts(text):
    with pytest.raises(ValueError, match="start"):
        parse_start(text)


def test_start_text_round_trip():
    assert str(parse_start("J-3 8h")) == "D-3 08:00"


def test_header_normalisation():
    assert (
        normalise_key("Date d'exécution") == normalise_key("DATE D EXECUTION") == "datedexecution"
    )
    assert normalise_key("Chef d’équipe") == "chefdequipe"


def test_split_ids_and_durations_format():
    assert split_ids("A, B;C\nD  E") == ["A", "B", "C", "D", "E"]
    assert split_ids(120.0) == ["120"]
    assert format_duration(dt.timedelta(minutes=1590)) == "1d2h30m"
