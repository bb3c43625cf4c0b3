"""An automated step's action run for real in the worker's way: a bash command through Airflow's
SubprocessHook in the plan's folder, a python callable from a file of that folder, SQL on the
machine's PostgreSQL through an Airflow connection, HTTP calls to a local server, commands on a
local SSH server; what each said, a check's value, and failures as outcomes in words."""

from __future__ import annotations

import json

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
            "broken": {
                "kind": "bash",
                "command": "seq 1 20; echo 'table ean is locked' >&2; exit 3",
            },
            "totals": {
                "kind": "python",
                "callable": "checks.billing:totals",
                "parameters": {"region": "text"},
            },
            "crash": {"kind": "python", "callable": "checks.billing:crash"},
            "absent": {"kind": "python", "callable": "checks.nowhere:totals"},
            "archive": {
                "kind": "ssh",
                "connection": "app",
                "command": 'printf "%s|%s" "$TRANSITION_ARG_REGION" "$TRANSITION_ARG_DAYS" > got.txt; echo archived; echo 1 250',
                "parameters": {"region": "text", "days": "integer"},
            },
            "full": {"kind": "ssh", "connection": "app", "command": "echo 'disk full' >&2; exit 4"},
            "load": {
                "kind": "sql",
                "connection": "market_db",
                "sql": "INSERT INTO ean (region, day) VALUES (%(region)s, %(day)s)",
                "parameters": {"region": "text", "day": "date"},
            },
            "count_ean": {
                "kind": "sql",
                "connection": "market_db",
                "sql": "SELECT count(*) FROM ean WHERE region = %(region)s",
                "parameters": {"region": "text"},
            },
            "elsewhere": {"kind": "sql", "connection": "nowhere_db", "sql": "SELECT 1"},
            "reload": {
                "kind": "sql",
                "connection": "market_db",
                "sql": "DELETE FROM ean WHERE region = %(region)s;\n"
                "INSERT INTO ean (region, day) VALUES (%(region)s, %(day)s)",
                "parameters": {"region": "text", "day": "text"},
            },
            "notify": {
                "kind": "http",
                "connection": "hub",
                "endpoint": "/api/notify",
                "parameters": {"phase": "text"},
            },
            "hub_count": {
                "kind": "http",
                "connection": "hub",
                "method": "GET",
                "endpoint": "/api/count",
                "parameters": {"region": "text"},
            },
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


def test_a_failed_command_says_its_code_and_last_line_and_keeps_its_last_lines(folder):
    outcome = run_action(CATALOGUE["broken"], {}, folder)
    assert (outcome.ok, outcome.said) == (
        False,
        "the command ended with code 3: table ean is locked",
    )
    assert outcome.tail == (*(str(n) for n in range(10, 21)), "table ean is locked")
    assert run_action(CATALOGUE["chatty"], {}, folder).tail == ()  # kept when it went wrong


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
    # Its last lines: where in the plan's file, and what.
    assert outcome.tail[-1] == "ValueError: the billing database is in maintenance"
    assert any("billing.py" in line for line in outcome.tail), outcome.tail
    outcome = run_action(CATALOGUE["absent"], {}, folder)
    assert (outcome.ok, outcome.said) == (False, "FileNotFoundError: no file checks/nowhere.py")


def test_ssh_runs_the_command_on_the_other_machine_with_its_values_quoted(
    folder, tmp_path, monkeypatch
):
    """On a real SSH server on 127.0.0.1 whose host key the connection names: the values reach
    the command as variables, a value that would be a command in a shell only a value; a check
    reads the last line; a failure says its code and what the command printed on stderr; a
    server whose host key is not the connection's is refused."""
    from ssh_server import SshServer

    remote = tmp_path / "remote"
    remote.mkdir()
    with SshServer(remote) as server:
        monkeypatch.setenv("AIRFLOW_CONN_APP", server.connection())
        evil = "LIEGE'; touch pwned; echo '$(touch pwned2)\n`touch pwned3`"
        outcome = run_action(CATALOGUE["archive"], {"region": evil, "days": 3}, folder)
        assert (outcome.ok, outcome.said) == (True, "1 250"), outcome
        assert (remote / "got.txt").read_text() == f"{evil}|3"
        assert sorted(p.name for p in remote.iterdir()) == ["client_key", "got.txt"]
        assert not (folder / "got.txt").exists()  # it ran there, not in the plan's folder
        assert server.commands[0].endswith(CATALOGUE["archive"].spec["command"])
        counted = run_action(CATALOGUE["archive"], {"region": "NAMUR", "days": 1}, folder, True)
        assert (counted.ok, counted.value) == (True, 1250.0)
        failed = run_action(CATALOGUE["full"], {}, folder)
        assert (failed.ok, failed.said) == (False, "the command ended with code 4: disk full")
        assert failed.tail == ("disk full",)
        with SshServer(tmp_path) as impostor:  # on another port, with a host key of its own
            wrong = json.loads(server.connection())
            wrong["port"] = impostor.port
            monkeypatch.setenv("AIRFLOW_CONN_APP", json.dumps(wrong))
            refused = run_action(CATALOGUE["full"], {}, folder)
            assert not refused.ok and "key" in refused.said.lower(), refused
            assert impostor.commands == []
    assert len(server.commands) == 3


