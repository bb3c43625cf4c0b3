"""What a run's tasks keep in Airflow's XCom: each entry's key, and the shape of its value.

Later tries, the run's watch, the recap page, the results and runs started by an earlier version
read them back: a shape may gain keys, never lose or change one. Steps, gates and the run's watch
each write their own entries.

How it works: docs/architecture.md, "runs/step_records.py".
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

READY = "ready"
STARTED = "started"
CLOSED = "closed"
LATE = "late"
MAIL_FAILURES = "mail_failures"
APPROVALS = "approvals"
DECISION = "decision"
OVERDUE = "overdue"
FAILURES_CHECKED = "failures_checked"


class Moment(TypedDict):
    """:data:`READY`, :data:`LATE`: when (ISO 8601, UTC)."""

    at: str


class Said(TypedDict):
    """:data:`STARTED`, :data:`CLOSED`: who answered (their login), when (ISO 8601; None when
    Airflow did not say), and their comment ("" for none). An automated step's: ``automated``
    (``by`` is then ``vocabulary.AUTOMATION``), or ``taken_over`` with the answer that closed it
    (``Done by hand``, ``Accept``); a check's measured ``value`` and its ``verdict``."""

    by: str | None
    at: str | None
    comment: str
    automated: NotRequired[bool]
    taken_over: NotRequired[str]
    value: NotRequired[float]
    verdict: NotRequired[str]  # "passed", "failed" (then taken_over says how it closed)


class MailFailure(TypedDict):
    """One of :data:`MAIL_FAILURES`: the kind of message, to whom (an address, or a channel's
    connection), why, when; ``channel`` for a chat channel's message."""

    mail: str
    to: str
    error: str
    at: str
    channel: NotRequired[bool]


class Decision(TypedDict):
    """:data:`DECISION`: a gate's Go or No-go, the answer that decided it, who said Go, every
    answer, and the branch skipped."""

    decision: str
    by: str | None
    at: str | None
    comment: str
    go: list[str]
    answers: list[dict[str, Any]]
    skipped_branch: list[str]


AUTOMATION = "automation"  # an automated step's or check's runs of its action (AutomationRuns)


class ActionRun(TypedDict):
    """One run of an automated step's action: the try that ran it, when it began and ended (not
    ended: its process died while it ran), whether it went right, what it said (and, when it went
    wrong, the last lines it printed or its error's), a check's value and verdict."""

    try_number: int
    started: str
    ended: NotRequired[str]
    ok: NotRequired[bool]
    said: NotRequired[str]
    tail: NotRequired[list[str]]
    value: NotRequired[float]
    passed: NotRequired[bool]


class AutomationRuns(TypedDict):
    """:data:`AUTOMATION`: every run of the action since the step's last clear, in order."""

    runs: list[ActionRun]
