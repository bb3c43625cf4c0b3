"""The ``escalation`` setting of the plan's configuration: the ladder's delays, validated
(:mod:`transition.plan.escalation` holds the ladder itself)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from transition.i18n import _
from transition.plan.escalation import (
    DEFAULT_GATE_WARNING,
    DEFAULT_NOT_STARTED,
    DEFAULT_OVERRUN,
    LEVELS,
    Ladder,
)
from transition.workbook.cells import parse_duration


def _duration_text(delay: dt.timedelta) -> str:
    minutes = int(delay.total_seconds() // 60)
    return f"{minutes}m"


class EscalationConfig(BaseModel):
    """The escalation ladder's delays (:mod:`transition.plan.escalation`): ``[15m, 30m, 45m]``;
    ``off`` or ``[]``: no reminders of that kind; null: the defaults."""

    model_config = ConfigDict(extra="forbid")
    not_started: list[str] = Field(
        default_factory=lambda: [_duration_text(d) for d in DEFAULT_NOT_STARTED]
    )
    overrun: list[str] = Field(default_factory=lambda: [_duration_text(d) for d in DEFAULT_OVERRUN])
    heads_up: str | None = None  # "you're next" this long before the forecast says Ready; off
    # an undecided gate's warning this long before its latest safe decision; off
    gate_warning: str | None = _duration_text(DEFAULT_GATE_WARNING)

    @field_validator("heads_up", "gate_warning", mode="before")
    @classmethod
    def _heads_up_duration(cls, value: Any) -> Any:
        if value is None or value is False or value == "off":
            return None
        text = (
            str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        )
        if isinstance(text, str):
            parse_duration(text)
        return text

    @field_validator("not_started", "overrun", mode="before")
    @classmethod
    def _off_is_empty(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:  # the key with nothing after it: the default
            defaults = DEFAULT_NOT_STARTED if info.field_name == "not_started" else DEFAULT_OVERRUN
            return [_duration_text(d) for d in defaults]
        if value is False or value == "off":
            return []
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return [str(value)]  # one rung: 15m
        if isinstance(value, list):
            return [
                str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                for v in value
            ]
        return value

    @field_validator("not_started", "overrun")
    @classmethod
    def _ascending_durations(cls, value: list[str]) -> list[str]:
        if len(value) > LEVELS:
            raise ValueError(
                _(
                    "{count} delays; the ladder has {most} rungs (whoever holds the step, then "
                    "its team leader, then the cutover managers)"
                ).format(count=len(value), most=LEVELS)
            )
        delays = [parse_duration(v) for v in value]
        for earlier, later, text in zip(delays, delays[1:], value[1:], strict=False):
            if later <= earlier:
                raise ValueError(
                    _(
                        "'{value}' comes after a longer or equal delay; write the delays in ascending order"
                    ).format(value=text)
                )
        return value

    @property
    def ladder(self) -> Ladder:
        return Ladder(
            tuple(parse_duration(v) for v in self.not_started),
            tuple(parse_duration(v) for v in self.overrun),
            parse_duration(self.heads_up) if self.heads_up is not None else None,
            parse_duration(self.gate_warning) if self.gate_warning is not None else None,
        )
