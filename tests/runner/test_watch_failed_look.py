"""A look of the run's watch that fails does not end the watch (``RunWatchOperator._watch``).

The watch is one task for a whole dry run: it alone tells about Overdue steps and e-mails that
could not be sent. A try that fails on one slow answer of Airflow's API (seen as a request of more
than 20 s on a loaded CI machine) would leave the rest of the run without it. A failed look is
logged and the watch looks again after its recheck; only many failed looks in a row fail the try.
"""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.sdk.exceptions import TaskDeferred

from transition.runner.watch_operator import FAILED_LOOKS, RunWatchOperator

RECHECK = dt.timedelta(seconds=5)


class BrokenLook(RunWatchOperator):
    """A watch whose look fails as one does when Airflow's API does not answer."""

    def _look(self, context):
        raise TimeoutError("The read operation timed out")


class LookAfterOneMinute(RunWatchOperator):
    def _look(self, context):
        return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)


def watch(cls: type[RunWatchOperator]) -> RunWatchOperator:
    return cls(starts={}, upstream={}, on_overdue=lambda context, found: None, recheck=RECHECK)


def test_a_failed_look_defers_the_watch_to_its_recheck_and_counts_it():
    before = dt.datetime.now(dt.UTC)
    with pytest.raises(TaskDeferred) as deferred:
        watch(BrokenLook).woken({}, event=None, failed_looks=2)
    assert deferred.value.method_name == "woken"
    assert deferred.value.kwargs == {"failed_looks": 3}
    moment = deferred.value.trigger.moment
    assert before + RECHECK <= moment <= dt.datetime.now(dt.UTC) + RECHECK


def test_a_good_look_forgets_the_failed_ones():
    with pytest.raises(TaskDeferred) as deferred:
        watch(LookAfterOneMinute).woken({}, event=None, failed_looks=FAILED_LOOKS - 1)
    assert deferred.value.kwargs == {"failed_looks": 0}


def test_the_try_fails_after_too_many_failed_looks_in_a_row():
    with pytest.raises(TimeoutError, match="timed out"):
        watch(BrokenLook).woken({}, event=None, failed_looks=FAILED_LOOKS - 1)
    with pytest.raises(TaskDeferred):  # the first look of a try (its execute) starts the count
        watch(BrokenLook).execute({})
