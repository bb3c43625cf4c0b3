"""Turning workbook cells (typed or text) into plan values.

Every parser here raises :class:`ValueError` with a message meant for a cutover manager, in the
current language (:mod:`transition.i18n`); the caller adds the cell's location.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass

from transition.i18n import _, pgettext

CellValue = str | int | float | bool | dt.datetime | dt.date | dt.time | dt.timedelta | None


def is_blank(value: CellValue) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def as_text(value: CellValue) -> str:
    """The text a person sees in the cell: whole numbers without ``.0``, stripped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value).strip()


def normalise_key(text: str) -> str:
    """Lower case, without accents, spaces or punctuation: ``Date d'exécution`` -> ``datedexecution``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(
        ch for ch in decomposed.casefold() if ch.isalnum() and not unicodedata.combining(ch)
    )


# ---------------------------------------------------------------------------------------------
# Control characters: refused in IDs and names (they break e-mail headers, task ids, calendars)

CONTROL_CATEGORIES = frozenset(
    {"Cc", "Cf", "Zl", "Zp"}
)  # line breaks, tabs, U+2028/9, U+0085, bidi marks
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def first_control_character(text: str) -> str | None:
    """The first line break, tab or other invisible control character of ``text`` (None: none)."""
    if text.isprintable():  # the usual case, in C: printable text has none of them
        return None
    return next((ch for ch in text if unicodedata.category(ch) in CONTROL_CATEGORIES), None)


def describe_character(ch: str) -> str:
    """``U+2028 LINE SEPARATOR``; ``U+000A`` for the controls, which have no name."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def visible(text: str) -> str:
    """``text`` with its control characters written as escapes (``\\n``, ``\\u2028``): safe in a message."""
    if text.isprintable():
        return text
    return "".join(
        _ESCAPES.get(ch) or (f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        if unicodedata.category(ch) in CONTROL_CATEGORIES
        else ch
        for ch in text
    )


_LIST_SEPARATORS = re.compile(r"[,;\s]+")


def split_ids(value: CellValue) -> list[str]:
    """Step IDs separated by commas, semicolons, spaces or new lines."""
    return [part for part in _LIST_SEPARATORS.split(as_text(value)) if part]


# ---------------------------------------------------------------------------------------------
# Durations

_DURATION_UNITS = {"d": 1440, "j": 1440, "h": 60, "m": 1, "min": 1, "mn": 1}
_DURATION_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*(min|mn|d|j|h|m)?", re.IGNORECASE)
_CLOCK_DURATION = re.compile(r"^(\d{1,3}):(\d{2})(?::(\d{2}))?$")


MAX_DURATION = dt.timedelta(
    days=366
)  # a step longer than a year is a typing error, and overflows dates


def _duration_help() -> str:
    return _("write it like 45m, 2h, 1h30, 1d, 01:30 or a number of minutes")


def parse_duration(value: CellValue) -> dt.timedelta:
    """``45m``, ``2h``, ``1h30``, ``1d``, ``01:30``, a number of minutes, or a typed time/duration."""
    if isinstance(value, dt.timedelta):
        result = value
    elif isinstance(value, dt.time):
        result = dt.timedelta(hours=value.hour, minutes=value.minute, seconds=value.second)
    elif isinstance(value, (bool, dt.date, dt.datetime)):
        raise ValueError(
            _("duration '{value}' is a date, not a duration; {help}").format(
                value=as_text(value), help=_duration_help()
            )
        )
    elif isinstance(value, (int, float)):
        result = _minutes(float(value), as_text(value))
    else:
        result = _parse_duration_text(as_text(value))
    if result > MAX_DURATION:
        raise ValueError(_too_long(as_text(value)))
    if result < dt.timedelta(0):
        raise ValueError(
            _("duration '{value}' is negative; {help}").format(
                value=as_text(value), help=_duration_help()
            )
        )
    return result


def is_clock_duration(text: str) -> bool:
    """A duration written as a clock, ``01:30`` (as :func:`parse_duration` reads it)."""
    return _CLOCK_DURATION.match(text.strip().lower()) is not None


def _parse_duration_text(text: str) -> dt.timedelta:
    compact = text.strip().lower()
    clock = _CLOCK_DURATION.match(compact)
    if clock:
        hours, minutes, seconds = clock.groups()
        return dt.timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0))
    parts = list(_DURATION_PART.finditer(compact))
    leftover = _DURATION_PART.sub("", compact).replace(" ", "")
    if not parts or leftover:
        raise ValueError(
            _("cannot read duration '{value}'; {help}").format(value=text, help=_duration_help())
        )
    minutes = 0.0
    previous_unit: str | None = None
    for part in parts:
        number = float(part.group(1).replace(",", "."))
        unit = (part.group(2) or "").lower()
        if not unit:
            # "1h30": a bare number after hours means minutes; a lone number is minutes.
            if previous_unit not in (None, "h"):
                raise ValueError(
                    _("cannot read duration '{value}'; {help}").format(
                        value=text, help=_duration_help()
                    )
                )
            unit = "m"
        minutes += number * _DURATION_UNITS[unit]
        previous_unit = unit
    return _minutes(minutes, text)


