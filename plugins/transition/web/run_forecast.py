"""The recap's Monte Carlo forecast (:mod:`transition.runs.run_confidence`), as the api-server
reads it: each step's law from the plan's finished runs (every dry run of the plan: a step is
the same work in each; the latest ``REHEARSALS`` of each), and the draws kept while the
run stands where it stood in the same minute.

A finished run's results are read once (they no longer change what is measured); the draws once
per minute and per change of the run, whoever reads the recap.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from transition.plan.duration_models import DurationModel
from transition.plan.model import Plan
from transition.results.confidence import REHEARSALS, step_models
from transition.results.data import RunResults, run_results_from_json
from transition.runs.run_confidence import live_confidence
from transition.runs.run_facts import finished_run_ids, run_steps
from transition.runs.views import ConfidenceView, RunView

KEPT = 256  # finished runs' results, laws and draws kept (the oldest go first)
T = TypeVar("T")


class _Kept:
    """A small dictionary that forgets its oldest entries, shared by the api-server's threads."""

    def __init__(self, size: int) -> None:
        self._size, self._lock, self._values = size, threading.Lock(), OrderedDict[Hashable, Any]()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = make()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self._size:
                self._values.popitem(last=False)
        return value


_kept = _Kept(KEPT)


def finished_runs(session: Any, plan: Plan) -> tuple[tuple[str, str], ...]:
    """(dry run, run ID) of the plan's finished runs, the latest of each dry run's DAG."""
    return finished_run_ids(session, {plan.dag_id(d): d for d in plan.schedules}, REHEARSALS)


def finished_results(
    session: Any, plan: Plan, url: str, finished: tuple[tuple[str, str], ...]
) -> list[RunResults]:
    """The results of the plan's ``finished`` runs, each read once (they no longer change)."""

    def results(name: str, run_id: str) -> RunResults:
        return _kept.get(
            ("results", plan.source.key, name, run_id),
            lambda: run_results_from_json(run_steps(session, plan, name, run_id, url)),
        )

    return [results(name, run_id) for name, run_id in finished]


def rehearsal_models(
    session: Any, plan: Plan, dry_run: str, url: str, finished: tuple[tuple[str, str], ...]
) -> dict[str, DurationModel]:
    """Each step's law from the plan's ``finished`` runs."""
    return _kept.get(
        ("models", plan.source.key, dry_run, finished),
        lambda: step_models(plan, dry_run, finished_results(session, plan, url, finished)),
    )


def with_confidence(session: Any, plan: Plan, view: RunView, url: str, now: dt.datetime) -> RunView:
    """``view`` with its forecast from the draws (its ``confidence``; None once the run ended)."""
    dry_run = view["dry_run"]
    finished = finished_runs(session, plan)
    if (dry_run, view["run_id"]) in finished:
        return view
    minute = now.replace(second=0, microsecond=0)
    models = rehearsal_models(session, plan, dry_run, url, finished)
    key = (
        "draws",
        plan.source.key,
        dry_run,
        view["run_id"],
        minute,
        finished,
        tuple((s["id"], s["state"], s["actual_start"], s["actual_end"]) for s in view["steps"]),
    )
    found: ConfidenceView | None = _kept.get(
        key, lambda: live_confidence(plan, view, models, minute, len(finished))
    )
    return {**view, "confidence": found}
