"""``transition sample --steps N``: a realistic synthetic plan for tests and benchmarks.

Phases follow each other (PP, AC, CO, DC, HO), prerequisites point mostly to recent steps, some
steps are only rehearsed in some dry runs, and the last cut-over step is a go / no-go gate: the first
controlled-start step follows it on Go, the fallback branch (FB-RB) on No-go.
The same N and seed always give the same workbook.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from transition.workbook.writer import write_plan_workbook

TEAMS = {
    "market": "Market Systems",
    "billing": "Billing",
    "meter": "Metering",
    "gis": "GIS & Grid Data",
    "infra": "Infrastructure",
    "dba": "Databases",
    "ops": "Operations Control",
    "test": "Test Factory",
}
PHASE_SHARE = [
    ("PP", 0.30),
    ("AC", 0.15),
    ("CO", 0.25),
    ("DC", 0.15),
    ("HO", 0.08),
    ("FB-RB", 0.07),
]
PHASE_FIRST_DAY = {"PP": -10, "AC": -1, "CO": 0, "DC": 1, "HO": 2, "FB-RB": 1}  # relative to D-day
VERBS = {
    "PP": ["Prepare", "Check", "Export", "Archive", "Announce", "Reconcile", "Back up"],
    "AC": ["Freeze", "Stop", "Drain", "Close", "Disable", "Snapshot"],
    "CO": ["Migrate", "Load", "Convert", "Switch", "Deploy", "Transform", "Verify"],
    "DC": ["Start", "Enable", "Smoke-test", "Open", "Resume", "Monitor"],
    "HO": ["Hand over", "Sign off", "Report on", "Close"],
    "FB-RB": ["Restore", "Roll back", "Re-enable", "Revert"],
}
OBJECTS = [
    "billing run",
    "EAN register",
    "market gateway",
    "meter reading import",
    "grid access point table",
    "MIG 6 message queue",
    "customer master data",
    "supplier switch backlog",
    "UMIG 4 interfaces",
    "allocation engine",
    "settlement batch",
    "connection contracts",
    "metering configuration",
    "invoice archive",
    "central market system link",
    "reporting datamart",
    "job scheduler",
]
DRY_RUNS = ["DR1", "DR2", "DR3", "LIVE"]
ENVIRONMENTS = [("ACC", "Acceptance"), ("PRE", "Pre-production"), ("PRD", "Production")]


def sample_plan(
    steps: int, seed: int = 1, first_d_day: dt.date = dt.date(2027, 2, 6)
) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    actors = _actors(max(8, min(60, steps // 20 + 8)), rng)
    owners = [a["id"] for a in actors if a["team_leader"] != a["id"]]
    rows: list[dict] = []
    ends: dict[str, int] = {}  # planned end of each step, in minutes after D-10 00:00
    window = max(8, steps // 25)  # how far back prerequisites reach: wide plans run in parallel
    go_no_go: str | None = None
    number = 0
    for phase, count in _phase_counts(steps):
        phase_ids: list[str] = []
        for i in range(count):
            number += 1
            step_id = f"{phase.replace('-', '')}-{number:05d}"
            prereqs = _prerequisites(phase, phase_ids, rows, go_no_go, window, rng)
            # The gate's two branches, in every dry run: the controlled start on Go, the fallback
            # on No-go (the rest of the fallback is rehearsed in DR2 and LIVE).
            gate_branch = go_no_go is not None and not phase_ids and phase in ("DC", "FB-RB")
            if go_no_go is not None and gate_branch:
                prereqs = list(dict.fromkeys([go_no_go, *prereqs]))
            verb, what = rng.choice(VERBS[phase]), rng.choice(OBJECTS)
            minutes = rng.choice([15, 30, 45, 60, 90, 120, 240])
            ready = max((ends[p] for p in prereqs), default=0)
            start_text, start_at = _start(phase, ready, rng)
            ends[step_id] = max(ready, start_at) + minutes
            row = {
                "id": step_id,
                "label": f"{verb} {what}",
                "phase": phase,
                "dry_runs": _dry_runs(phase, rng),
                "prerequisites": ", ".join(prereqs),
                "start": start_text,
                "duration": f"{minutes}m"
                if minutes < 60
                else f"{minutes // 60}h{minutes % 60 or ''}",
                "owner": rng.choice(owners),
                "environment": "" if rng.random() < 0.3 else rng.choice(ENVIRONMENTS)[0],
                "description": f"{verb} the {what} as described in runbook section {rng.randint(1, 40)}.{rng.randint(1, 9)}.",
            }
            if gate_branch:
                row["dry_runs"] = "ALL"
            rows.append(row)
            phase_ids.append(step_id)
            if phase == "CO" and i == count - 1:
                go_no_go = step_id
                row.update(label="Go/no-go decision on the cut over", kind="gate", dry_runs="ALL")
    dry_runs = [
        {
            "name": name,
            "d_day": first_d_day + dt.timedelta(weeks=6 * k),
            "end": dt.datetime.combine(
                first_d_day + dt.timedelta(weeks=6 * k, days=4), dt.time(18, 0)
            ),
            "environment": "PRD" if name == "LIVE" else "PRE" if k == 2 else "ACC",
        }
        for k, name in enumerate(DRY_RUNS)
    ]
    environments = [
        {"code": c, "name": n, "description": f"{n} environment"} for c, n in ENVIRONMENTS
    ]
    return {"steps": rows, "actors": actors, "dry_runs": dry_runs, "environments": environments}


def write_sample(path: Path, steps: int, seed: int = 1) -> Path:
    data = sample_plan(steps, seed)
    return write_plan_workbook(
        path,
        steps=data["steps"],
        actors=data["actors"],
        dry_runs=data["dry_runs"],
        environments=data["environments"],
    )


def _phase_counts(total: int) -> list[tuple[str, int]]:
    counts = [(phase, int(total * share)) for phase, share in PHASE_SHARE]
    missing = total - sum(c for _, c in counts)
    counts[0] = (counts[0][0], counts[0][1] + missing)
    return [(p, c) for p, c in counts if c > 0]


def _prerequisites(
    phase: str,
    phase_ids: list[str],
    rows: list[dict],
    go_no_go: str | None,
    window: int,
    rng: random.Random,
) -> list[str]:
    if phase == "FB-RB" and not phase_ids and go_no_go:
        return [go_no_go]
    pool = phase_ids[-window:] if phase_ids else [r["id"] for r in rows[-window:]]
    if not pool:
        return []
    wanted = 1 if rng.random() < 0.6 else rng.randint(1, 3)
    picks = rng.sample(pool, min(wanted, len(pool)))
    if rng.random() < 0.05 and len(rows) > 20:
        picks.append(rows[rng.randrange(len(rows) - 20)]["id"])  # an occasional long-range link
    return list(dict.fromkeys(picks))


def _dry_runs(phase: str, rng: random.Random) -> str:
    if phase == "FB-RB":
        return "DR2, LIVE"
    roll = rng.random()
    if roll < 0.80:
        return "ALL"
    if roll < 0.90:
        return "DR2, DR3, LIVE"
    return "DR1, LIVE"


def _start(phase: str, ready: int, rng: random.Random) -> tuple[str, int]:
    """A not-before time for about one step in five, never before its prerequisites should end."""
    if rng.random() < 0.8:
        return "", 0
    earliest = max(ready, (PHASE_FIRST_DAY[phase] + 10) * 1440 + 6 * 60)  # minutes after D-10 00:00
    at = -(-earliest // 15) * 15 + rng.choice([0, 15, 30, 60])
    day, minute_of_day = divmod(at, 1440)
    return f"D{day - 10:+d} {minute_of_day // 60:02d}:{minute_of_day % 60:02d}", at


def _actors(count: int, rng: random.Random) -> list[dict]:
    first = [
        "Amélie",
        "Bruno",
        "Chloé",
        "David",
        "Emma",
        "François",
        "Gilles",
        "Hélène",
        "Inès",
        "Jan",
        "Koen",
        "Laura",
        "Marc",
        "Nathalie",
        "Olivier",
        "Pauline",
        "Quentin",
        "Rita",
        "Sophie",
        "Thomas",
    ]
    last = [
        "Dubois",
        "Peeters",
        "Lambert",
        "Janssens",
        "Maes",
        "Dupont",
        "Claes",
        "Renard",
        "Willems",
        "Simon",
    ]
    head = {
        "id": "dhead",
        "name": "Denise Head",
        "email": "denise.head@example.com",
        "team": "Direction",
        "team_leader": "",
        "department_head": "",
        "language": "fr",
    }
    actors = [head]
    teams = list(TEAMS.values())
    leaders: dict[str, str] = {}
    for k in range(count):
        team = teams[k % len(teams)]
        name = f"{first[k % len(first)]} {last[(k * 7) % len(last)]}"
        actor_id = f"u{k:03d}"
        leader = leaders.setdefault(team, actor_id)
        actors.append(
            {
                "id": actor_id,
                "name": name,
                "email": f"{actor_id}@example.com",
                "team": team,
                "team_leader": leader,
                "department_head": "dhead",
                "language": "fr" if rng.random() < 0.6 else "en",
            }
        )
    return actors
