"""Languages: what people read comes from gettext catalogues, in the reader's language.

The catalogues are ``locale/<lang>/LC_MESSAGES/transition.po`` beside this file, compiled to
``transition.mo`` (both committed; ``make messages`` extracts the messages from the code and the
templates, updates every ``.po`` and compiles them). A language is supported when its catalogue is
there: adding one needs no code (see docs/languages.md).

The language in effect is a context variable: code that writes for someone wraps the writing in
``with use_language(actor.language):`` and calls :func:`_` / :func:`ngettext` / :func:`pgettext`
(and the templates' ``{% trans %}``), which read it. Message ids are the English texts, with named
placeholders (``{step}`` in code, ``%(step)s`` in templates) so a translation may reorder them.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import gettext
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache, lru_cache

from transition.locations import LOCALE_DIR

DOMAIN = "transition"
SOURCE_LANGUAGE = "en"  # the language of the message ids

_current: contextvars.ContextVar[str] = contextvars.ContextVar(
    "transition_language", default=SOURCE_LANGUAGE
)

# Date and time patterns (CLDR, as Babel formats them); in English they print as strftime's
# "%a %d %b %Y %H:%M" and friends did.
DATE_PATTERNS = {
    "datetime": "EEE dd MMM y HH:mm",  # Sat 16 Jan 2027 22:00 · sam. 16 janv. 2027 22:00
    "short": "EEE dd MMM HH:mm",  # Sat 16 Jan 22:00
    "date": "EEE dd MMM y",  # Sat 16 Jan 2027
    "long_date": "EEEE dd MMMM y",  # Saturday 16 January 2027
    "day": "dd MMM y",  # 16 Jan 2027
    "time": "HH:mm",  # 22:00
}


@lru_cache(maxsize=1)
def languages() -> tuple[str, ...]:
    """The supported languages: the source language and every language with a compiled catalogue."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")}
    return tuple(sorted(found | {SOURCE_LANGUAGE}))


def normalise(language: str | None) -> str:
    """``FR``, ``fr_BE``, ``fr-BE`` -> ``fr``; anything unsupported (or empty) -> the source language."""
    code = (language or "").strip().replace("-", "_").split("_")[0].lower()
    return code if code in languages() else SOURCE_LANGUAGE


@cache
def translator(language: str) -> gettext.NullTranslations:
    """The catalogue of a language (a ``NullTranslations``, i.e. the English ids, when there is none)."""
    return gettext.translation(DOMAIN, LOCALE_DIR, [normalise(language)], fallback=True)


def current_language() -> str:
    return _current.get()


@contextmanager
def use_language(language: str | None) -> Iterator[str]:
    """Write in ``language`` inside the block (unsupported or empty: the source language)."""
    token = _current.set(normalise(language))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def set_language(language: str | None) -> str:
    """Write in ``language`` from now on in this context (a command line's whole run)."""
    _current.set(normalise(language))
    return _current.get()


def _(message: str) -> str:
    return translator(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translator(_current.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translator(_current.get()).pgettext(context, message)


def N_(message: str) -> str:  # noqa: N802 (gettext's name)
    """Marks a message for the catalogue without translating it yet (module constants)."""
    return message


def format_count(number: int) -> str:
    """A count with the language's grouping: ``20,000`` in English, ``20 000`` in French."""
    # deferred: Babel's locale data, only when a moment or a count is written
    from babel.numbers import format_decimal

    return format_decimal(number, locale=_current.get())


def format_moment(moment: dt.datetime | dt.date, pattern: str = "datetime") -> str:
    """A date or time in the current language: ``Sat 16 Jan 2027 22:00``, ``sam. 16 janv. 2027 22:00``.

    An aware datetime is shown in its own time zone.
    """
    # deferred: Babel's locale data, only when a moment or a count is written
    from babel.dates import format_date, format_datetime

    cldr = DATE_PATTERNS.get(pattern, pattern)
    if isinstance(moment, dt.datetime):
        return format_datetime(moment, cldr, tzinfo=moment.tzinfo, locale=_current.get())
    return format_date(moment, cldr, locale=_current.get())


def their_moment(moment: dt.datetime, zone: str | None) -> str | None:
    """An aware ``moment`` as the clocks read where ``zone`` is (a person's IANA zone): ``20:10``
    on the same day, ``Sun 06 Dec 20:10`` on another; None without a zone, for an unknown one, or
    when the clocks there read as the moment's own zone's."""
    if not zone or moment.tzinfo is None:
        return None
    try:
        theirs = moment.astimezone(zoneinfo.ZoneInfo(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None
    if theirs.utcoffset() == moment.utcoffset():
        return None
    return format_moment(theirs, "time" if theirs.date() == moment.date() else "short")


def with_their_time(moment: dt.datetime, zone: str | None, pattern: str = "datetime") -> str:
    """``moment`` in its own zone (the plan's), the person's time beside it when theirs differs:
    ``Mon 07 Dec 2026 02:10 (Europe/Brussels) · Sun 06 Dec 20:10 your time (America/New_York)``;
    else as :func:`format_moment` writes it."""
    text = format_moment(moment, pattern)
    theirs = their_moment(moment, zone)
    if theirs is None:
        return text
    return _("{time} ({zone}) · {their_time} your time ({their_zone})").format(
        time=text,
        zone=getattr(moment.tzinfo, "key", None) or moment.tzname(),
        their_time=theirs,
        their_zone=zone,
    )
