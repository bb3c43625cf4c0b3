"""Steps found Overdue in one check of the run's watch, as one e-mail per person.

A run started late finds many steps Overdue at once (24 in the sample plan's first dry run): one
e-mail per step would send each person several, the cutover managers all of them. So when one check
finds more than one step, each person gets one e-mail listing the steps that concern them (the ones
they own and the ones that wait for a step of theirs), in their language, and the cutover managers
one listing them all (one per language among them). One step alone keeps the single-step e-mail
(:mod:`transition.notifications.alert_mail`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from transition.i18n import _, format_moment, ngettext, use_language
from transition.notifications.addressing import (
    managers_by_language,
    required_actions_link,
    step_page_link,
)
from transition.notifications.mail import compose, render
from transition.plan.model import Plan
from transition.vocabulary import subject_prefix

IDS_IN_SUBJECT = 5  # then "…": the list is in the e-mail


@dataclass(frozen=True)
class OverdueStep:
    step_id: str
    holding: tuple[str, ...]  # its prerequisites not closed yet


@dataclass(frozen=True)
class Recipients:
    to: tuple[str, ...]
    language: str | None
    steps: tuple[OverdueStep, ...]


def digest_recipients(plan: Plan, found: Sequence[OverdueStep]) -> list[Recipients]:
    """Who gets which steps: each person (not a cutover manager) the steps they own or hold back,
    then the cutover managers every step, grouped by language."""
    managers = {a.id for a in plan.manager_actors()}
    theirs: dict[str, list[OverdueStep]] = {}
    for item in found:
        people = [plan.steps[item.step_id].owner, *(plan.steps[h].owner for h in item.holding)]
        for person in dict.fromkeys(people):
            if person not in managers and person in plan.actors:
                theirs.setdefault(person, []).append(item)
    groups = [
        Recipients((plan.actors[p].email,), plan.actors[p].language, tuple(items))
        for p, items in theirs.items()
    ]
    groups += [
        Recipients(tuple(emails), language, tuple(found))
        for language, emails in managers_by_language(plan).items()
    ]
    return groups


def digest_message(
    plan: Plan,
    dry_run: str,
    group: Recipients,
    *,
    dag_id: str,
    run_id: str,
    base_url: str,
) -> EmailMessage:
    """``[Transition-DR1] 3 steps Overdue: CO-120, CO-130, CO-140``, in the group's language."""
    schedule = plan.schedules[dry_run]
    with use_language(group.language):
        count = len(group.steps)
        ids = [s.step_id for s in group.steps]
        shown = ", ".join(ids[:IDS_IN_SUBJECT]) + (", …" if count > IDS_IN_SUBJECT else "")
        subject = subject_prefix(dry_run) + ngettext(
            "{count} step Overdue: {steps}", "{count} steps Overdue: {steps}", count
        ).format(count=count, steps=shown)
        headline = ngettext(
            "{count} step should have started and is still waiting for prerequisites.",
            "{count} steps should have started and are still waiting for prerequisites.",
            count,
        ).format(count=count)
        steps = []
        for item in group.steps:
            step = plan.steps[item.step_id]
            planned = schedule.steps[item.step_id].planned_start
            steps.append(
                {
                    "title": f"{step.id} · {step.label}",
                    "owner": plan.actors[step.owner].name,
                    "start": format_moment(planned, "short") if planned else "—",
                    "holding": [
                        f"{h} · {plan.steps[h].label} ({plan.actors[plan.steps[h].owner].name})"
                        for h in item.holding
                    ],
                    "link": step_page_link(base_url, dag_id, run_id, step.id),
                    "airflow_link": required_actions_link(base_url, dag_id, run_id, step.id),
                }
            )
        text, html = render(
            "overdue_digest",
            subject=subject,
            headline=headline,
            dry_run=dry_run,
            steps=steps,
            timezone=plan.timezone,
            labels={
                "owner": _("Owner"),
                "start": _("Planned start"),
                "waiting": _("Waiting for:"),
                "open": _("Open the step"),
                "airflow": _("In Airflow"),
            },
        )
    return compose(
        subject=subject,
        to=group.to,
        text=text,
        html=html,
        headers={
            "X-Transition-Steps": f"{dag_id}/{','.join(ids)}",
            "X-Transition-Run": f"{dag_id}/{run_id}",
        },
    )
