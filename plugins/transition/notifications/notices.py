"""The e-mails of what people do through the plugin: a transfer, a blocking defect, a substitute
taking over an absent person's steps.

A transfer goes to the new person, in their language, copied to whoever gave it and the owner; a
blocking defect on a step (open, or closed already) to the cutover managers, one e-mail per
language among them (the owner copied on the first). Both have the shape of every e-mail about one
step (``alert_mail.notice_message``). A blocking defect on the run as a whole goes to the cutover
managers alone, one e-mail per language among them, with a link to the recap page. Each has a
short form for the plan's chat channels (``transfer``, ``defect``, ``substitution``), in the plan's
language.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from transition.i18n import N_, _, use_language
from transition.notifications.addressing import (
    by_language,
    required_actions_link,
    step_page_link,
    step_subject,
)
from transition.notifications.alert_mail import notice_message
from transition.notifications.channels import ChannelMessage, lines_of_facts
from transition.notifications.mail import compose, render
from transition.plan.model import Actor, Plan
from transition.vocabulary import SEVERITY_NAMES, subject_prefix


def transfer_notice(
    plan: Plan,
    dry_run: str,
    step_id: str,
    *,
    giver_id: str,
    target: Actor,
    text: str,
    dag_id: str,
    run_id: str,
    base_url: str,
) -> EmailMessage:
    giver = plan.actors.get(giver_id)
    owner = plan.actors[plan.steps[step_id].owner]
    giver_name = giver.name if giver else giver_id
    with use_language(target.language):
        return notice_message(
            plan,
            dry_run,
            step_id,
            what=_("Transfer"),
            headline=_("{giver} hands step {step} · {label} over to you.").format(
                giver=giver_name, step=step_id, label=plan.steps[step_id].label
            ),
            to=[target.email],
            cc=[a.email for a in (giver, owner) if a is not None and a.id != target.id],
            dag_id=dag_id,
            run_id=run_id,
            base_url=base_url,
            facts=[(_("From"), giver_name), (_("Message"), text or "—")],
        )


def transfer_channel_message(
    plan: Plan,
    dry_run: str,
    step_id: str,
    *,
    giver_id: str,
    target: Actor,
    text: str,
    link: str,
    language: str | None = None,
) -> ChannelMessage:
    """A transfer, for the plan's chat channels, in the plan's language."""
    giver = plan.actors.get(giver_id)
    with use_language(language or plan.language):
        return ChannelMessage(
            kind="transfer",
            title=step_subject(dry_run, step_id, _("Transfer")),
            lines=(
                _("{giver} hands step {step} · {label} over to {person}.").format(
                    giver=giver.name if giver else giver_id,
                    step=step_id,
                    label=plan.steps[step_id].label,
                    person=target.name,
                ),
                *lines_of_facts([(_("Message"), text)]),
            ),
            link=link,
        )


def blocking_defect_channel_message(
    plan: Plan,
    dry_run: str,
    step_id: str,
    *,
    defect: dict[str, Any],
    recorder: str,
    link: str,
    after_close: bool = False,
    language: str | None = None,
) -> ChannelMessage:
    """A blocking defect, for the plan's chat channels, in the plan's language (``after_close``:
    recorded on a step already closed, which it blocks no more)."""
    recorded_by = plan.actors[recorder].name if recorder in plan.actors else recorder
    with use_language(language or plan.language):
        return ChannelMessage(
            kind="defect",
            title=step_subject(
                dry_run, step_id, _("Blocking defect: {title}").format(title=defect["title"])
            ),
            lines=(
                (
                    _(
                        "A blocking defect was recorded on step {step} after its close; it blocks "
                        "nothing now."
                    )
                    if after_close
                    else _(
                        "A blocking defect was recorded on step {step}: it cannot be closed until "
                        "the defect is resolved."
                    )
                ).format(step=step_id),
                *lines_of_facts(
                    [
                        (_("Defect"), f"#{defect['id']} {defect['title']}"),
                        (_("Recorded by"), recorded_by),
                    ]
                ),
            ),
            link=link,
        )


def blocking_defect_notices(
    plan: Plan,
    dry_run: str,
    step_id: str,
    *,
    defect: dict[str, Any],
    recorder: str,
    dag_id: str,
    run_id: str,
    base_url: str,
    after_close: bool = False,
) -> list[EmailMessage]:
    """``after_close``: the step was closed already; the defect is told, it blocks nothing."""
    owner = plan.actors[plan.steps[step_id].owner]
    groups = by_language(plan.manager_actors()) or {owner.language: [owner]}
    recorded_by = plan.actors[recorder].name if recorder in plan.actors else recorder
    messages = []
    for number, (language, people) in enumerate(groups.items()):
        with use_language(language):
            messages.append(
                notice_message(
                    plan,
                    dry_run,
                    step_id,
                    what=_("Blocking defect: {title}").format(title=defect["title"]),
                    headline=(
                        _(
                            "A blocking defect was recorded on step {step} after it was closed: "
                            "the step stays closed; the defect is in the run's results until it "
                            "is resolved."
                        )
                        if after_close
                        else _(
                            "A blocking defect was recorded on step {step}: it cannot be closed "
                            "until the defect is resolved."
                        )
                    ).format(step=step_id),
                    to=[a.email for a in people],
                    cc=[owner.email] if number == 0 else [],
                    dag_id=dag_id,
                    run_id=run_id,
                    base_url=base_url,
                    facts=[
                        (_("Defect"), f"#{defect['id']} {defect['title']}"),
                        (_("Severity"), _(SEVERITY_NAMES[defect["severity"]])),
                        (_("Recorded by"), recorded_by),
                        (_("Description"), defect.get("description") or "—"),
                    ],
                )
            )
    return messages


def substitution_notices(
    plan: Plan,
    dry_run: str,
    steps: list[str],
    *,
    manager_id: str,
    absent: Actor,
    substitute: Actor,
    text: str,
    dag_id: str,
    run_id: str,
    base_url: str,
) -> list[tuple[str, EmailMessage]]:
    """("substitute", the e-mail listing the steps they take over) and ("absent", the one telling the
    absent person who took them over), each in its reader's language."""
    manager = plan.actors.get(manager_id)
    manager_name = manager.name if manager else manager_id
    lines = [
        {
            "title": f"{step_id} · {plan.steps[step_id].label}",
            "link": step_page_link(base_url, dag_id, run_id, step_id),
            "airflow_link": required_actions_link(base_url, dag_id, run_id, step_id),
        }
        for step_id in steps
    ]
    messages = []
    for whom, reader, headline in (
        (
            "substitute",
            substitute,
            N_("{manager} hands you the steps {absent} held in this dry run ({count})."),
        ),
        (
            "absent",
            absent,
            N_("{manager} handed the steps you held in this dry run to {substitute} ({count})."),
        ),
    ):
        with use_language(reader.language):
            subject = substitution_subject(dry_run, absent, substitute)
            text_html = render(
                "substitution",
                subject=subject,
                headline=_(headline).format(
                    manager=manager_name,
                    absent=absent.name,
                    substitute=substitute.name,
                    count=len(steps),
                ),
                message=text,
                steps=lines,
                labels={
                    "message": _("Message"),
                    "open": _("Open the step"),
                    "airflow": _("In Airflow"),
                },
            )
        cc = [manager.email] if manager is not None and manager.id != reader.id else []
        messages.append(
            (
                whom,
                compose(
                    subject=subject,
                    to=[reader.email],
                    cc=cc,
                    text=text_html[0],
                    html=text_html[1],
                    headers={
                        "X-Transition-Steps": f"{dag_id}/{','.join(steps)}",
                        "X-Transition-Run": f"{dag_id}/{run_id}",
                    },
                ),
            )
        )
    return messages


