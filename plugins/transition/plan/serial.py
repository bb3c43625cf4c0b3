"""The compiled plan's serialisable form (JSON), and back.

Datetimes are stored as ISO strings with their UTC offset and brought back into the plan's zone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from typing import Any

from transition.plan.action_cells import Expectation
from transition.plan.actions import Action, Parameter
from transition.plan.escalation import DEFAULT_GATE_WARNING, Ladder
from transition.plan.model import (
    Actor,
    Channel,
    DryRun,
    DryRunPlan,
    Environment,
    Plan,
    PlanSource,
    ScheduledStep,
    Step,
    StepAction,
)
from transition.workbook.cells import RelativeStart

FORMAT_VERSION = 2  # 2: gates (kind, approvals) and conditional phases


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _actor_row(a: Actor) -> list[str | None]:
    """An actor as a row; a plan compiled before Time zone and Phone reads them empty."""
    row = [a.id, a.name, a.email, a.team, a.team_leader, a.department_head, a.language]
    return [*row, a.timezone, a.phone]


def plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "name": plan.name,
        "timezone": plan.timezone,
        "language": plan.language,
        "phases": plan.phases,
        "conditional_phases": list(plan.conditional_phases),
        "lock_window_s": plan.lock_window.total_seconds(),
        "cutover_managers": list(plan.cutover_managers),
        "channels": [[c.connection, list(c.messages), c.to] for c in plan.channels],
        "escalation": {
            "not_started_s": [d.total_seconds() for d in plan.escalation.not_started],
            "overrun_s": [d.total_seconds() for d in plan.escalation.overrun],
            "heads_up_s": plan.escalation.heads_up.total_seconds()
            if plan.escalation.heads_up is not None
            else None,
            "gate_warning_s": plan.escalation.gate_warning.total_seconds()
            if plan.escalation.gate_warning is not None
            else None,
        },
        "source": {
            "workbook": plan.source.workbook,
            "workbook_sha256": plan.source.workbook_sha256,
            "config": plan.source.config,
            "key": plan.source.key,
            "compiled_at": plan.source.compiled_at.isoformat(),
        },
        "warnings": list(plan.warnings),
        "actions": {name: _catalogue_action_to_json(a) for name, a in plan.actions.items()},
        "environments": [[e.code, e.name, e.description] for e in plan.environments.values()],
        "actors": [_actor_row(a) for a in plan.actors.values()],
        "dry_runs": [
            [d.name, d.d_day.isoformat(), _iso(d.end), d.environment]
            for d in plan.dry_runs.values()
        ],
        "steps": [
            {
                "id": s.id,
                "label": s.label,
                "phase": s.phase,
                "dry_runs": list(s.dry_runs),
                "prerequisites": list(s.prerequisites),
                "owner": s.owner,
                "start": [s.start.days, s.start.clock()] if s.start else None,
                "duration_s": s.duration.total_seconds(),
                "environment": s.environment,
                "description": s.description,
                "extra": s.extra,
                "row": s.row,
                "kind": s.kind,
                "approvals": s.approvals,
                "action": _action_to_json(s.action),
            }
            for s in plan.steps.values()
        ],
        "schedules": {
            name: [
                [
                    s.step_id,
                    list(s.upstream),
                    _iso(s.not_before),
                    _iso(s.planned_start),
                    _iso(s.planned_end),
                ]
                for s in schedule.steps.values()
            ]
            for name, schedule in plan.schedules.items()
        },
    }


def plan_from_json(data: dict[str, Any]) -> Plan:
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"compiled plan format {data.get('format')!r}, expected {FORMAT_VERSION}")
    zone = zoneinfo.ZoneInfo(data["timezone"])

    def when(text: str | None) -> dt.datetime | None:
        return dt.datetime.fromisoformat(text).astimezone(zone) if text else None

    dry_runs = {
        row[0]: DryRun(row[0], dt.date.fromisoformat(row[1]), when(row[2]), row[3])
        for row in data["dry_runs"]
    }
    steps: dict[str, Step] = {}
    for s in data["steps"]:
        start = s["start"]
        steps[s["id"]] = Step(
            id=s["id"],
            label=s["label"],
            phase=s["phase"],
            dry_runs=tuple(s["dry_runs"]),
            prerequisites=tuple(s["prerequisites"]),
            owner=s["owner"],
            start=RelativeStart(start[0], dt.time.fromisoformat(start[1])) if start else None,
            duration=dt.timedelta(seconds=s["duration_s"]),
            environment=s["environment"],
            description=s["description"],
            extra=s["extra"],
            row=s["row"],
            kind=s["kind"],
            approvals=s["approvals"],
            action=_action_from_json(s.get("action")),
        )
    source = data["source"]
    return Plan(
        name=data["name"],
        timezone=data["timezone"],
        language=data["language"],
        phases=data["phases"],
        lock_window=dt.timedelta(seconds=data["lock_window_s"]),
        cutover_managers=tuple(data["cutover_managers"]),
        channels=tuple(  # a plan compiled before ``to`` has rooms
            Channel(row[0], tuple(row[1]), *row[2:3]) for row in data.get("channels", [])
        ),
        steps=steps,
        actors={row[0]: Actor(*row) for row in data["actors"]},
        dry_runs=dry_runs,
        environments={row[0]: Environment(*row) for row in data["environments"]},
        schedules={
            name: DryRunPlan(
                dry_runs[name],
                {
                    row[0]: ScheduledStep(
                        row[0], tuple(row[1]), when(row[2]), when(row[3]), when(row[4])
                    )
                    for row in rows
                },
            )
            for name, rows in data["schedules"].items()
        },
        source=PlanSource(
            workbook=source["workbook"],
            workbook_sha256=source["workbook_sha256"],
            config=source["config"],
            key=source["key"],
            compiled_at=dt.datetime.fromisoformat(source["compiled_at"]),
        ),
        warnings=tuple(data["warnings"]),
        conditional_phases=tuple(data["conditional_phases"]),
        escalation=_ladder(data.get("escalation")),
        actions={
            name: _catalogue_action_from_json(name, body)
            for name, body in data.get("actions", {}).items()
        },
    )


def _catalogue_action_to_json(action: Action) -> dict[str, Any]:
    return {
        "kind": action.kind,
        "connection": action.connection,
        "spec": action.spec,
        "description": action.description,
        "parameters": {
            name: [p.type, list(p.choices), p.default] for name, p in action.parameters.items()
        },
    }


def _catalogue_action_from_json(name: str, data: dict[str, Any]) -> Action:
    return Action(
        name=name,
        kind=data["kind"],
        connection=data["connection"],
        spec=dict(data["spec"]),
        description=data["description"],
        parameters={
            key: Parameter(key, kind, tuple(choices), default)
            for key, (kind, choices, default) in data["parameters"].items()
        },
    )


def _action_to_json(action: StepAction | None) -> dict[str, Any] | None:
    if action is None:
        return None
    return dataclasses.asdict(action)


def _action_from_json(data: dict[str, Any] | None) -> StepAction | None:
    """An automated step's action; None for a person's step (or a plan compiled before them)."""
    if data is None:
        return None
    expect = data.get("expect")
    return StepAction(
        name=data["name"],
        arguments=dict(data["arguments"]),
        text=data["text"],
        expect=Expectation(**expect) if expect is not None else None,
        expect_text=data.get("expect_text", ""),
        confirm_first=bool(data.get("confirm_first", False)),
    )


def _ladder(data: dict[str, Any] | None) -> Ladder:
    """The escalation ladder; a plan compiled before it existed has the defaults."""
    if data is None:
        return Ladder()
    return Ladder(
        tuple(dt.timedelta(seconds=s) for s in data["not_started_s"]),
        tuple(dt.timedelta(seconds=s) for s in data["overrun_s"]),
        dt.timedelta(seconds=data["heads_up_s"]) if data.get("heads_up_s") is not None else None,
        _gate_warning(data),
    )


def _gate_warning(escalation: dict[str, Any]) -> dt.timedelta | None:
    """An undecided gate's warning; a plan compiled before it existed has the default."""
    if "gate_warning_s" not in escalation:
        return DEFAULT_GATE_WARNING
    seconds = escalation["gate_warning_s"]
    return dt.timedelta(seconds=seconds) if seconds is not None else None