def test_sql_runs_on_its_connection_with_bound_values_and_a_check_counts(folder, monkeypatch):
    """On a database of the machine's PostgreSQL: a value that would be SQL in a string is only a
    value; a check measures the first column of the first row; a failure is said in a line."""
    import sqlalchemy as sa

    from throwaway_postgres import throwaway_database

    with throwaway_database("actions") as engine:
        with engine.begin() as db:
            db.execute(sa.text("CREATE TABLE ean (region text, day date)"))
        url = engine.url
        monkeypatch.setenv(
            "AIRFLOW_CONN_MARKET_DB",
            json.dumps(
                {
                    "conn_type": "postgres",
                    "host": url.host,
                    "port": url.port,
                    "login": url.username,
                    "schema": url.database,
                }
            ),
        )
        evil = "LIEGE'); DROP TABLE ean; --"
        for region in ("LIEGE", "LIEGE", evil):
            outcome = run_action(CATALOGUE["load"], {"region": region, "day": "2027-01-15"}, folder)
            assert (outcome.ok, outcome.said) == (True, "the SQL ran"), outcome
        counted = run_action(CATALOGUE["count_ean"], {"region": "LIEGE"}, folder, check=True)
        assert (counted.ok, counted.value, counted.said) == (True, 2.0, "2")
        with engine.connect() as db:
            regions = db.execute(sa.text("SELECT region FROM ean ORDER BY region")).scalars()
            assert list(regions) == ["LIEGE", "LIEGE", evil]  # the table is still there
        broken = run_action(CATALOGUE["load"], {"region": "x", "day": "not a day"}, folder)
        assert not broken.ok and broken.said.startswith("InvalidDatetimeFormat"), broken
        # Several statements run in one transaction: all of them, or none.
        reloaded = run_action(CATALOGUE["reload"], {"region": "LIEGE", "day": "2027-01-16"}, folder)
        assert reloaded.ok, reloaded
        failed = run_action(CATALOGUE["reload"], {"region": "LIEGE", "day": "no day"}, folder)
        assert not failed.ok and failed.said.startswith("InvalidDatetimeFormat"), failed
        with engine.connect() as db:
            days = db.execute(sa.text("SELECT day FROM ean WHERE region = 'LIEGE'")).scalars()
            assert [str(d) for d in days] == ["2027-01-16"]  # the DELETE was undone
    missing = run_action(CATALOGUE["elsewhere"], {}, folder, check=True)
    assert (missing.ok, missing.said) == (
        False,
        "AirflowNotFoundException: The conn_id `nowhere_db` isn't defined",
    )


def test_http_calls_send_the_values_as_json_or_a_query_and_a_check_reads_the_body(
    folder, monkeypatch
):
    from webhook_receiver import WebhookReceiver

    with WebhookReceiver(answer="1 200\n") as hub:
        monkeypatch.setenv("AIRFLOW_CONN_HUB", hub.http_connection())
        outcome = run_action(CATALOGUE["notify"], {"phase": "Go, at last"}, folder)
        assert (outcome.ok, outcome.said) == (True, "1 200")
        assert (hub.posted[0].path, hub.posted[0].body) == ("/api/notify", {"phase": "Go, at last"})
        assert hub.posted[0].content_type == "application/json"
        counted = run_action(CATALOGUE["hub_count"], {"region": "LIÈGE &x=1"}, folder, check=True)
        assert (counted.ok, counted.value) == (True, 1200.0)
        assert hub.got == ["/api/count?region=LI%C3%88GE+%26x%3D1"]  # one value, encoded
    with WebhookReceiver(status=503, answer="maintenance until 23:00\nretry later") as down:
        monkeypatch.setenv("AIRFLOW_CONN_HUB", down.http_connection())
        outcome = run_action(CATALOGUE["notify"], {"phase": "Go"}, folder)
        assert (outcome.ok, outcome.said) == (
            False,
            "the server answered 503: maintenance until 23:00",
        )
        assert outcome.tail == ("maintenance until 23:00", "retry later")
