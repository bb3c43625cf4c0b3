"""What a new try of a step's task finds already accepted, so that nobody is asked twice.

A try can fail after Airflow accepted an answer and before the task acted on it (Airflow 3.3 fails
a task resumed within a second or two of parking, see :mod:`transition.runner.executor`; a worker
can be killed; a heartbeat lost). Airflow then starts a new try, which begins again at
``execute``. Before it asks anything, it reads the step's answers record
(:mod:`transition.runs.answers`: every answer the api-server accepted for the step, written in the
answer's own transaction) and goes on from there.

A try that follows a **clear** asks afresh: a clear is how a cutover manager says "do this step
again". Airflow tells the two apart itself: a clear resets ``max_tries`` to the try number plus the
task's retries, a retry does not, so the first try since the last clear is
``max_tries - retries + 1`` (Airflow's own reckoning, in the Task SDK's
``RuntimeTaskInstance.get_first_reschedule_date``). Answers given to earlier tries do not count.
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
