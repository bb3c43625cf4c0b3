"""The escalation ladder: who is reminded of a step nobody acts on, and when.

Two ladders of up to three rungs each (``escalation`` in ``config.yaml``): **not started**, from
when the step became Ready, and **overrun**, from its due time. Rung 1 reminds whoever holds the
step, rung 2 copies the owner's team leader, rung 3 the cutover managers too; each rung goes once
per step and run, and when several are due at once only the highest goes. Pure: the step's task
(:mod:`transition.runner.step_operator`) asks when to wake and what to send.

How it works: docs/architecture.md, "plan/escalation.py".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from transition.vocabulary import Stage

NOT_STARTED, OVERRUN = "not_started", "overrun"
LEVELS = 3  # 1: whoever holds the step; 2: + the owner's team leader; 3: + the cutover managers
DEFAULT_NOT_STARTED = (dt.timedelta(minutes=15), dt.timedelta(minutes=30), dt.timedelta(minutes=45))
DEFAULT_OVERRUN = (dt.timedelta(minutes=15), dt.timedelta(minutes=30), dt.timedelta(minutes=45))
DEFAULT_GATE_WARNING = dt.timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Ladder:
    """The delays of each rung (ascending, at most :data:`LEVELS`); empty: no reminders."""

    not_started: tuple[dt.timedelta, ...] = DEFAULT_NOT_STARTED
    overrun: tuple[dt.timedelta, ...] = DEFAULT_OVERRUN
    heads_up: dt.timedelta | None = None  # "you're next" this long before the forecast Ready
    # an undecided gate's warning, this long before its latest safe decision (None: none)
    gate_warning: dt.timedelta | None = DEFAULT_GATE_WARNING


NO_LADDER = Ladder((), ())


@dataclass(frozen=True, slots=True)
class Rung:
    ladder: str  # NOT_STARTED or OVERRUN
    level: int  # 1, 2 or 3
    at: dt.datetime  # when it is due (aware)

    @property
    def key(self) -> str:
        """Its entry in the step's sent-ledger: ``not_started.2``."""
        return f"{self.ladder}.{self.level}"


def rungs(
    ladder: Ladder,
    stage: str,
    ready_at: dt.datetime | None,
    due: dt.datetime | None,
) -> list[Rung]:
    """The rungs of a step waiting for ``stage`` (Start, or a gate's decision: not started, from
    ``ready_at``; Close, or a failed automated step's holder: overrun, from its ``due`` time);
    none without the moment to count from."""
    if stage in (Stage.START.value, Stage.DECIDE.value) and ready_at is not None:
        return [Rung(NOT_STARTED, i + 1, ready_at + d) for i, d in enumerate(ladder.not_started)]
    if stage in (Stage.CLOSE.value, Stage.FALLBACK.value) and due is not None:
        return [Rung(OVERRUN, i + 1, due + d) for i, d in enumerate(ladder.overrun)]
    return []


def passed(all_rungs: list[Rung], sent: set[str], now: dt.datetime) -> list[Rung]:
    """The rungs due at ``now`` and not sent yet, lowest first (the last one is the one to send)."""
    return [r for r in all_rungs if r.at <= now and r.key not in sent]


def next_rung(all_rungs: list[Rung], sent: set[str], now: dt.datetime) -> Rung | None:
    """The next rung to wait for: the first one after ``now`` not sent yet (and not passed by a
    higher one that was)."""
    highest_sent = max((r.level for r in all_rungs if r.key in sent), default=0)
    ahead = [r for r in all_rungs if r.at > now and r.key not in sent and r.level > highest_sent]
    return min(ahead, key=lambda r: r.at, default=None)
