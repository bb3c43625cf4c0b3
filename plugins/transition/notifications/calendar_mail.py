"""Calendar invitations by e-mail: one e-mail per owner and run, the owner's events in an .ics file.

The run's watch sends the **Invitation** when the run starts (``on_start``), an **Update** (and
**Removed steps**) when an owner's events changed (``on_wake``); ``calendar_listener`` sends the
**Cancellation** (:func:`cancel_calendar`) when a person marks the run failed. The owner is whoever
holds the steps now. What was sent is kept in the watch's sent-ledger entry ``calendar``; a failed
e-mail is recorded once and tried again on later wakes.

How it works: docs/architecture.md, "notifications/calendar_mail.py".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import zoneinfo
from collections.abc import Mapping
from email.message import EmailMessage
from functools import partial
from typing import Any

from transition.i18n import _, format_moment, ngettext, use_language
from transition.notifications.addressing import airflow_base_url, run_link
from transition.notifications.calendar_ics import (
    CANCEL,
    REQUEST,
    CalendarEvent,
    calendar_bytes,
    event_summary,
    event_uid,
    fingerprint,
    holder_of,
    ics_filename,
    run_events,
)
from transition.notifications.channels import ChannelMessage
from transition.notifications.deliver import Announcement, Recorder, deliver, task_recorder
from transition.notifications.mail import MailError, attach, compose, failure_reason, render, send
from transition.plan.model import Plan
from transition.runs.sent_ledger import SentLedger
from transition.runs.step_holder import read_run_holders
from transition.vocabulary import subject_prefix

log = logging.getLogger(__name__)

LEDGER_ENTRY = "calendar"


def calendar_kind_name(kind: str) -> str:
    """``Invitation`` (``Update``, ``Removed steps``, ``Cancelled``), in the current language."""
    return {
        "invitation": _("Invitation"),
        "update": _("Update"),
        "removed": _("Removed steps"),
        "cancelled": _("Cancelled"),
    }[kind]


def calendar_subject(dry_run: str, kind: str) -> str:
    """``[Transition-DR1] Calendar - Invitation`` (``Update``, ``Removed steps``, ``Cancelled``), in the current language."""
    return subject_prefix(dry_run) + _("Calendar - {what}").format(what=calendar_kind_name(kind))


def _when(event: CalendarEvent, zone: zoneinfo.ZoneInfo) -> str:
    if event.start is None:
        return ""
    start = event.start.astimezone(zone)
    if event.end is None:
        return format_moment(start)
    end = event.end.astimezone(zone)
    return f"{format_moment(start)} – " + (
        f"{end:%H:%M}" if end.date() == start.date() else format_moment(end)
    )


def calendar_message(
    plan: Plan,
    dry_run: str,
    owner: str,
    events: list[CalendarEvent],
    *,
    kind: str,
    run_id: str,
    sequence: int,
    stamp: dt.datetime | None = None,
    holders: Mapping[str, str] | None = None,
) -> EmailMessage:
    """The e-mail of ``kind`` (invitation, update, removed, cancelled) with its .ics attached, in the
    owner's language; its list of untimed steps is of those ``owner`` holds (``holders``: the run's
    transferred steps)."""
    method = CANCEL if kind in ("removed", "cancelled") else REQUEST
    ics = calendar_bytes(plan, owner, events, method=method, sequence=sequence, stamp=stamp)
    actor = plan.actors[owner]
    zone = zoneinfo.ZoneInfo(plan.timezone)
    with use_language(actor.language):
        rows = [
            {
                "when": _when(e, zone),
                "step": e.step_id,
                "label": plan.steps[e.step_id].label if e.step_id in plan.steps else "",
                "link": e.url,
            }
            for e in events
        ]
        untimed = []
        if method == REQUEST:
            untimed = [
                f"{s.step_id} · {plan.steps[s.step_id].label}"
                for s in plan.schedules[dry_run].steps.values()
                if s.planned_start is None and holder_of(plan, s.step_id, holders) == owner
            ]
        subject = calendar_subject(dry_run, kind)
        filename = ics_filename(plan, dry_run, owner)
        text, html = render(
            "calendar",
            subject=subject,
            kind=kind,
            owner=actor,
            dry_run=dry_run,
            plan=plan.name,
            rows=rows,
            untimed=untimed,
            filename=filename,
            timezone=plan.timezone,
            run_id=run_id,
        )
    message = compose(
        subject=subject,
        to=[actor.email],
        text=text,
        html=html,
        headers={"X-Transition-Calendar": f"{plan.dag_id(dry_run)}/{owner}"},
    )
    attach(
        message,
        ics,
        maintype="text",
        subtype="calendar",
        filename=filename,
        params={"method": method, "charset": "UTF-8"},
    )
    return message


def calendar_channel_message(
    plan: Plan, dry_run: str, told: list[tuple[str, str, list[str]]], *, link: str
) -> ChannelMessage:
    """One sending of calendar e-mails for the plan's chat channels, in the plan's language:
    ``told`` is (kind, owner, steps) of each e-mail sent; one line per kind, with its people and
    their steps. The title is the e-mail's subject of the first kind (update before invitation)."""
    by_kind: dict[str, list[tuple[str, list[str]]]] = {}
    for kind, owner, steps in told:
        by_kind.setdefault(kind, []).append((owner, steps))
    kinds = [k for k in ("update", "invitation", "removed", "cancelled") if k in by_kind]
    with use_language(plan.language):
        lines = []
        for kind in kinds:
            people = by_kind[kind]
            lines.append(
                ngettext(
                    "{what}, {count} person: {people}",
                    "{what}, {count} people: {people}",
                    len(people),
                ).format(
                    what=calendar_kind_name(kind),
                    count=len(people),
                    people=", ".join(
                        f"{plan.actors[o].name if o in plan.actors else o} ({', '.join(steps)})"
                        for o, steps in people
                    ),
                )
            )
        return ChannelMessage(
            kind="calendar",
            title=calendar_subject(dry_run, kinds[0]),
            lines=tuple(lines),
            link=link,
        )


