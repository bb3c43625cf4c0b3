"""Who may act on a step, and which plan a DAG id belongs to (api-server side)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from transition.plan.model import Plan
from transition.store.plan_store import load_plan
from transition.web.route_rules import not_allowed

PLAN_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class StepRef:
    plan: Plan
    dry_run: str
    step_id: str


_cache: dict[str, tuple[float, Plan | None]] = {}
_lock = threading.Lock()


def current_plan() -> Plan | None:
    """The plan the DAGs come from (the last good one), re-read at most every few seconds."""
    with _lock:
        stamp, plan = _cache.get("plan", (0.0, None))
        if time.monotonic() - stamp > PLAN_TTL_SECONDS:
            plan = load_plan().plan
            _cache["plan"] = (time.monotonic(), plan)
        return plan


def find_step(dag_id: str, step_id: str, plan: Plan | None = None) -> StepRef | None:
    plan = plan or current_plan()
    if plan is None:
        return None
    dry_run = plan.dry_run_of(dag_id)
    if dry_run is None or step_id not in plan.schedules[dry_run].steps:
        return None
    return StepRef(plan, dry_run, step_id)


def is_plan_dag(dag_id: str) -> bool:
    plan = current_plan()
    return plan is not None and plan.dry_run_of(dag_id) is not None


def allowed_people(ref: StepRef, transferees: Iterable[str] = ()) -> list[str]:
    """Owner, whoever the step was transferred to, team leader, department head, cutover managers."""
    people = ref.plan.responsible_people(ref.step_id)
    people[1:1] = list(transferees)
    people += list(ref.plan.cutover_managers)
    return list(dict.fromkeys(people))


def refusal(ref: StepRef) -> str:
    """Why someone may not act on a step, in the current language."""
    return not_allowed(ref.step_id)
