"""Calendar invitations: the iCalendar (.ics) file of one owner in one dry run.

The owner is whoever holds the steps now (``holders``, from :mod:`transition.runs.step_holder`);
one event per step with a planned start, from planned start to planned end. The UID
(``<step>.<dry run>.<plan>.<run key>@transition``) is the same for the same step of the same run,
so an update or a cancellation replaces the event; the caller gives the SEQUENCE. Pure functions
of the compiled plan; ``icalendar`` is imported only when a file is written.

How it works: docs/architecture.md, "notifications/calendar_ics.py".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from icalendar import Calendar, Event, vCalAddress

from transition.i18n import _, format_moment, their_moment, use_language
from transition.notifications.addressing import required_actions_link, step_page_link
from transition.plan.model import Actor, Plan
from transition.vocabulary import DEFAULT_BASE_URL, subject_prefix
from transition.workbook.cells import format_duration

PRODID = "-//airflow-transition//Transition plan//EN"
REQUEST, CANCEL = "REQUEST", "CANCEL"
UTC = dt.UTC


@dataclass(frozen=True)
class CalendarEvent:
    """One step as a calendar event (times are aware, in the plan's zone; None when unknown)."""

    uid: str
    step_id: str
    summary: str
    description: str = ""
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    url: str | None = None


def run_key(run_id: str) -> str:
    return hashlib.sha256(run_id.encode()).hexdigest()[:10]


def _uid_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def event_uid(plan_name: str, dry_run: str, step_id: str, run_id: str | None = None) -> str:
    parts = [step_id, dry_run, plan_name] + ([run_key(run_id)] if run_id else [])
    return ".".join(_uid_part(p) for p in parts) + "@transition"


def event_summary(dry_run: str, step_id: str, label: str | None) -> str:
    return f"{subject_prefix(dry_run)}{step_id}" + (f" - {label}" if label else "")


def organizer(plan: Plan) -> Actor | None:
    return next(iter(plan.manager_actors()), None)


def _when(moment: dt.datetime | None) -> str:
    return f"{format_moment(moment)} ({moment.tzname()})" if moment is not None else "—"


def _their_times(start: dt.datetime | None, end: dt.datetime | None, holder: Actor) -> list[str]:
    """``Your time (America/New_York): … to …`` when the holder's clocks read otherwise than the
    plan's (a calendar shows the event in its own zone; the description says both)."""
    if start is None or end is None or their_moment(start, holder.timezone) is None:
        return []
    zone = zoneinfo.ZoneInfo(holder.timezone)
    return [
        _("Your time ({zone}): {start} to {end}").format(
            zone=holder.timezone,
            start=format_moment(start.astimezone(zone)),
            end=format_moment(end.astimezone(zone)),
        )
    ]


def holder_of(plan: Plan, step_id: str, holders: Mapping[str, str] | None = None) -> str:
    """Who has ``step_id`` in their calendar: its holder when it was transferred to an actor of the
    plan, else its owner."""
    holder = (holders or {}).get(step_id)
    return holder if holder in plan.actors else plan.steps[step_id].owner


def _description(
    plan: Plan, dry_run: str, step_id: str, links: tuple[str | None, str | None], holder: str
) -> str:
    """The event's description, in the language of ``holder`` (the calendar is theirs); ``links``:
    the step's page and its Required Actions page in Airflow, once the run is known."""
    link, airflow = links
    step = plan.steps[step_id]
    with use_language(plan.actors[holder].language):
        scheduled = plan.schedules[dry_run].steps[step_id]
        environment = plan.environments.get(step.environment or "")
        lines = [
            _("Step {step} · {label} — dry run {dry_run} of plan {plan}").format(
                step=step.id, label=step.label, dry_run=dry_run, plan=plan.name
            ),
            _("Phase: {phase}").format(phase=f"{step.phase} — {plan.phases.get(step.phase, '')}"),
        ]
        if step.environment:
            lines.append(
                _("Environment: {environment}").format(
                    environment=f"{environment.code} — {environment.name}"
                    if environment
                    else step.environment
                )
            )
        lines.append(
            _("Planned: {start} to {end} (duration {duration}; times in {timezone})").format(
                start=_when(scheduled.planned_start),
                end=_when(scheduled.planned_end),
                duration=format_duration(step.duration),
                timezone=plan.timezone,
            )
        )
        lines += _their_times(scheduled.planned_start, scheduled.planned_end, plan.actors[holder])
        if scheduled.upstream:
            lines.append(
                _("Waits for: {steps}").format(
                    steps=", ".join(f"{u} · {plan.steps[u].label}" for u in scheduled.upstream)
                )
            )
        if step.description.strip():
            lines += ["", _("What to do:"), step.description.strip()]
        if link:
            lines += [
                "",
                _("Start and close the step on its page: {link}").format(link=link),
                _("In Airflow (Required Actions): {link}").format(link=airflow),
            ]
        else:
            lines += ["", _("The link to the step comes with the invitation of the run.")]
        return "\n".join(lines)


def run_events(
    plan: Plan,
    dry_run: str,
    *,
    run_id: str | None = None,
    base_url: str | None = None,
    holders: Mapping[str, str] | None = None,
) -> dict[str, list[CalendarEvent]]:
    """Every holder's events in ``dry_run`` (their steps with a planned start, in plan order), by
    holder: ``holders`` (step -> actor ID) for the steps transferred in the run, else the owner."""

    events: dict[str, list[CalendarEvent]] = {}
    for scheduled in plan.schedules[dry_run].steps.values():
        step = plan.steps[scheduled.step_id]
        if scheduled.planned_start is None or scheduled.planned_end is None:
            continue
        base, dag_id = base_url or DEFAULT_BASE_URL, plan.dag_id(dry_run)
        link = step_page_link(base, dag_id, run_id, step.id) if run_id else None
        airflow = required_actions_link(base, dag_id, run_id, step.id) if run_id else None
        holder = holder_of(plan, step.id, holders)
        events.setdefault(holder, []).append(
            CalendarEvent(
                uid=event_uid(plan.name, dry_run, step.id, run_id),
                step_id=step.id,
                summary=event_summary(dry_run, step.id, step.label),
                description=_description(plan, dry_run, step.id, (link, airflow), holder),
                start=scheduled.planned_start,
                end=scheduled.planned_end,
                url=link,
            )
        )
    return events


def owner_events(
    plan: Plan,
    dry_run: str,
    owner: str,
    *,
    run_id: str | None = None,
    base_url: str | None = None,
    holders: Mapping[str, str] | None = None,
) -> list[CalendarEvent]:
    """The events of ``owner`` in ``dry_run``: the steps they hold (``holders``, see run_events)."""
    return run_events(plan, dry_run, run_id=run_id, base_url=base_url, holders=holders).get(
        owner, []
    )


def fingerprint(events: list[CalendarEvent]) -> str:
    """What an owner's calendar says (not when it was written): equal fingerprints, nothing to update."""

    def plain(event: CalendarEvent) -> dict:
        values = asdict(event)
        for key in ("start", "end"):
            values[key] = values[key].astimezone(UTC).isoformat() if values[key] else None
        return values

    text = json.dumps([plain(e) for e in events], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _in_repeated_hour(moment: dt.datetime) -> bool:
    """True for the second pass of a wall-clock time that happens twice (clocks going back)."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def _ical_time(moment: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    local = moment.astimezone(zone)
    return local.astimezone(UTC) if _in_repeated_hour(local) else local


def _address(actor: Actor, **params: str):
    address = vCalAddress(f"mailto:{actor.email}")
    address.params["CN"] = actor.name
    for key, value in params.items():
        address.params[key.replace("_", "-").upper()] = value
    return address


def calendar_bytes(
    plan: Plan,
    owner: str,
    events: list[CalendarEvent],
    *,
    method: str = REQUEST,
    sequence: int = 0,
    stamp: dt.datetime | None = None,
) -> bytes:
    """The .ics file (``METHOD:REQUEST`` or ``CANCEL``) of ``events``, all of them ``owner``'s."""

    if method not in (REQUEST, CANCEL):
        raise ValueError(f"method must be {REQUEST} or {CANCEL}, not {method!r}")
    if not events:
        raise ValueError("a calendar needs at least one event")
    zone = zoneinfo.ZoneInfo(plan.timezone)
    stamp = (stamp or dt.datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    manager, attendee = organizer(plan), plan.actors.get(owner)
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
        event.add("sequence", sequence)
        event.add("summary", item.summary)
        if item.start is not None:
            event.add("dtstart", _ical_time(item.start, zone))
        if item.end is not None:
            event.add("dtend", _ical_time(item.end, zone))
        if item.description:
            event.add("description", item.description)
        if item.url:
            event.add("url", item.url)
        event.add("status", "CANCELLED" if method == CANCEL else "CONFIRMED")
        event.add("transp", "OPAQUE")
        if manager is not None:
            event.add("organizer", _address(manager, role="CHAIR"))
        if attendee is not None:
            event.add(
                "attendee",
                _address(
                    attendee,
                    role="REQ-PARTICIPANT",
                    partstat="NEEDS-ACTION",
                    rsvp="FALSE",
                    cutype="INDIVIDUAL",
                ),
            )
        calendar.add_component(event)
    moments = [m for e in events for m in (e.start, e.end) if m is not None]
    if moments:  # a VTIMEZONE covering the events (not 1970-2038: much shorter)
        calendar.add_missing_timezones(
            first_date=min(moments).date() - dt.timedelta(days=1),
            last_date=max(moments).date() + dt.timedelta(days=2),
        )
    return calendar.to_ical()


def ics_filename(plan: Plan, dry_run: str, owner: str) -> str:
    return f"{plan.dag_id(dry_run)}_{_uid_part(owner)}.ics"
