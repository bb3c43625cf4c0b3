"""The DAG files in dags/, parsed by Airflow's own DagBag: ids, tasks, edges, texts, problems."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from conftest import base_sheets, write_config, write_xlsx
from transition.locations import REPO_ROOT

os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS", "False")


@pytest.fixture
def plan_env(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TRANSITION_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("TRANSITION_CACHE_DIR", str(tmp_path / "cache"))
    write_config(tmp_path / "config.yaml", "plan.xlsx", cutover_managers=["dave"])
    return tmp_path


def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO_ROOT / "dags"), safe_mode=False)


def test_one_dag_per_dry_run_with_projected_edges(plan_env):
    sheets = base_sheets()
    sheets["DryRuns"].append(["DR 2", dt.date(2027, 3, 13), None, ""])
    write_xlsx(plan_env / "plan.xlsx", sheets)
    bag = dagbag()
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["resa_dr1", "resa_dr_2", "resa_live", "resa_weekly_report"]
    dr2 = bag.dags["resa_dr_2"]
    assert sorted(dr2.task_ids) == ["CO-100", "CO-110", "HO-010", "PP-010", "_watch"]
    edges = sorted((u, t.task_id) for t in dr2.tasks for u in t.upstream_task_ids)
    assert edges == [("CO-100", "CO-110"), ("CO-110", "HO-010"), ("PP-010", "CO-100")]
    dr1 = bag.dags["resa_dr1"]
    assert sorted((u, t.task_id) for t in dr1.tasks for u in t.upstream_task_ids) == [
        ("CO-100", "CO-110"),
        ("CO-110", "HO-010"),
        ("PP-010", "PP-020"),
        ("PP-020", "CO-100"),
    ]
    assert set(dr1.tags) == {"transition", "resa", "DR1"}


def test_tasks_carry_what_the_owner_needs(plan_env):
    write_xlsx(plan_env / "plan.xlsx", base_sheets())
    dag = dagbag().dags["resa_dr1"]
    task = dag.get_task("CO-100")
    assert task.subject == "CO-100 · Switch market gateway"
    assert task.planned_start.isoformat() == "2027-01-16T22:00:00+01:00"
    assert dag.get_task("PP-020").planned_start is None
    assert [u["id"] for u in task.assigned_users] == [
        "carol",
        "dave",
    ]  # owner = own team leader; dave heads and manages
    assert [u["id"] for u in dag.get_task("PP-020").assigned_users] == ["bob", "carol", "dave"]
    assert task.owner == "carol"
    for expected in (
        "PRD — Production",
        "Sat 16 Jan 2027 22:00",
        "Carol Dubois (carol@example.com, Market)",
        "| **Department head** | Dave Lambert",
        "PP-020 · Export EAN register",
        "Press **Start**",
    ):
        assert expected in task.body
    assert "2027" in dag.doc_md and "**Steps**: 5" in dag.doc_md


def test_a_broken_workbook_keeps_the_last_good_dags_and_shows_the_problems(plan_env):
    write_xlsx(plan_env / "plan.xlsx", base_sheets())
    assert len(dagbag().dag_ids) == 3  # two dry runs and the weekly report
    broken = base_sheets()
    broken["Steps"][3][7] = "nobody"
    broken["Steps"].append(["CO-200", "Added", "CO", "ALL", "", "", "", "alice", "", ""])
    write_xlsx(plan_env / "plan.xlsx", broken)
    bag = dagbag()
    assert sorted(bag.dag_ids) == ["resa_dr1", "resa_live", "resa_weekly_report"]
    assert "CO-200" not in bag.dags["resa_dr1"].task_ids  # still the last good plan
    ((path, message),) = bag.import_errors.items()
    assert path.endswith("transition_plan_problems.py")
    assert message.splitlines()[0].startswith(
        "The transition plan has 1 problem. The DAGs of the last good plan"
    )
    assert message.splitlines()[1] == "Steps!H4: unknown owner 'nobody'"
    assert "Traceback" not in message


def test_parsing_context_builds_only_the_asked_dag(plan_env):
    from transition.runner.dag_files import registered_dags

    write_xlsx(plan_env / "plan.xlsx", base_sheets())
    assert list(registered_dags("resa_live")) == ["resa_live"]
    assert registered_dags("someone_else") == {}


def test_a_worker_builds_only_the_task_it_runs(plan_env):
    """Airflow's parsing context in a worker names the DAG and the task: the DAG then holds that
    task only, the same as in the full DAG (what the task runner reads), and no documentation."""
    from transition.runner.dag_files import registered_dags
    from transition.runner.watch_operator import WATCH_TASK_ID

    write_xlsx(plan_env / "plan.xlsx", base_sheets())
    full = registered_dags("resa_live")["resa_live"]
    step = next(
        t for t in full.task_ids if t != WATCH_TASK_ID and full.get_task(t).upstream_task_ids
    )
    for task_id in (step, WATCH_TASK_ID):
        alone = registered_dags("resa_live", task_id)["resa_live"]
        assert alone.task_ids == [task_id]
        assert alone.doc_md is None and full.doc_md
        mine, theirs = alone.get_task(task_id), full.get_task(task_id)
        assert type(mine) is type(theirs)
        for attribute in (
            "subject",
            "assigned_users",
            "planned_start",
            "retries",
            "retry_delay",
            "retry_exponential_backoff",
            "max_retry_delay",
            "owner",
            "upstream",
            "starts",
        ):
            assert getattr(mine, attribute, None) == getattr(theirs, attribute, None), attribute
    assert (
        registered_dags(None, step).keys() == registered_dags().keys()
    )  # no DAG named: everything


def test_failed_tries_back_off_so_an_api_server_outage_does_not_spend_every_retry(plan_env):
    """Every step and gate: 3 retries, 2 s then times 4 (with Airflow's jitter: 2-4, 8-16, 32-60
    s), at most 60 s; the watch: 30 s each time."""
    import datetime as dt

    from transition.runner.dag_files import registered_dags
    from transition.runner.watch_operator import WATCH_TASK_ID

    write_xlsx(plan_env / "plan.xlsx", base_sheets())
    dag = registered_dags("resa_dr1")["resa_dr1"]
    for task in dag.tasks:
        assert task.retries == 3, task.task_id
        if task.task_id == WATCH_TASK_ID:
            assert task.retry_delay == dt.timedelta(seconds=30)
            assert not task.retry_exponential_backoff
            continue
        assert task.retry_delay == dt.timedelta(seconds=2), task.task_id
        assert task.retry_exponential_backoff == 4.0, task.task_id
        assert task.max_retry_delay == dt.timedelta(seconds=60), task.task_id


def test_the_watch_judges_overdue_on_the_recaps_planned_start(plan_env):
    """One Overdue rule: the watch e-mails a step when the planned start the recap shows has come,
    the Start column's or the one derived from the prerequisites' planned ends (CO-110 has none
    of its own); a step without prerequisites waits for nothing and is never Overdue."""
    from transition.runner.dag_files import registered_dags
    from transition.runner.watch_operator import WATCH_TASK_ID
    from transition.store.plan_store import load_plan

    write_xlsx(plan_env / "plan.xlsx", base_sheets())
    watch = registered_dags("resa_dr1")["resa_dr1"].get_task(WATCH_TASK_ID)
    schedule = load_plan(plan_env / "config.yaml").plan.schedules["DR1"]
    assert watch.starts == {
        step_id: scheduled.planned_start
        for step_id, scheduled in schedule.steps.items()
        if scheduled.upstream
    }
    co_110 = schedule.steps["CO-110"]
    assert co_110.not_before is None
    assert watch.starts["CO-110"] == schedule.steps["CO-100"].planned_end
    assert "PP-010" not in watch.starts


def test_a_gate_climbs_the_not_started_ladder_with_its_own_reminders(plan_env):
    """A gate nobody decides gets the plan's not-started rungs (config.yaml's ``escalation``), sent
    by the gate reminder (it says a decision is awaited), not the step's; it is never Late."""
    from transition.notifications.escalation_mail import announce_escalation
    from transition.notifications.gate_reminder_mail import announce_gate_reminder
    from transition.plan.escalation import Ladder
    from transition.runner.gate_operator import GateOperator

    sheets = base_sheets()
    steps = sheets["Steps"]
    steps[0] = [*steps[0], "Kind", "Approvals"]
    for row in steps[1:]:
        row.extend([None, None])
    steps.insert(5, ["G", "Go / no-go", "CO", "ALL", "CO-110", "", "15m", "alice", "", ""])
    steps[5] += ["gate", 2]
    steps[6][4] = "G"  # HO-010 after the gate
    steps.append(["FB-010", "Switch back", "FB-RB", "ALL", "G", "", "1h", "bob"] + [None] * 4)
    write_xlsx(plan_env / "plan.xlsx", sheets)
    write_config(
        plan_env / "config.yaml",
        "plan.xlsx",
        cutover_managers=["dave"],
        escalation={"not_started": ["5m", "10m"], "overrun": "off"},
    )
    bag = dagbag()
    assert bag.import_errors == {}
    dag = bag.dags["resa_dr1"]
    gate, step = dag.get_task("G"), dag.get_task("CO-110")
    minute = dt.timedelta(minutes=1)
    assert isinstance(gate, GateOperator) and gate.approvals == 2
    assert gate.escalation == step.escalation == Ladder((5 * minute, 10 * minute), ())
    assert gate._on_escalation.func is announce_gate_reminder
    assert gate._on_escalation.args[2] == "G"
    assert step._on_escalation.func is announce_escalation
    assert gate.late_after is None and gate._on_late is None  # a gate is never Late