def substitution_subject(dry_run: str, absent: Actor, substitute: Actor) -> str:
    """``[Transition-DR1] Substitute: Bob Peeters → Frank Claes``, in the current language."""
    return subject_prefix(dry_run) + _("Substitute: {absent} → {substitute}").format(
        absent=absent.name, substitute=substitute.name
    )


def substitution_channel_message(
    plan: Plan,
    dry_run: str,
    steps: list[str],
    *,
    manager_id: str,
    absent: Actor,
    substitute: Actor,
    text: str,
    link: str,
    language: str | None = None,
) -> ChannelMessage:
    """A substitution, for the plan's chat channels, in the plan's language: who handed whose steps
    to whom, the steps, the manager's message."""
    manager = plan.actors.get(manager_id)
    with use_language(language or plan.language):
        return ChannelMessage(
            kind="substitution",
            title=substitution_subject(dry_run, absent, substitute),
            lines=(
                _(
                    "{manager} hands the steps {absent} held in this dry run to {substitute} "
                    "({count})."
                ).format(
                    manager=manager.name if manager else manager_id,
                    absent=absent.name,
                    substitute=substitute.name,
                    count=len(steps),
                ),
                *(f"- {step_id} · {plan.steps[step_id].label}" for step_id in steps),
                *lines_of_facts([(_("Message"), text)]),
            ),
            link=link,
        )


