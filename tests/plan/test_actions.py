"""The actions catalogue (issue 28): every problem of the file at once, each with where it is."""

from __future__ import annotations

import pytest

from transition.errors import ConfigError
from transition.plan.actions import parse_catalogue, read_catalogue


def test_a_catalogue_of_each_kind_is_read(tmp_path):
    path = tmp_path / "actions.yaml"
    path.write_text(
        """
actions:
  export_ean:
    kind: sql
    connection: market_db
    sql: SELECT count(*) FROM ean WHERE region = %(region)s
    parameters:
      region: {type: choice, choices: [LIEGE, NAMUR]}
  notify_hub:
    kind: http
    connection: market_hub
    method: get
    endpoint: /api/notify
    parameters: {phase: text}
  reload:
    kind: ssh
    connection: app_server
    command: sudo systemctl reload market
  export_file:
    kind: bash
    command: ./export.sh
    parameters:
      day: {type: date, default: D-1}
  reconcile:
    kind: python
    callable: checks.billing:totals
    description: Billing totals, old against new
""",
        encoding="utf-8",
    )
    actions = read_catalogue(path)
    assert list(actions) == ["export_ean", "notify_hub", "reload", "export_file", "reconcile"]
    sql = actions["export_ean"]
    assert (sql.kind, sql.connection, sql.parameters["region"].choices) == (
        "sql",
        "market_db",
        ("LIEGE", "NAMUR"),
    )
    assert actions["notify_hub"].spec == {"endpoint": "/api/notify", "method": "GET"}
    assert actions["export_file"].parameters["day"].required is False
    assert actions["reconcile"].spec == {"callable": "checks.billing:totals"}
    assert actions["reconcile"].description == "Billing totals, old against new"


def problems_of(raw) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        parse_catalogue(raw, "actions.yaml")
    return [str(p) for p in refused.value.problems]


def test_every_problem_is_said_at_once_with_where_it_is():
    found = problems_of(
        {
            "actions": {
                "export ean": {"kind": "bash", "command": "x"},
                "drop": {"kind": "shell", "command": "rm -rf /"},
                "export": {
                    "kind": "sql",
                    "connection": "market db",
                    "sql": "SELECT * FROM t WHERE a = %(a)s AND b = %(b)s",
                    "parameters": {"a": "text", "c": "integer", "d": "colour"},
                    "timeout": 3,
                },
                "hub": {
                    "kind": "http",
                    "connection": "hub",
                    "endpoint": "notify",
                    "method": "FETCH",
                },
                "code": {"kind": "python", "callable": "os.system('id')"},
                "empty": {"kind": "bash"},
                "pick": {
                    "kind": "bash",
                    "command": "x",
                    "parameters": {
                        "p": {"type": "choice"},
                        "q": {"type": "integer", "default": "x"},
                    },
                },
            },
            "action": {},
        }
    )
    expected = [
        "actions.yaml: unknown setting(s) action; only 'actions'",
        "actions.yaml: actions.export ean: an action's name is a word of letters, digits and '_' (at most 64)",
        "actions.yaml: actions.drop.kind: unknown kind 'shell'; use sql, http, ssh, bash, python",
        "actions.yaml: actions.export.timeout: not a setting of a sql action (it has connection, sql, parameters, description)",
        "actions.yaml: actions.export.parameters.d: give its type: text, integer, number, boolean, date, choice",
        "actions.yaml: actions.export.connection: a connection id holds letters, digits, '_', '.' and '-'",
        "actions.yaml: actions.export.sql: %(b)s is not one of the action's parameters (a, c)",
        "actions.yaml: actions.export.parameters.c: the SQL never uses it: write %(c)s where its value goes",
        "actions.yaml: actions.hub.method: unknown method 'FETCH'; use GET, POST, PUT, PATCH, DELETE",
        "actions.yaml: actions.hub.endpoint: an endpoint is a path on the connection's host, starting with '/'",
        "actions.yaml: actions.code.callable: write module:function (a module of the plan's folder, then its function)",
        "actions.yaml: actions.empty.command: a bash action needs its command, as text",
        "actions.yaml: actions.pick.parameters.p.choices: a choice lists its values",
        "actions.yaml: actions.pick.parameters.q.default: 'x' is not a whole number",
    ]
    assert sorted(found) == sorted(expected)


@pytest.mark.parametrize("raw", [None, [], {"actions": []}, {"actions": "export"}])
def test_a_file_that_is_no_catalogue_says_what_to_write(raw):
    assert problems_of(raw) == [
        "actions.yaml: expected 'actions:' followed by one entry per action"
    ]


def test_a_file_that_is_not_yaml_or_not_there(tmp_path):
    broken = tmp_path / "actions.yaml"
    broken.write_text("actions:\n  a: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="actions.yaml: not a YAML file"):
        read_catalogue(broken)
    with pytest.raises(ConfigError, match="cannot read the actions catalogue"):
        read_catalogue(tmp_path / "missing.yaml")


def test_the_problems_come_in_the_plans_language():
    from transition.i18n import use_language

    with use_language("fr"):
        found = problems_of({"actions": {"drop": {"kind": "shell"}}})
    assert found == [
        "actions.yaml: actions.drop.kind: type inconnu 'shell' ; utilisez sql, http, ssh, bash, python"
    ]
