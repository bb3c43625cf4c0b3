"""What a task of a running dry run has already told people, kept where a new try still finds it.

A task's XComs are cleared when a new try starts (Airflow does so for every retry, and the steps
retry on purpose: see ``step_operator``), and a task killed while it runs is retried. So "sent once
per step and run" cannot live in XCom. It lives in Airflow Variables, which tasks may read and write
through the Task SDK, one per task of a run, written only by that task (no two writers):

    transition.sent/<dag_id>/<run_id>/<task_id>  ->  {"ready": "...", "late": "...", ...}

Each entry is written right after the e-mail it stands for went out. The run's watch deletes the
run's Variables when the run ends (``forget_run``); a step cleared and run again after that is asked
again, and told again.

Whom a step was transferred to is kept beside it by the api-server (:mod:`.step_holder`).
"""

from __future__ import annotations

import json
from typing import Any

from transition.runs.variable_keys import bounded_key

PREFIX = "transition.sent/"
GATE_ANSWERS = "answers"  # a gate's entry: every answer given to it, in order (gate_operator)


def ledger_key(dag_id: str, run_id: str, task_id: str) -> str:
    return bounded_key(f"{PREFIX}{dag_id}/{run_id}/{task_id}")


def run_prefix(dag_id: str, run_id: str) -> str:
    return f"{PREFIX}{dag_id}/{run_id}/"


class SentLedger:
    """The entries of one task of one run; loaded once, written through on each ``mark``."""

    def __init__(self, dag_id: str, run_id: str, task_id: str) -> None:
        self.key = ledger_key(dag_id, run_id, task_id)
        self._entries: dict[str, Any] | None = None

    @classmethod
    def of(cls, context: Any) -> SentLedger:
        ti = context["ti"]
        return cls(ti.dag_id, ti.run_id, ti.task_id)

    def refresh(self) -> dict[str, Any]:
        # deferred: Airflow's Variables, only inside a running task
        from airflow.sdk import Variable

        raw = Variable.get(self.key, default=None)
        self._entries = json.loads(raw) if raw else {}
        return self._entries

    def get(self, what: str, default: Any = None) -> Any:
        entries = self._entries if self._entries is not None else self.refresh()
        return entries.get(what, default)

    def mark(self, what: str, value: Any) -> None:
        """Write one entry; read first, so that another ledger object of the same task loses nothing."""
        # deferred: Airflow's Variables, only inside a running task
        from airflow.sdk import Variable

        entries = self.refresh()
        entries[what] = value
        Variable.set(
            self.key,
            json.dumps(entries, sort_keys=True),
            description="transition: what this task of a running dry run has already told people",
        )


def forget_run(dag_id: str, run_id: str, *prefixes: str) -> int:
    """Delete the ledger of a finished run (and its Variables under ``prefixes``); returns how many
    Variables went."""
    # deferred: Airflow's Variables, only inside a running task
    from airflow.sdk import Variable

    keys = [
        key
        for prefix in (run_prefix(dag_id, run_id), *prefixes)
        for key in Variable.keys(prefix=prefix)
    ]
    for key in keys:
        Variable.delete(key)
    return len(keys)
