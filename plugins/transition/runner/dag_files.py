"""What the DAG files in ``dags/`` call: the DAGs of the last good plan, and the current problems.

Two DAG files split the two jobs, because a DAG file that raises registers no DAG at all:
``transition_plan.py`` registers the DAGs of the last good plan, and ``transition_plan_problems.py``
raises the validator's problems (Airflow shows them as that file's import error) while the
workbook is invalid. Neither touches the network or the database; both read the compiled plan.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import DAG

from transition.errors import PlanInvalid, errors_only
from transition.runner.dag_builder import build_dags
from transition.store.plan_store import load_plan


def registered_dags(
    only_dag_id: str | None = None, only_task_id: str | None = None
) -> dict[str, DAG]:
    """The plan's DAGs; a worker about to run one task (Airflow's parsing context) asks for that
    task's DAG only, holding that task only."""
    loaded = load_plan()
    if loaded.plan is None:
        return {}
    dags = build_dags(loaded.plan, only_dag_id, only_task_id)
    if only_dag_id is not None and dags:
        return dags  # a worker running a step: the weekly report's code is not even imported
    # deferred: the report's module brings openpyxl, a third of a step's start (bench/handover.py)
    from transition.results.weekly_report import weekly_report_dags

    return {**dags, **weekly_report_dags(loaded.plan, only_dag_id)}


def raise_plan_problems() -> None:
    """Raise :class:`PlanInvalid` with the validator's words when the workbook is invalid."""
    loaded = load_plan()
    errors = errors_only(loaded.problems)
    if not errors:
        return
    if loaded.plan is not None:
        kept = (
            f"The DAGs of the last good plan ({Path(loaded.plan.source.workbook).name}, compiled "
            f"{loaded.plan.source.compiled_at:%Y-%m-%d %H:%M} UTC) stay live until these are fixed."
        )
    else:
        kept = "No valid version of this plan has been seen yet, so it has no DAGs."
    count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
    raise PlanInvalid(errors, headline=f"The transition plan has {count}. {kept}")
