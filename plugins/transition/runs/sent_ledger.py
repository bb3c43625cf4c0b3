"""What a task of a running dry run has already told people, kept where a new try still finds it.

One Airflow Variable per task of a run, ``transition.sent/<dag_id>/<run_id>/<task_id>``, written
only by that task, each entry right after the e-mail it stands for went out (XCom is cleared at
each new try). The run's watch deletes the run's Variables when the run ends (``forget_run``).

How it works: docs/architecture.md, "runs/sent_ledger.py".
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
        self.mark_many({what: value})

    def mark_many(self, values: dict[str, Any]) -> None:
        """Write several entries at once (one read, one write)."""
        self.amend(lambda entries: {**entries, **values})

    def amend(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Read the entries, write what ``change`` makes of them (one read, one write)."""
        # deferred: Airflow's Variables, only inside a running task
        from airflow.sdk import Variable

        entries = change(self.refresh())
        self._entries = entries
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