def _tell_calendar_channels(
    plan: Plan,
    dry_run: str,
    told: list[tuple[str, str, list[str]]],
    dag_id: str,
    run_id: str,
    record: Recorder | None = None,
) -> None:
    if told:
        channel = partial(
            calendar_channel_message,
            plan,
            dry_run,
            told,
            link=run_link(airflow_base_url(), dag_id, run_id),
        )
        deliver(plan, Announcement(kind="calendar", about=dry_run, channel=channel), record)


def _gone_events(plan: Plan, dry_run: str, run_id: str, steps: list[str]) -> list[CalendarEvent]:
    """Events to cancel, by step: UID and summary, and the planned times when the plan still has them."""
    schedule = plan.schedules.get(dry_run)
    events = []
    for step_id in steps:
        scheduled = schedule.steps.get(step_id) if schedule else None
        step = plan.steps.get(step_id)
        events.append(
            CalendarEvent(
                uid=event_uid(plan.name, dry_run, step_id, run_id),
                step_id=step_id,
                summary=event_summary(dry_run, step_id, step.label if step else None),
                start=scheduled.planned_start if scheduled else None,
                end=scheduled.planned_end if scheduled else None,
            )
        )
    return events


def _state(raw: Any) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    return {
        "sequence": int(raw.get("sequence", 0)),
        "version": raw.get("version"),
        "owners": dict(raw.get("owners") or {}),
        "failed": dict(raw.get("failed") or {}),
    }


def _owner_messages(
    plan: Plan,
    dry_run: str,
    owner: str,
    run_id: str,
    events: list[Any],
    gone: list[str],
    delivered: bool,
    state: dict[str, Any],
    holders: Any,
) -> list[EmailMessage]:
    """What ``owner``'s calendar lacks: their events (an invitation, or an update once they have
    had one), and the steps they no longer hold (removed)."""
    messages = []
    if events:
        messages.append(
            calendar_message(
                plan,
                dry_run,
                owner,
                events,
                kind="update" if delivered else "invitation",
                run_id=run_id,
                sequence=state["sequence"],
                holders=holders,
            )
        )
    if gone:
        messages.append(
            calendar_message(
                plan,
                dry_run,
                owner,
                _gone_events(plan, dry_run, run_id, gone),
                kind="removed",
                run_id=run_id,
                sequence=state["sequence"],
            )
        )
    return messages


def _failed(record: Recorder, owner: Any, exc: Exception, recorded: bool) -> None:
    """Log a calendar e-mail that failed, and record it for the cutover managers unless it was
    (``recorded``: once per owner and version of their events)."""
    if not isinstance(exc, MailError):
        log.exception("The calendar e-mail to %s could not be built", owner.id)
    log.warning(
        "The calendar e-mail to %s could not be sent (%s); tried again later", owner.id, exc
    )
    if not recorded:
        record("calendar", owner.email, failure_reason(exc))


