"""Every state of a step and its boundaries, table-driven, DST days included."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from transition.plan.model import ScheduledStep
from transition.runs.states import State, StepFacts, due_at, prerequisites_done, step_state

BRUSSELS = zoneinfo.ZoneInfo("Europe/Brussels")
LOCK = dt.timedelta(days=5)
HOUR = dt.timedelta(hours=1)


def at(text: str) -> dt.datetime:
    """A wall-clock time in Brussels; ``fold`` picks the second 02:30 of an autumn night."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=BRUSSELS)


def step(not_before: str | None = "2027-01-16 22:00", planned: str | None = None) -> ScheduledStep:
    nb = at(not_before) if not_before else None
    start = at(planned) if planned else nb
    return ScheduledStep("CO-120", ("CO-110",), nb, start, start + HOUR if start else None)


WAITING = StepFacts(task_state=None, prerequisites_done=False)
DEFERRED = StepFacts(task_state="deferred", prerequisites_done=True)
ASKING = StepFacts(
    task_state="awaiting_input", prerequisites_done=True, ready_at=at("2027-01-16 22:00")
)
READY_LATE = StepFacts(
    task_state="awaiting_input", prerequisites_done=True, ready_at=at("2027-01-17 10:00")
)
STARTED = StepFacts(
    task_state="awaiting_input",
    prerequisites_done=True,
    ready_at=at("2027-01-16 22:00"),
    started_at=at("2027-01-16 22:05"),
)


@pytest.mark.parametrize(
    "scheduled, facts, now, expected",
    [
        # Prerequisites not done: Planned, Locked, Overdue, by the planned start and the lock window.
        (step(), WAITING, "2027-01-11 21:59", State.PLANNED),
        (step(), WAITING, "2027-01-11 22:00", State.LOCKED),  # exactly 5 days: inside the window
        (step(), WAITING, "2027-01-16 21:59", State.LOCKED),
        (step(), WAITING, "2027-01-16 22:00", State.OVERDUE),
        (
            step(not_before=None, planned="2027-01-16 23:00"),
            WAITING,
            "2027-01-16 23:00",
            State.OVERDUE,
        ),
        (
            step(not_before=None),
            WAITING,
            "2030-01-01 00:00",
            State.PLANNED,
        ),  # no planned start at all
        # Prerequisites done: Idle until the Start column, then Ready (whatever the forecast said).
        (step(), DEFERRED, "2027-01-16 21:59", State.IDLE),
        (step(), ASKING, "2027-01-16 22:00", State.READY),
        (
            step(not_before=None, planned="2027-01-17 03:00"),
            ASKING,
            "2027-01-16 20:00",
            State.READY,
        ),
        # Started: Open, then Late its duration (1 h) after it became ready.
        (step(), STARTED, "2027-01-16 22:59", State.OPEN),
        (step(), STARTED, "2027-01-16 23:00", State.LATE),
        (
            step(),
            StepFacts("running", True, None, at("2027-01-16 22:30")),
            "2027-01-16 23:29",
            State.OPEN,
        ),
        # Ready and nobody starts it: Late at the same due time as a started step.
        (step(), ASKING, "2027-01-16 22:59", State.READY),
        (step(), ASKING, "2027-01-16 23:00", State.LATE),
        # Ready early (planned 03:00-04:00): not Late before its planned end...
        (
            step(not_before=None, planned="2027-01-17 03:00"),
            ASKING,
            "2027-01-17 03:59",
            State.READY,
        ),
        (step(not_before=None, planned="2027-01-17 03:00"), ASKING, "2027-01-17 04:00", State.LATE),
        (
            step(not_before=None, planned="2027-01-17 03:00"),
            STARTED,
            "2027-01-17 04:00",
            State.LATE,
        ),
        # ... ready late (at 10:00, planned end 23:00 the day before): its whole hour first.
        (step(), READY_LATE, "2027-01-17 10:59", State.READY),
        (step(), READY_LATE, "2027-01-17 11:00", State.LATE),
        # Closed, skipped, failed.
        (step(), StepFacts("success", True), "2027-01-16 21:00", State.TERMINATED),
        (step(), StepFacts("skipped", False), "2027-01-20 00:00", State.SKIPPED),
        (step(), StepFacts("failed", True), "2027-01-16 22:00", State.FAILED),
        (step(), StepFacts("upstream_failed", False), "2027-01-16 22:00", State.FAILED),
    ],
)
def test_states(scheduled, facts, now, expected):
    assert step_state(scheduled, HOUR, facts, at(now), LOCK) == expected


def test_lock_window_counts_real_hours_across_spring_forward():
    # Planned 2027-03-30 10:00 CEST; five real days before is 2027-03-25 10:00 CEST = 09:00 CET.
    scheduled = step("2027-03-30 10:00")
    assert step_state(scheduled, HOUR, WAITING, at("2027-03-25 08:59"), LOCK) == State.PLANNED
    assert step_state(scheduled, HOUR, WAITING, at("2027-03-25 09:00"), LOCK) == State.LOCKED


def test_late_counts_real_hours_across_fall_back():
    # Ready at 01:30 CEST on 2027-10-31; 2 hours later is 02:30 CET (the second 02:30).
    scheduled = step("2027-10-31 01:30")
    started = StepFacts("awaiting_input", True, at("2027-10-31 01:30"), at("2027-10-31 01:40"))
    first_0230 = at("2027-10-31 02:30")  # fold=0: CEST, one real hour after ready
    second_0230 = first_0230.replace(fold=1)  # CET: two real hours after ready
    assert step_state(scheduled, 2 * HOUR, started, first_0230, LOCK) == State.OPEN
    assert step_state(scheduled, 2 * HOUR, started, second_0230, LOCK) == State.LATE


def test_now_in_another_zone_is_the_same_moment():
    utc_now = at("2027-01-16 22:00").astimezone(dt.UTC)
    assert step_state(step(), HOUR, WAITING, utc_now, LOCK) == State.OVERDUE


def test_prerequisites_done():
    scheduled = ScheduledStep("S", ("A", "B"), None, None, None)
    assert prerequisites_done(scheduled, {"A": "success", "B": "skipped"})
    assert not prerequisites_done(scheduled, {"A": "success", "B": "awaiting_input"})
    assert not prerequisites_done(scheduled, {"A": "success"})
    assert prerequisites_done(ScheduledStep("S", (), None, None, None), {})


def test_a_gate_is_never_late():
    """No duration (run_view gives none for a gate): it asks until it is decided."""
    assert step_state(step(), None, ASKING, at("2027-02-01 00:00"), LOCK) == State.READY
    assert step_state(step(), None, STARTED, at("2027-02-01 00:00"), LOCK) == State.OPEN


def test_the_due_time_is_the_duration_after_ready_and_not_before_the_planned_end():
    assert due_at(at("2027-01-16 22:00"), HOUR, at("2027-01-16 23:30")) == at("2027-01-16 23:30")
    assert due_at(at("2027-01-16 22:00"), HOUR, at("2027-01-16 22:30")) == at("2027-01-16 23:00")
    assert due_at(at("2027-01-16 22:00"), HOUR, None) == at("2027-01-16 23:00")
    assert due_at(None, HOUR, at("2027-01-16 23:00")) is None  # not ready yet: no due time
    assert due_at(at("2027-01-16 22:00"), None, at("2027-01-16 23:00")) is None  # a gate
