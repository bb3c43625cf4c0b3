"""What a new try of a step's task finds already accepted, so that nobody is asked twice.

Before it asks anything, a new try reads the step's answers record (:mod:`transition.runs.answers`)
and goes on from there. A try that follows a **clear** asks afresh: answers given to tries before
the first try since the last clear (``max_tries - retries + 1``) do not count.

How it works: docs/architecture.md, "runner/accepted.py".
"""

from __future__ import annotations

from typing import Any

from transition.runs.answers import Answer, answers_key, answers_since, first_try_since_clear


def accepted_answers(context: Any, retries: int) -> list[Answer]:
    """The answers Airflow accepted for this step since its last clear (none on the first try of
    a series: nothing could have been answered yet)."""
    ti = context["ti"]
    first = first_try_since_clear(ti.max_tries, retries)
    if ti.try_number <= first:
        return []
    # deferred: Airflow's Variables, only inside a running task
    from airflow.sdk import Variable

    raw = Variable.get(answers_key(ti.dag_id, ti.run_id, ti.task_id), default=None)
    return answers_since(raw, context["dag_run"].run_after, first)
