"""The validated plan: steps, actors, dry runs, environments, and one projected graph per dry run."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from transition.plan.action_cells import Expectation
from transition.plan.actions import Action
from transition.plan.escalation import Ladder
from transition.workbook.cells import RelativeStart


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    name: str
    email: str
    team: str = ""
    team_leader: str | None = None
    department_head: str | None = None
    language: str = "en"
    timezone: str = ""  # an IANA zone (Europe/Brussels); empty: the plan's
    phone: str = ""  # E.164 (+32470123456), for SMS; empty: none


@dataclass(frozen=True, slots=True)
class Environment:
    code: str
    name: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class DryRun:
    name: str
    d_day: dt.date
    end: dt.datetime | None = None  # aware, in the plan's time zone
    environment: str | None = None


@dataclass(frozen=True, slots=True)
class StepAction:
    """What an automated step runs: an action of the catalogue with its arguments bound to the
    parameters' types, and for a check the expectation its measured value must meet."""

    name: str
    arguments: dict[str, str | int | float | bool]
    text: str  # the Action cell as written
    expect: Expectation | None = None  # a check's
    expect_text: str = ""  # the Expect cell as written
    confirm_first: bool = False  # Approvals "before": its holder answers Start, then it runs


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    label: str
    phase: str
    dry_runs: tuple[str, ...]  # resolved names; ALL already expanded
    prerequisites: tuple[str, ...]
    owner: str
    start: RelativeStart | None = None
    duration: dt.timedelta = dt.timedelta(minutes=30)
    environment: str | None = None
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    row: int = 0  # row in the Steps sheet
    kind: str = "step"  # "step", "gate" (answered Go or No-go), "auto" or "check" (run an action)
    approvals: int = 1  # a gate: distinct Go answers needed (one No-go decides)
    action: StepAction | None = None  # an auto or check step's

    @property
    def is_gate(self) -> bool:
        return self.kind == "gate"


@dataclass(frozen=True, slots=True)
class ScheduledStep:
    """A step in one dry run: its upstream steps after projection and its planned times."""

    step_id: str
    upstream: tuple[str, ...]
    not_before: dt.datetime | None  # from the Start column, aware
    planned_start: (
        dt.datetime | None
    )  # max(not_before, upstream planned ends); None if nothing anchors it
    planned_end: dt.datetime | None


@dataclass(frozen=True)
class DryRunPlan:
    dry_run: DryRun
    steps: dict[str, ScheduledStep]  # in plan (workbook) order

    def edges(self) -> list[tuple[str, str]]:
        return [(up, s.step_id) for s in self.steps.values() for up in s.upstream]

    @property
    def planned_window(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        starts = [s.planned_start for s in self.steps.values() if s.planned_start]
        ends = [s.planned_end for s in self.steps.values() if s.planned_end]
        return (min(starts) if starts else None, max(ends) if ends else None)


@dataclass(frozen=True, slots=True)
class Channel:
    """A chat channel that also gets some messages (config.yaml's ``channels``): an Airflow
    connection (``slackwebhook`` or ``apprise``) and the kinds of messages it gets; ``to``: a room
    (one message per event) or ``people`` (each person concerned, by SMS: notifications/sms.py)."""

    connection: str
    messages: tuple[str, ...]
    to: str = "room"


@dataclass(frozen=True)
class PlanSource:
    workbook: str
    workbook_sha256: str
    config: str | None
    key: str  # content key of workbook + configuration + compiler version
    compiled_at: dt.datetime


@dataclass(frozen=True)
class Plan:
    name: str
    timezone: str
    language: str
    phases: dict[str, str]  # code -> name, in order
    lock_window: dt.timedelta
    cutover_managers: tuple[str, ...]
    steps: dict[str, Step]
    actors: dict[str, Actor]
    dry_runs: dict[str, DryRun]
    environments: dict[str, Environment]
    schedules: dict[str, DryRunPlan]
    source: PlanSource
    warnings: tuple[str, ...] = ()
    conditional_phases: tuple[str, ...] = ()  # run only when a gate says No-go (fallback)
    channels: tuple[Channel, ...] = ()  # chat channels that also get some messages

    def channels_for(self, kind: str, to: str = "room") -> list[Channel]:
        """The channels that get this kind of message (``ready``, ``late``, ...): the rooms, or
        with ``to="people"`` those that reach each person concerned."""
        return [c for c in self.channels if kind in c.messages and c.to == to]

    escalation: Ladder = Ladder()  # reminders of a step nobody starts or closes (config.yaml)
    # The catalogue's actions that the plan's automated steps run, as compiled (what runs is the
    # compiled plan's, not whatever the catalogue says later).
    actions: dict[str, Action] = field(default_factory=dict)

    def dag_id(self, dry_run: str) -> str:
        return dag_id_for(self.name, dry_run)

    def dry_run_of(self, dag_id: str) -> str | None:
        """The dry run whose DAG has this id, if any."""
        return next((d for d in self.schedules if self.dag_id(d) == dag_id), None)

    def manager_actors(self) -> list[Actor]:
        """The cutover managers who are actors of the plan, in the configuration's order."""
        return [self.actors[m] for m in self.cutover_managers if m in self.actors]

    def responsible_people(self, step_id: str) -> list[str]:
        """Owner, team leader and department head of a step, without repeats."""
        owner = self.actors[self.steps[step_id].owner]
        people = [owner.id, owner.team_leader, owner.department_head]
        return list(dict.fromkeys(p for p in people if p))


def dag_id_for(plan_name: str, dry_run: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", f"{plan_name}_{dry_run}".lower())
