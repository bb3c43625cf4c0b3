"""The executor make run uses: Airflow's LocalExecutor, reporting only a key's newest workload."""

from __future__ import annotations

import importlib

from transition.local.standalone import EXECUTOR
from transition.runner.executor import HandedOut, ResumeSafeLocalExecutor


def test_make_run_names_the_executor_as_airflow_loads_it():
    module, _, name = EXECUTOR.rpartition(".")
    executor = getattr(importlib.import_module(module), name)
    assert executor is ResumeSafeLocalExecutor
    assert executor.is_local  # airflow standalone keeps only a local executor


def test_the_end_of_a_parked_workload_is_not_reported_once_the_task_is_resumed():
    handed_out = HandedOut()
    handed_out.add("S01")  # the try runs, asks, parks: its process ends
    handed_out.add("S01")  # answered at once: resumed under the same key before that end was read
    assert handed_out.ended("S01") is False  # the parking's end: the resumed run is the newer one
    assert handed_out.ended("S01") is True  # the resumed run's own end is reported


def test_an_end_is_reported_when_nothing_newer_was_handed_out():
    handed_out = HandedOut()
    handed_out.add("S01")
    assert handed_out.ended("S01") is True  # parked and read before any answer: as Airflow does
    handed_out.add("S01")  # resumed later
    assert handed_out.ended("S01") is True
    assert handed_out.ended("S02") is True  # a key it never saw (a scheduler restarted) is reported
