"""An automated step's action run for real in the worker's way: a bash command through Airflow's
SubprocessHook in the plan's folder, a python callable from a file of that folder; what each
said, a check's value, and failures as outcomes in words."""

from __future__ import annotations

import pytest

from transition.plan.actions import parse_catalogue
from transition.runner.action_runs import run_action

CATALOGUE = parse_catalogue(
    {
        "actions": {
            "export": {
                "kind": "bash",
                "command": 'printf "%s %s" "$TRANSITION_ARG_REGION" "$TRANSITION_ARG_DAY" > out.txt; env > env.txt; echo done',
                "parameters": {"region": "text", "day": "date"},
            },
            "count": {"kind": "bash", "command": "echo counting; echo 1 250 000"},
            "chatty": {"kind": "bash", "command": "echo all good"},
            "broken": {"kind": "bash", "command": "echo 'table ean is locked' >&2; exit 3"},
            "totals": {
                "kind": "python",
                "callable": "checks.billing:totals",
                "parameters": {"region": "text"},
            },
            "crash": {"kind": "python", "callable": "checks.billing:crash"},
            "absent": {"kind": "python", "callable": "checks.nowhere:totals"},
            "query": {"kind": "sql", "connection": "db", "sql": "SELECT 1"},
        }
    },
    "actions.yaml",
)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "billing.py").write_text(
        "def totals(region):\n"
        "    return {'LIEGE': 99.5, 'NAMUR': 'n/a'}[region]\n\n"
        "def crash():\n"
        "    raise ValueError('the billing database is in maintenance')\n",
        encoding="utf-8",
    )
    return tmp_path


def test_a_command_runs_in_the_plans_folder_with_its_values_and_without_the_workers_secrets(
    folder, monkeypatch
):
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://u:secret@db/airflow")
    arguments = {"region": "LIEGE $(touch pwned)", "day": "2027-01-15"}
    outcome = run_action(CATALOGUE["export"], arguments, folder)
    assert (outcome.ok, outcome.said, outcome.value) == (True, "done", None)
    assert (folder / "out.txt").read_text() == "LIEGE $(touch pwned) 2027-01-15"
    assert not (folder / "pwned").exists()
    env = (folder / "env.txt").read_text()
    assert "TRANSITION_ARG_DAY=2027-01-15" in env
    assert "secret" not in env and "AIRFLOW__" not in env


def test_a_failed_command_says_its_code_and_last_line(folder):
    outcome = run_action(CATALOGUE["broken"], {}, folder)
    assert (outcome.ok, outcome.said) == (
        False,
        "the command ended with code 3: table ean is locked",
    )


def test_a_check_reads_its_value_from_the_last_line_or_what_is_returned(folder):
    assert run_action(CATALOGUE["count"], {}, folder, check=True).value == 1_250_000
    outcome = run_action(CATALOGUE["totals"], {"region": "LIEGE"}, folder, check=True)
    assert (outcome.ok, outcome.said, outcome.value) == (True, "99.5", 99.5)
    # No number: the check did not measure; the person who takes over is told why.
    for action, arguments, got in (
        ("chatty", {}, "its last line was 'all good'"),
        ("totals", {"region": "NAMUR"}, "its last line was 'n/a'"),
    ):
        outcome = run_action(CATALOGUE[action], arguments, folder, check=True)
        assert not outcome.ok and outcome.said.endswith(got), outcome
    # The same actions as automated steps (not checks) simply succeed.
    assert run_action(CATALOGUE["chatty"], {}, folder).ok


def test_a_callable_that_fails_or_is_missing_says_so(folder):
    outcome = run_action(CATALOGUE["crash"], {}, folder)
    assert (outcome.ok, outcome.said) == (
        False,
        "ValueError: the billing database is in maintenance",
    )
    outcome = run_action(CATALOGUE["absent"], {}, folder)
    assert (outcome.ok, outcome.said) == (False, "FileNotFoundError: no file checks/nowhere.py")


def test_kinds_not_run_yet_say_so(folder):
    outcome = run_action(CATALOGUE["query"], {}, folder)
    assert (outcome.ok, outcome.said) == (
        False,
        "actions of kind sql are not run yet (bash and python are)",
    )
