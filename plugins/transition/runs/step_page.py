"""What the phone pages show (issue 30): a step with what it waits for and what this person may do
now, and "My night" (a person's steps in a run, the next one first to come). Pure functions of the
plan, the run view, the step's open request and who asks: no Airflow, unit-tested.

The page only shows buttons; the server decides (the guard, Airflow's own checks).
How it works: docs/phone.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from typing_extensions import TypedDict

from transition.i18n import _, format_moment, their_moment
from transition.plan.model import Plan
from transition.runs.views import RunView, StepView
from transition.vocabulary import TAKEN_OVER, Option, State

DONE = frozenset({State.TERMINATED.value, State.SKIPPED.value})
ASKING = frozenset({State.READY.value, State.OPEN.value, State.LATE.value})  # its request is open
DEFECT_STATES = ASKING | {State.TERMINATED.value}  # a defect after the close blocks nothing
FINISHED = DONE | {State.FAILED.value}  # no more transfers
# ``?do=`` in a message's link: the answer the page opens, confirmed by one tap (never sent by a GET)
PRESELECTABLE = {option.value.lower(): option.value for option in Option}
TONES = {Option.NO_GO.value: "stop", Option.RETRY.value: "plain"}  # a button's colour; else "go"


class Waiting(TypedDict):
    """A prerequisite not done yet, and who holds it."""

    id: str
    label: str
    state: str
    holder: str  # the name of whoever holds it: the last person it was handed to, else its owner


class Answer(TypedDict):
    option: str  # an option of the step's open request (transition.vocabulary.Option)
    comment_required: bool  # Done by hand and Accept need one (the guard says 422 otherwise)
    tone: str  # "go" (moves the step on), "stop" (No-go), "plain"


class StepPage(TypedDict):
    step: StepView
    description: str  # Markdown, from the workbook
    environment: str
    phase_name: str
    waits_for: list[Waiting]
    may_act: bool  # one of the step's people or a cutover manager: the buttons are shown
    answers: list[Answer]  # what the open request offers this person now
    pending: bool  # asking, but no open request right now (an answer is being taken in)
    defect: bool  # may record a defect now
    transfer: bool  # may hand the step over now
    preselected: str | None  # the answer ``?do=`` opens


class NightStep(TypedDict):
    step: StepView
    waits_for: list[Waiting]
    next: bool  # the first of the person's steps not done yet to come (by the forecast)


def viewer_zone(plan: Plan, login: str) -> str:
    """The reader's time zone when it is not the plan's (their Actors row's Time zone), else ""."""
    actor = plan.actors.get(login)
    return actor.timezone if actor and actor.timezone not in ("", plan.timezone) else ""


def page_moment(value: str | None, zone: str = "") -> str:
    """An ISO time of the run view (the plan's time zone) as people read it, the reader's time
    beside it when their clocks differ (``Mon 07 Dec 02:10 · Sun 06 Dec 20:10 your time``), or a
    dash."""
    if not value:
        return "—"
    moment = dt.datetime.fromisoformat(value)
    theirs = their_moment(moment, zone)
    text = format_moment(moment, "short")
    return (
        _("{time} · {their_time} your time").format(time=text, their_time=theirs)
        if theirs
        else text
    )


def may_act(step: StepView, login: str, manager: bool) -> bool:
    """Whether the page shows this person buttons: the step's people (owner, team leader,
    department head, whoever it was handed to) and the cutover managers, as the guard rules say."""
    return manager or login in step["responsible"] or login in step["transferred_to"]


def holder_name(plan: Plan, step: StepView) -> str:
    """Whoever holds the step now: the last person it was handed to, else its owner."""
    if step["transferred_to"]:
        last = step["transferred_to"][-1]
        actor = plan.actors.get(last)
        return actor.name if actor else last
    return step["owner_name"]


def waits_for(plan: Plan, dry_run: str, view: RunView, step_id: str) -> list[Waiting]:
    """The step's prerequisites in this dry run that are not done yet, in plan order."""
    steps = {s["id"]: s for s in view["steps"]}
    upstream = plan.schedules[dry_run].steps[step_id].upstream
    return [
        {
            "id": s["id"],
            "label": s["label"],
            "state": s["state"],
            "holder": holder_name(plan, s),
        }
        for s in (steps[u] for u in upstream if u in steps)
        if s["state"] not in DONE
    ]


def answers(step: StepView, offered: Sequence[str] | None, allowed: bool) -> list[Answer]:
    """The open request's options this person may choose now: none when they may not act, when
    no request is open (``offered`` None), or outside Ready / Open / Late; no Start once started
    (the guard refuses it, 409)."""
    if not allowed or offered is None or step["state"] not in ASKING:
        return []
    started = step["actual_start"] is not None
    return [
        {
            "option": option,
            "comment_required": option in TAKEN_OVER,
            "tone": TONES.get(option, "go"),
        }
        for option in offered
        if not (started and option == Option.START.value)
    ]


def step_page(
    plan: Plan,
    dry_run: str,
    view: RunView,
    step_id: str,
    *,
    login: str,
    manager: bool,
    offered: Sequence[str] | None,
    do: str | None = None,
) -> StepPage:
    """The step page's data. ``offered``: the options of the step's open request (None when it
    asks nothing now, or was answered); ``do``: the answer a message's link asks to open."""
    step = next(s for s in view["steps"] if s["id"] == step_id)
    model = plan.steps[step_id]
    allowed = may_act(step, login, manager)
    environment = plan.environments.get(model.environment or "")
    choices = answers(step, offered, allowed)
    wanted = PRESELECTABLE.get((do or "").strip().lower())
    return {
        "step": step,
        "description": model.description,
        "environment": f"{environment.code} — {environment.name}"
        if environment
        else (model.environment or ""),
        "phase_name": plan.phases.get(step["phase"], ""),
        "waits_for": waits_for(plan, dry_run, view, step_id),
        "may_act": allowed,
        "answers": choices,
        "pending": allowed and offered is None and step["state"] in ASKING,
        "defect": allowed and step["state"] in DEFECT_STATES,
        "transfer": allowed and step["state"] not in FINISHED,
        "preselected": wanted if any(a["option"] == wanted for a in choices) else None,
    }


def my_night(plan: Plan, dry_run: str, view: RunView, login: str) -> list[NightStep]:
    """The steps this person holds in the run (their own, their team's as leader or head, those
    handed to them), in plan order; the next one to come (earliest forecast start among those not
    done) marked."""
    mine = [s for s in view["steps"] if login in s["responsible"] or login in s["transferred_to"]]
    open_ = [s for s in mine if s["state"] not in DONE and s["forecast_start"] is not None]
    first = min(
        open_, key=lambda s: dt.datetime.fromisoformat(s["forecast_start"] or ""), default=None
    )
    return [
        {
            "step": s,
            "waits_for": waits_for(plan, dry_run, view, s["id"]),
            "next": first is not None and s["id"] == first["id"],
        }
        for s in mine
    ]
