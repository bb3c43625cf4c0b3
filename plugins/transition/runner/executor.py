"""Airflow's LocalExecutor without the race that fails a task resumed soon after it parked.

It counts the workloads it has handed out per key: the end of a workload whose key has a newer
workload handed out since (the resume) is not reported; the newer one reports its own end. Its
workers start with the plan's code imported. Everything else is Airflow's LocalExecutor; ``make
run`` uses it (``transition.local.standalone``).

How it works: docs/architecture.md, "runner/executor.py".
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from airflow.executors.local_executor import LocalExecutor

# Imported here for the tasks' sake (see above): what dags/transition_plan.py needs, but the plan,
# and the languages' date formats the messages write (Babel reads them from disk at first use).
import transition.runner.dag_files  # noqa: F401  # isort: skip
from transition.i18n import format_moment, languages, use_language  # isort: skip

for _language in languages():
    with use_language(_language):
        format_moment(dt.datetime(2027, 1, 16, 22, 0, tzinfo=dt.UTC))


class HandedOut:
    """Workloads handed out per key and not ended yet: whether an end is the newest's."""

    def __init__(self) -> None:
        self._count: Counter[Any] = Counter()

    def add(self, key: Any) -> None:
        self._count[key] += 1

    def ended(self, key: Any) -> bool:
        """One workload of ``key`` ended; True when it is to be reported (no newer one is out)."""
        if self._count[key] > 1:
            self._count[key] -= 1
            return False
        self._count.pop(key, None)
        return True


class ResumeSafeLocalExecutor(LocalExecutor):
    """LocalExecutor that reports only the end of the newest workload of a task instance's try."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handed_out = HandedOut()

    def _process_workloads(self, workload_list: Any) -> None:
        for workload in workload_list:
            self._handed_out.add(workload.key)
        super()._process_workloads(workload_list)

    def _read_results(self) -> None:
        while not self.result_queue.empty():
            key, state, _ = self.result_queue.get()
            if not self._handed_out.ended(key):
                self.log.info(
                    "%s: the end of an earlier workload (%s) is not reported; the task was "
                    "queued again since (resumed) and its newer workload will report",
                    key,
                    state,
                )
                continue
            self.change_state(key, state)
