"""The e-mails of what people do on a step through the plugin: a transfer, a blocking defect.

A transfer goes to the new person, in their language, copied to whoever gave it and the owner; a
blocking defect to the cutover managers, one e-mail per language among them (the owner copied on
the first). Both have the shape of every e-mail about one step (``alert_mail.notice_message``).
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from transition.i18n import _, use_language
from transition.notifications.addressing import by_language, step_subject
from transition.notifications.alert_mail import notice_message
from transition.notifications.channels import ChannelMessage, lines_of_facts
from transition.plan.model import Actor, Plan
from transition.vocabulary import SEVERITY_NAMES


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
) -> ChannelMessage:
    """A transfer, for the plan's chat channels, in the plan's language."""
    giver = plan.actors.get(giver_id)
    with use_language(plan.language):
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
    plan: Plan, dry_run: str, step_id: str, *, defect: dict[str, Any], recorder: str, link: str
) -> ChannelMessage:
    """A blocking defect, for the plan's chat channels, in the plan's language."""
    recorded_by = plan.actors[recorder].name if recorder in plan.actors else recorder
    with use_language(plan.language):
        return ChannelMessage(
            kind="defect",
            title=step_subject(
                dry_run, step_id, _("Blocking defect: {title}").format(title=defect["title"])
            ),
            lines=(
                _(
                    "A blocking defect was recorded on step {step}: it cannot be closed until "
                    "the defect is resolved."
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
) -> list[EmailMessage]:
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
                    headline=_(
                        "A blocking defect was recorded on step {step}: it cannot be closed until "
                        "the defect is resolved."
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
