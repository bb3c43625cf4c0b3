"""The weekly report's schedule in ``config.yaml``: a cron expression, checked in words."""

from __future__ import annotations

from croniter import croniter

from transition.i18n import _

DEFAULT_CRON = "0 8 * * 1"  # Mondays at 08:00, in the plan's time zone
CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")


def check_cron(value: str | None) -> str | None:
    """The cron expression, checked; ValueError in words otherwise (config.yaml's ``weekly_report``)."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    if text in CRON_PRESETS or (len(text.split()) == 5 and croniter.is_valid(text)):
        return text
    raise ValueError(
        _(
            "'{value}' is not a cron expression (five fields: minute hour day month weekday, e.g. "
            "'{example}' for Mondays at 08:00), or null for no weekly report"
        ).format(value=value, example=DEFAULT_CRON)
    )
