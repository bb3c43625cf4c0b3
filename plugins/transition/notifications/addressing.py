"""What every e-mail needs, named once: the link to a step or a run, a step e-mail's subject, who gets
the cutover managers' e-mails and in which language, and the base of every link.

The base of links is Airflow's ``[api] base_url`` (:data:`transition.vocabulary.DEFAULT_BASE_URL`
when it is not set); the subject prefix is :func:`transition.vocabulary.subject_prefix`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from urllib.parse import quote

from transition.plan.model import Actor, Plan
from transition.vocabulary import DEFAULT_BASE_URL, subject_prefix


def airflow_base_url(fallback: str = DEFAULT_BASE_URL) -> str:
    """Airflow's ``[api] base_url``: the base of every link people are sent."""
    # deferred: Airflow's configuration, read when a link is written (not by the CLI's other commands)
    from airflow.sdk import conf

    return str(conf.get("api", "base_url", fallback=fallback))


@functools.lru_cache(maxsize=8192)  # the recap asks for every step of a run at each reading
def required_actions_link(base_url: str, dag_id: str, run_id: str, task_id: str) -> str:
    """The step's Required Actions page in Airflow's UI, where its owner answers."""
    return (
        f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
        f"/tasks/{quote(task_id, safe='')}/required_actions?map_index=-1"
    )


STEP_PAGE = (
    "/transition/steps"  # the plugin's step page (transition.web.step_page), made for a phone
)
MY_NIGHT = "/transition/my-night"  # a person's steps in a run


def step_page_link(
    base_url: str, dag_id: str, run_id: str, step_id: str, action: str | None = None
) -> str:
    """The step's page made for a phone, where its people answer in one tap; ``action`` (``start``,
    ``close``, ``go``...) opens that answer to confirm (the page never answers on its own)."""
    link = (
        f"{base_url.rstrip('/')}{STEP_PAGE}/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"
        f"/{quote(step_id, safe='')}"
    )
    return f"{link}?do={quote(action.lower(), safe='')}" if action else link


def my_night_link(base_url: str, dag_id: str, run_id: str) -> str:
    """A person's steps in the run ("My night"), the next one first to come."""
    return f"{base_url.rstrip('/')}{MY_NIGHT}/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


def task_log_link(base_url: str, dag_id: str, run_id: str, task_id: str) -> str:
    """The step's task in Airflow's UI, its log first (an automated step's action says its
    output there)."""
    return (
        f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
        f"/tasks/{quote(task_id, safe='')}?map_index=-1"
    )


def run_link(base_url: str, dag_id: str, run_id: str) -> str:
    """The run's page in Airflow's UI (its steps, its grid)."""
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def step_subject(dry_run: str, step_id: str, what: str) -> str:
    """``[Transition-DR1] CO-120 - <what>``: the shape of every e-mail about one step."""
    return f"{subject_prefix(dry_run)}{step_id} - {what}"


def manager_emails(plan: Plan) -> list[str]:
    """The cutover managers' addresses."""
    return [a.email for a in plan.manager_actors()]


def by_language(actors: Iterable[Actor | None]) -> dict[str, list[Actor]]:
    """People grouped by their language, languages in the order their first person comes."""
    groups: dict[str, list[Actor]] = {}
    for actor in actors:
        if actor is not None and all(a.id != actor.id for a in groups.get(actor.language, [])):
            groups.setdefault(actor.language, []).append(actor)
    return groups


def managers_by_language(plan: Plan) -> dict[str, list[str]]:
    """The cutover managers' e-mail addresses per language."""
    managers = by_language(plan.manager_actors())
    return {language: [a.email for a in people] for language, people in managers.items()}