def run_defect_notices(
    plan: Plan,
    dry_run: str,
    *,
    defect: dict[str, Any],
    recorder: str,
    run_id: str,
    base_url: str,
) -> list[EmailMessage]:
    """A blocking defect on the run as a whole, to the cutover managers in their languages."""
    recorded_by = plan.actors[recorder].name if recorder in plan.actors else recorder
    messages = []
    for language, people in by_language(plan.manager_actors()).items():
        with use_language(language):
            subject = subject_prefix(dry_run) + _("Blocking defect on the run: {title}").format(
                title=defect["title"]
            )
            text, html = render(
                "run_defect",
                subject=subject,
                headline=_(
                    "A blocking defect was recorded on run {run} of dry run {dry_run}, not on one "
                    "step."
                ).format(run=run_id, dry_run=dry_run),
                facts=[
                    (_("Defect"), f"#{defect['id']} {defect['title']}"),
                    (_("Severity"), _(SEVERITY_NAMES[defect["severity"]])),
                    (_("Recorded by"), recorded_by),
                    (_("Description"), defect.get("description") or "—"),
                ],
                link=f"{base_url.rstrip('/')}/transition/recap",
            )
        messages.append(
            compose(
                subject=subject,
                to=[a.email for a in people],
                text=text,
                html=html,
                headers={"X-Transition-Run": f"{plan.dag_id(dry_run)}/{run_id}"},
            )
        )
    return messages


def run_defect_channel_message(
    plan: Plan,
    dry_run: str,
    *,
    defect: dict[str, Any],
    recorder: str,
    run_id: str,
    link: str,
    language: str | None = None,
) -> ChannelMessage:
    """A blocking defect on the run as a whole, for the plan's chat channels, in its language."""
    recorded_by = plan.actors[recorder].name if recorder in plan.actors else recorder
    with use_language(language or plan.language):
        return ChannelMessage(
            kind="defect",
            title=subject_prefix(dry_run)
            + _("Blocking defect on the run: {title}").format(title=defect["title"]),
            lines=(
                _(
                    "A blocking defect was recorded on run {run} of dry run {dry_run}, not on one "
                    "step."
                ).format(run=run_id, dry_run=dry_run),
                *lines_of_facts(
                    [
                        (_("Defect"), f"#{defect['id']} {defect['title']}"),
                        (_("Recorded by"), recorded_by),
                    ]
                ),
            ),
            link=link,
        )
