"""A dry run as the plugin's JSON shows it (recap, run, defects, transfers), for the results and i18n tests."""

from __future__ import annotations


def step(
    id_, phase, state, owner, planned_start, planned_end, actual_start=None, actual_end=None, **more
):
    return {
        "id": id_,
        "label": f"Label of {id_}",
        "phase": phase,
        "state": state,
        "owner": owner,
        "owner_name": owner.title() + " X",
        "team": "Market",
        "planned_start": planned_start,
        "planned_end": planned_end,
        "due": more.get("due"),
        "actual_start": actual_start,
        "actual_end": actual_end,
        "started_by": more.get("started_by"),
        "closed_by": more.get("closed_by"),
        "comment": more.get("comment", ""),
        "defects": more.get("defects", []),
        "transferred_to": more.get("transferred_to", []),
        "link": f"http://x/{id_}",
    }


def recap(dry_run="DR1", dag_id="resa_dr1", run_id="manual__1", day="2027-01-16", **overrides):
    steps = [
        step(
            "A",
            "AC",
            "Terminated",
            "alice",
            f"{day}T08:00:00+01:00",
            f"{day}T09:00:00+01:00",
            f"{day}T08:05:00+01:00",
            f"{day}T09:35:00+01:00",
            started_by="alice",
            closed_by="carol",
            comment="done <ok>",
        ),
        step(
            "B",
            "AC",
            "Late",
            "bob",
            f"{day}T09:00:00+01:00",
            f"{day}T11:00:00+01:00",
            f"{day}T09:40:00+01:00",
            started_by="frank",
            due=f"{day}T11:15:00+01:00",  # ready at 09:15 (A closed late), 2 h: after its planned end
            transferred_to=["frank"],
            defects=[{"id": 7, "title": "Queue not empty", "severity": "major", "status": "open"}],
        ),
        step("C", "CO", "Overdue", "carol", f"{day}T11:00:00+01:00", f"{day}T11:30:00+01:00"),
        step("D", "HO", "Planned", "alice", None, None),
    ]
    document = {
        "plan": "resa",
        "dry_run": dry_run,
        "dag_id": dag_id,
        "run_id": run_id,
        "timezone": "Europe/Brussels",
        "now": f"{day}T12:00:00+01:00",
        "counts": {
            "Planned": 1,
            "Locked": 0,
            "Overdue": 1,
            "Idle": 0,
            "Ready": 0,
            "Open": 0,
            "Late": 1,
            "Terminated": 1,
            "Skipped": 0,
            "Failed": 0,
        },
        "counts_by_phase": {
            "AC": {"Late": 1, "Terminated": 1},
            "CO": {"Overdue": 1},
            "HO": {"Planned": 1},
        },
        "planned_end": f"{day}T11:30:00+01:00",
        "forecast_end": f"{day}T13:30:00+01:00",
        "must_end_by": f"{day}T13:00:00+01:00",
        "forecast_late": True,
        "critical_path": ["A", "B", "C"],
        "forecast_critical_path": ["B", "C"],
        "actors": {
            "alice": "Alice Martin",
            "bob": "Bob Peeters",
            "carol": "Carol Dubois",
            "frank": "Frank Claes",
        },
        "steps": steps,
    }
    document.update(overrides)
    return document


RUN = {
    "dag_run_id": "manual__1",
    "state": "running",
    "start_date": "2027-01-16T07:00:00Z",
    "end_date": None,
}
DEFECTS = [
    {
        "id": 7,
        "task_id": "B",
        "title": "Queue not empty",
        "severity": "major",
        "status": "open",
        "description": "12 messages",
        "created_by": "frank",
        "created_at": "2027-01-16T08:50:00+00:00",
        "resolved_by": None,
        "resolved_at": None,
    }
]
TRANSFERS = [
    {
        "id": 1,
        "task_id": "B",
        "from_user": "bob",
        "to_user": "frank",
        "message": "On leave",
        "created_at": "2027-01-16T08:45:00+00:00",
    }
]
