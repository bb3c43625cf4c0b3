"""When the run's watch looks again (``watch_operator.next_wake``).

Found on a real Airflow (``tests/e2e/test_e2e_faults.py``): the watch woke just after T closed,
when D (after C and T) had no state yet; it slept until D's Overdue moment, an hour later, and the
run stayed "running" that hour after D closed. The watch of a run still going looks again within
its recheck, whatever the steps' states.
"""

from __future__ import annotations

import datetime as dt

from transition.runner.watch_operator import RECHECK, next_wake

NOW = dt.datetime(2026, 11, 30, 18, 31, 5, tzinfo=dt.UTC)


def test_a_far_overdue_moment_does_not_put_the_watch_to_sleep_past_its_recheck():
    in_an_hour = NOW + dt.timedelta(hours=1)  # D's planned start (T's start + its hour)
    assert next_wake(NOW, [in_an_hour], RECHECK) == NOW + RECHECK


def test_a_moment_due_sooner_than_the_recheck_wakes_it_then():
    soon = NOW + dt.timedelta(seconds=20)  # a heads-up, an Overdue start
    assert next_wake(NOW, [NOW + dt.timedelta(hours=2), soon], RECHECK) == soon


def test_nothing_due_it_looks_again_after_its_recheck():
    assert next_wake(NOW, [], dt.timedelta(seconds=10)) == NOW + dt.timedelta(seconds=10)
