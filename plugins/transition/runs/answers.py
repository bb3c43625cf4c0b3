"""Every answer Airflow accepted for a step of a running dry run, kept where a new try finds it.

The api-server writes each answer it accepts to an Airflow Variable,
``transition.answers/<dag_id>/<run_id>/<task_id>``, in the answer's own transaction
(:mod:`transition.web.answer_record`); tasks read it through the Task SDK
(:mod:`transition.runner.accepted`). The run's watch deletes the Variables when the run ends.

How it works: docs/architecture.md, "runs/answers.py".
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, TypedDict

from transition.runs.variable_keys import bounded_key
from transition.vocabulary import TAKEN_OVER, Option

PREFIX = "transition.answers/"
STEP_RETRIES = 3  # every step's task (the DAG's default_args): new tries go on from the answers
DESCRIPTION = "transition: every answer Airflow accepted for this step of a running dry run"

# One accepted answer, as stored (persisted: fields are only ever added). "try" is a keyword.
Answer = TypedDict(
    "Answer",
    {
        "option": str,  # the button: Start, Close, Go, No-go, Retry, Done by hand, Accept
        "by": "str | None",  # the login (actor ID) of who answered
        "at": "str | None",  # when Airflow took it (ISO 8601)
        "comment": Any,  # the form's comment, as given
        "try": int,  # the task's try it was given to
    },
)


def answers_key(dag_id: str, run_id: str, task_id: str) -> str:
    return bounded_key(f"{PREFIX}{dag_id}/{run_id}/{task_id}")


def run_prefix(dag_id: str, run_id: str) -> str:
    return f"{PREFIX}{dag_id}/{run_id}/"


def responder_login(user: Any) -> str | None:
    """Who answered, as the plan names people (the login = the actor ID). Airflow records the
    responder's user id and ``get_name()``: with the Simple auth manager both are the login; with
    FAB the id is a number (``ab_user.id``) and the name is the login (``username``)."""
    if not isinstance(user, dict):
        return None
    return user.get("name") or user.get("id")


def run_instant(run_after: dt.datetime) -> str:
    """A run's ``run_after`` as kept in the record."""
    return run_after.isoformat()


def _same_run(stored: Any, run_after: dt.datetime) -> bool:
    try:
        return isinstance(stored, str) and dt.datetime.fromisoformat(stored) == run_after
    except (TypeError, ValueError):  # not a time, or naive against aware
        return False


def _loaded(raw: str | None, run_after: dt.datetime) -> list[dict[str, Any]]:
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return []
    if not isinstance(value, dict) or not _same_run(value.get("run_after"), run_after):
        return []  # none yet, or another run instance's
    answers = value.get("answers")
    return [a for a in answers if isinstance(a, dict)] if isinstance(answers, list) else []


def with_answer(raw: str | None, run_after: dt.datetime, answer: Answer) -> str:
    """The Variable's new value: ``raw``'s answers of this run instance, and ``answer``."""
    return json.dumps(
        {"run_after": run_instant(run_after), "answers": [*_loaded(raw, run_after), answer]},
        sort_keys=True,
    )


def answers_since(raw: str | None, run_after: dt.datetime, first_try: int) -> list[Answer]:
    """The answers of this run instance given to try ``first_try`` or later, in order."""
    return [
        Answer(
            {
                "option": str(a.get("option")),
                "by": a.get("by"),
                "at": a.get("at"),
                "comment": a.get("comment"),
                "try": a["try"],
            }
        )
        for a in _loaded(raw, run_after)
        if isinstance(a.get("try"), int) and a["try"] >= first_try
    ]


def first_try_since_clear(max_tries: int, retries: int = STEP_RETRIES) -> int:
    """The try number of the run's first try of a task, or of its first try after the last clear:
    a clear resets ``max_tries`` to the try number plus the task's retries, a retry does not
    (Airflow's own reckoning, in the Task SDK's ``RuntimeTaskInstance.get_first_reschedule_date``)."""
    return max_tries - retries + 1


def close_accepted(answers: list[Answer], approvals: int = 1) -> bool:
    """Whether ``answers`` close the step: a Close, Done by hand or Accept, or for a gate a No-go
    or Go from ``approvals`` people (counted generously: a gate's transfers may make it need more)."""
    if any(a["option"] in (Option.CLOSE.value, Option.NO_GO.value, *TAKEN_OVER) for a in answers):
        return True
    go = {a["by"] for a in answers if a["option"] == Option.GO.value}
    return bool(go) and len(go) >= approvals


def step_progress(answers: list[Answer]) -> tuple[Answer | None, Answer | None]:
    """A step's Start and Close among ``answers`` (the first of each; a Close ends it)."""
    start = next((a for a in answers if a["option"] == Option.START.value), None)
    close = next((a for a in answers if a["option"] == Option.CLOSE.value), None)
    return start, close


def as_event(answer: Answer) -> dict[str, Any]:
    """``answer`` as the event a resumed task gets (Airflow's ``as_resume_event_payload``)."""
    return {
        "chosen_options": [answer["option"]],
        "params_input": {"comment": answer["comment"]} if answer["comment"] is not None else {},
        "responded_at": answer["at"],
        "responded_by_user": {"id": answer["by"], "name": answer["by"]},
        "timedout": False,
    }