def sync_calendar(plan: Plan, dry_run: str, context: Any) -> int:
    """Send each holder whatever their calendar lacks (invitation, update, removed steps); how many
    e-mails."""
    # deferred: Airflow's configuration, read when an e-mail is sent

    ti = context["ti"]
    base_url = airflow_base_url()
    ledger = SentLedger.of(context)
    state = _state(ledger.get(LEDGER_ENTRY))
    holders = read_run_holders(context)
    current = run_events(plan, dry_run, run_id=ti.run_id, base_url=base_url, holders=holders)
    hashes = {o: fingerprint(events) for o, events in current.items()}
    todo = [
        o
        for o in dict.fromkeys([*current, *state["owners"]])
        if hashes.get(o) != state["owners"].get(o, {}).get("hash") and o in plan.actors
    ]
    if not todo:
        return 0
    version = hashlib.sha256(json.dumps(sorted(hashes.items())).encode()).hexdigest()[:32]
    if version != state["version"]:
        if any(o in state["owners"] for o in todo):  # events people have change: a higher SEQUENCE
            state["sequence"] += 1
        state["version"] = version
        ledger.mark(LEDGER_ENTRY, state)
    # Owners not yet tried with these events first; then those whose e-mail failed, while it works.
    fresh = [o for o in todo if state["failed"].get(o) != hashes.get(o, "")]
    retries = [o for o in todo if o not in fresh]
    sent = 0
    told: list[tuple[str, str, list[str]]] = []  # (kind, owner, steps) of each e-mail sent
    for owner in fresh + retries:
        retry = owner in retries
        delivered = state["owners"].get(owner)
        events = current.get(owner, [])
        now_steps = [e.step_id for e in events]
        gone = [s for s in (delivered or {}).get("steps", []) if s not in now_steps]
        messages = []
        try:  # built here too: one that cannot be built is a failure for this owner, not for the others
            messages = _owner_messages(
                plan, dry_run, owner, ti.run_id, events, gone, bool(delivered), state, holders
            )
            for message in messages:
                send(message)
                sent += 1
        except Exception as exc:  # never marked delivered: tried again at the next wake
            _failed(task_recorder(ti), plan.actors[owner], exc, recorded=retry)
            state["failed"][owner] = hashes.get(owner, "")
            ledger.mark(LEDGER_ENTRY, state)
            if retry and isinstance(exc, MailError):
                break  # e-mail still fails: the other retries wait for the next wake
            continue
        if events:
            told.append(("update" if delivered else "invitation", owner, now_steps))
            state["owners"][owner] = {"hash": hashes[owner], "steps": now_steps}
        else:
            state["owners"].pop(owner, None)
        if gone:
            told.append(("removed", owner, gone))
        state["failed"].pop(owner, None)
        ledger.mark(LEDGER_ENTRY, state)
        log.info(
            "Calendar e-mail%s sent to %s: %s (SEQUENCE %d)",
            "s" if len(messages) > 1 else "",
            owner,
            ", ".join(str(m["Subject"]) for m in messages),
            state["sequence"],
        )
    _tell_calendar_channels(  # one message for all the e-mails of this sending
        plan,
        dry_run,
        told,
        ti.dag_id,
        ti.run_id,
        task_recorder(ti),
    )
    return sent


def announce_calendar(plan: Plan, dry_run: str, context: Any) -> None:
    """The run's start (the watch's ``on_start``): every owner's invitation; never raises."""
    try:
        sent = sync_calendar(plan, dry_run, context)
        log.info("Calendar invitations of dry run %s: %d e-mails sent", dry_run, sent)
    except Exception:
        log.exception("Calendar invitations of dry run %s failed; the run goes on", dry_run)


def update_calendar(plan: Plan, dry_run: str, context: Any) -> None:
    """Each wake of the watch (``on_wake``): updates for owners whose events changed; never raises."""
    try:
        sent = sync_calendar(plan, dry_run, context)
        if sent:
            log.info("Calendar updates of dry run %s: %d e-mails sent", dry_run, sent)
    except Exception:
        log.exception("Calendar updates of dry run %s failed; the run goes on", dry_run)


def cancel_calendar(
    plan: Plan, dry_run: str, run_id: str, state_raw: Any
) -> tuple[int, dict[str, Any]]:
    """``Calendar - Cancelled`` to every owner the run's watch invited (``state_raw``: its ledger entry).

    Returns how many e-mails went out and the entry to keep: no owner left, and a SEQUENCE above the
    cancellation's, so that a run brought back to life (its tasks cleared) invites everyone again.
    """
    state = _state(state_raw)
    sequence = state["sequence"] + 1
    sent = 0
    told: list[tuple[str, str, list[str]]] = []
    for owner, delivered in state["owners"].items():
        if owner not in plan.actors or not delivered.get("steps"):
            continue
        try:
            message = calendar_message(
                plan,
                dry_run,
                owner,
                _gone_events(plan, dry_run, run_id, list(delivered["steps"])),
                kind="cancelled",
                run_id=run_id,
                sequence=sequence,
            )
            send(message)
        except Exception as exc:
            log.warning("The calendar cancellation to %s could not be sent: %s", owner, exc)
            continue
        sent += 1
        told.append(("cancelled", owner, list(delivered["steps"])))
    # in the api-server, the run's watch stopped: a channel that fails is only logged
    _tell_calendar_channels(plan, dry_run, told, plan.dag_id(dry_run), run_id)
    return sent, {"sequence": sequence + 1, "version": None, "owners": {}, "failed": {}}
