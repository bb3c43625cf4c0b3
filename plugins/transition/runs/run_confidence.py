"""How likely a running run ends in its window, from where it stands (issue 29): the steps left
take durations drawn from their laws (:mod:`transition.plan.duration_models`: the rehearsals'
measures, else the planned Duration), walked from the moment (:mod:`transition.plan.simulation`);
steps done keep their ends, steps open their starts. Undecided gates are taken Go for the end's
percentiles and, all at once, No-go for each gate's latest safe decision: the End less what runs
after a No-go there in 95% of the draws. The draws are seeded: the same facts, the same figures.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping

import numpy as np

from transition.plan.duration_models import DurationModel, draw
from transition.plan.gates import branch_only
from transition.plan.model import Plan
from transition.plan.simulation import Simulation, simulate
from transition.runs.run_view import progress_of, undecided_gates
from transition.runs.views import ConfidenceView, GateSafetyView, RunView

DRAWS = 2_000  # per scenario: P95 within about a minute on a night of hours
SEED = 29
CRITICAL_SHOWN = 5


def live_confidence(
    plan: Plan,
    view: RunView,
    models: Mapping[str, DurationModel],
    now: dt.datetime,
    runs: int = 0,
    draws: int = DRAWS,
) -> ConfidenceView | None:
    """The draws' view of run ``view`` from ``now`` (None once no step is left to draw)."""
    dry_run, steps = view["dry_run"], view["steps"]
    left = [s["id"] for s in steps if s["state"] not in ("Terminated", "Skipped")]
    if not left:
        return None
    schedule = plan.schedules[dry_run]
    zone = zoneinfo.ZoneInfo(plan.timezone)
    progress = progress_of(steps)
    gates = undecided_gates(steps)
    durations = draw(models, draws, np.random.default_rng(SEED))
    on_go = simulate(
        schedule, durations, now, progress, skipped=_skips(plan, dry_run, gates, "go"), keep=set()
    )
    end = schedule.dry_run.end
    safety: list[GateSafetyView] = []
    if gates:
        on_no_go = simulate(
            schedule,
            durations,
            now,
            progress,
            skipped=_skips(plan, dry_run, gates, "no-go"),
            keep=set(gates),
        )
        safety = [_safety(plan, on_no_go, gate, end, zone) for gate in gates]
    shown = sorted(left, key=lambda s: (-on_go.criticality.get(s, 0.0), s))[:CRITICAL_SHOWN]
    return {
        "draws": draws,
        "runs": runs,
        "measured_steps": sum(1 for s in left if models[s].measured),
        "p50": on_go.end_at(50).astimezone(zone).isoformat(),
        "p80": on_go.end_at(80).astimezone(zone).isoformat(),
        "p95": on_go.end_at(95).astimezone(zone).isoformat(),
        "chance_by_end": round(on_go.chance_by(end), 3) if end is not None else None,
        "criticality": [
            {"step": s, "share": round(on_go.criticality.get(s, 0.0), 3)}
            for s in shown
            if on_go.criticality.get(s, 0.0) > 0
        ],
        "gates": safety,
    }


def _skips(plan: Plan, dry_run: str, gates: list[str], decision: str) -> set[str]:
    """What only the other decision of the undecided ``gates`` would run."""
    return {step for gate in gates for step in branch_only(plan, dry_run, gate, decision)}


def _safety(
    plan: Plan,
    on_no_go: Simulation,
    gate: str,
    end: dt.datetime | None,
    zone: zoneinfo.ZoneInfo,
) -> GateSafetyView:
    after = on_no_go.after(gate, 95)
    return {
        "gate": gate,
        "label": plan.steps[gate].label,
        "fallback_p95_minutes": round(after.total_seconds() / 60),
        "latest_safe": (end - after).astimezone(zone).isoformat() if end is not None else None,
    }