def _too_long(text: str) -> str:
    return _("duration '{value}' is longer than {days} days; {help}").format(
        value=visible(text), days=MAX_DURATION.days, help=_duration_help()
    )


def _minutes(minutes: float, text: str) -> dt.timedelta:
    """A duration of ``minutes``; a ValueError (not an overflow) for one too long or not a number."""
    if math.isnan(minutes):
        raise ValueError(
            _("cannot read duration '{value}'; {help}").format(
                value=visible(text), help=_duration_help()
            )
        )
    if abs(minutes) > MAX_DURATION.total_seconds() / 60:
        raise ValueError(_too_long(text))
    return dt.timedelta(minutes=minutes)


def format_duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if mins or not parts:
        parts.append(f"{mins}m")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Start times relative to D-day

_START = re.compile(
    r"^\s*[DJ]\s*(?:([+-])\s*(\d{1,3}))?\s*(?:(\d{1,2})\s*(?:[:hH]\s*(?:(\d{2})(?::(\d{2}))?)?)?)?\s*$",
    re.IGNORECASE,
)


def _start_help() -> str:
    return _("write it relative to D-day, like 'D-3 08:00', 'D+0 22:30' or 'D+1'")


@dataclass(frozen=True, slots=True)
class RelativeStart:
    """A not-before time: ``days`` after D-day at local wall-clock ``time`` (seconds optional:
    ``D+0 22:30:15``)."""

    days: int
    time: dt.time

    def __str__(self) -> str:
        sign = "-" if self.days < 0 else "+"
        return f"D{sign}{abs(self.days)} {self.clock()}"

    def clock(self) -> str:
        """The time of day, ``22:30``, or ``22:30:15`` when it has seconds."""
        return self.time.strftime("%H:%M:%S" if self.time.second else "%H:%M")

    def text(self) -> str:
        """As :meth:`__str__`, with D-day's letter of the current language (``J-3 08:00`` in French)."""
        return pgettext("the letter of D-day in a start like D-3 08:00", "D") + str(self)[1:]

    def local_datetime(self, d_day: dt.date) -> dt.datetime:
        """The naive local wall-clock datetime in a dry run whose D-day is ``d_day``."""
        return dt.datetime.combine(d_day + dt.timedelta(days=self.days), self.time)


def parse_start(value: CellValue) -> RelativeStart:
    if isinstance(value, (dt.datetime, dt.date)):
        raise ValueError(
            _(
                "start '{value}' is a calendar date; dry runs have different D-days, so {help}"
            ).format(value=as_text(value), help=_start_help())
        )
    if isinstance(value, dt.time):
        raise ValueError(
            _("start '{value}' has no day; {help}").format(value=as_text(value), help=_start_help())
        )
    text = as_text(value)
    match = _START.match(text)
    if not match:
        raise ValueError(
            _("cannot read start '{value}'; {help}").format(value=text, help=_start_help())
        )
    sign, days, hour, minute, second = match.groups()
    offset = int(days or 0) * (-1 if sign == "-" else 1)
    hour_value, minute_value, second_value = int(hour or 0), int(minute or 0), int(second or 0)
    if hour_value > 23 or minute_value > 59 or second_value > 59:
        raise ValueError(
            _("start '{value}' has no such time of day; {help}").format(
                value=text, help=_start_help()
            )
        )
    return RelativeStart(offset, dt.time(hour_value, minute_value, second_value))


# ---------------------------------------------------------------------------------------------
# Dates

FIRST_YEAR, LAST_YEAR = (
    1900,
    2199,
)  # a D-day or End outside these is a typing error, and overflows schedules


def _in_range(day: dt.date, value: CellValue) -> None:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(
            _("date '{value}' is out of range; use a date between {first} and {last}").format(
                value=visible(as_text(value)), first=FIRST_YEAR, last=LAST_YEAR
            )
        )


def parse_date(value: CellValue) -> dt.date:
    day = _parse_date(value)
    _in_range(day, value)
    return day


def _parse_date(value: CellValue) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = as_text(value)
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(
        _("cannot read date '{value}'; use an Excel date or 2027-03-14 or 14/03/2027").format(
            value=visible(text)
        )
    )


def parse_local_datetime(value: CellValue) -> dt.datetime:
    """A naive local datetime from a typed cell or text (a bare date means midnight)."""
    moment = _parse_local_datetime(value)
    _in_range(moment.date(), value)
    return moment


def _parse_local_datetime(value: CellValue) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    text = as_text(value)
    for fmt in (
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%d/%m/%Y %H:%M",
        "%d-%m-%Y %H:%M",
        "%d.%m.%Y %H:%M",
    ):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return dt.datetime.combine(_parse_date(text), dt.time())


_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[A-Za-z]{2,}$")


def is_valid_email(text: str) -> bool:
    return bool(_EMAIL.match(text))
