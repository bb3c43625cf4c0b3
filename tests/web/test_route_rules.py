"""The guard's verdict on Airflow's own routes, found the way Airflow finds them, against a reference rule.

Every request here goes through Airflow 3.3's real app router (``create_app``) and Airflow's own
body models; the facts (who may act on which step, its state, its defects) come from a table.
Each meaning (who, which step, what change) is written in many forms Airflow reads alike (map
index ``-1.0`` or `` -1``, percent-encoding, ``~`` with the DAG in the body, ``SUCCESS``, escaped
keys, duplicate keys, UTF-16, a root path), and the verdict must be the reference rule's for all.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from starlette.requests import Request

from transition.web.guard_facts import dags_selected, parse_with_airflow_model
from transition.web.route_rules import (
    CHANGING,
    RULES,
    SELECTING,
    Call,
    Rule,
    Started,
    Verdict,
    Who,
    decide,
    parse_json,
    touches_plan,
)
from transition.web.step_guard import PASS_THROUGH, resolve

PLAN_DAG, OTHER_DAG, RUN = "resa_dr1", "nightly_etl", "manual__2027-01-16T08:00:00+00:00"
STEP, WATCH = "CO-100", "_watch"
PEOPLE = ["carol", "frank", "dave", "mia"]  # owner, transferee, department head, cutover manager


@dataclass
class TableFacts:
    """The facts of one situation (what the database would say)."""

    state: str | None = "awaiting_input"
    blocking: bool = False
    gate: bool = False  # the step is a go / no-go gate
    was_started: bool = False  # this try of the step was started (it asks for Close)
    automated: bool = False  # the step runs an action (auto, check)
    checks_waiting: bool = False  # the gate's checks: one failed and was not accepted

    def plan_dags(self) -> frozenset[str]:
        return frozenset({PLAN_DAG, "resa_live", "resa_weekly_report"})

    def backfill_dag(self, backfill_id: Any) -> str | None:
        return {7: PLAN_DAG, 8: OTHER_DAG}.get(backfill_id)

    def allowed_people(self, dag_id: str, run_id: str, step_id: str) -> list[str] | None:
        return PEOPLE if step_id == STEP else None

    def task_state(self, dag_id: str, run_id: str, step_id: str) -> str | None:
        return self.state

    def blocking_defects(self, dag_id: str, run_id: str, step_id: str) -> list[dict[str, Any]]:
        return [{"id": 3, "title": "Queue not empty"}] if self.blocking else []

    def is_gate(self, dag_id: str, step_id: str) -> bool:
        return self.gate and step_id == STEP

    def gate_reached(
        self, dag_id: str, step_ids: Any, upstream: bool, downstream: bool
    ) -> str | None:
        """The plan's graph here: GATE (a gate) -> STEP; STEP's relatives upstream hold it."""
        return "GATE" if upstream and STEP in step_ids and dag_id == PLAN_DAG else None

    def is_automated(self, dag_id: str, step_id: str) -> bool:
        return self.automated and step_id == STEP

    def checks_not_passed(self, dag_id: str, run_id: str, gate: str) -> list[str]:
        return ["CO-110"] if self.checks_waiting and gate == STEP and self.gate else []

    def started(self, dag_id: str, run_id: str, step_id: str) -> Started | None:
        if not self.was_started or step_id != STEP:
            return None
        return Started("Carol Dubois", dt.datetime(2027, 1, 16, 22, 5, tzinfo=dt.UTC))


@functools.cache
def _dags_database(dag_ids: frozenset[str]) -> Any:
    from airflow.models import import_all_models
    from airflow.models.base import Base
    from airflow.models.dag import DagModel

    import_all_models()
    engine = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        for dag_id in sorted(dag_ids):
            session.add(
                DagModel(
                    dag_id=dag_id,
                    bundle_name="b",
                    fileloc="f",
                    timetable_type="t",
                    is_stale=False,
                    is_paused=False,
                )
            )
        session.commit()
    return engine


def dags_database(facts: Any) -> Any:
    """Airflow's tables (SQLite, in memory) holding the plan's DAGs and another one."""
    return _dags_database(facts.plan_dags() | {OTHER_DAG})


def verdict(
    app: Any,
    method: str,
    path: str,
    body: bytes,
    who: Who,
    facts: TableFacts,
    root_path: str = "",
    query: str = "",
) -> Verdict:
    """What the guard decides, from a raw request: Airflow's route matching, then the rules."""
    scope = {
        "type": "http",
        "method": method,
        "path": root_path + unquote(path),
        "root_path": root_path,
        "raw_path": (root_path + path).encode(),
        "query_string": query.encode(),
        "headers": [],
    }
    found = resolve(app, scope)
    if found is None or found[0].startswith(PASS_THROUGH):
        return Verdict(None)
    route, params, route_object = found
    from urllib.parse import parse_qs

    selected = None
    if (method, route) in SELECTING:  # Airflow's own filters, on a database holding facts' DAGs
        with Session(dags_database(facts)) as session:
            selected = dags_selected(route_object, Request(scope).query_params, session)
    call = Call(method, route, params, parse_qs(query), parse_json(body), selected)
    if not touches_plan(call, facts):
        return Verdict(None)
    return decide(call, who, facts, parse_with_airflow_model)


# -- the reference rule, written from the docs' rights table, over meanings ------------------------------


def reference(
    kind: str,
    who: str,
    *,
    dag: str = PLAN_DAG,
    step: str = STEP,
    state: str = "awaiting_input",
    blocking: bool = False,
    gate: bool = False,
    automated: bool = False,
    checks_waiting: bool = False,
    option: str = "Start",
    comment: Any = None,
    started: bool = False,
    new_state: str | None = "success",
    note: str = "",
    flags: tuple[str, ...] = (),
) -> int | None:
    if dag != PLAN_DAG:
        return None
    manager = who in ("mia", "admin")
    allowed = who in PEOPLE
    if kind == "other":
        return None if manager else 403
    if step != STEP:
        return None if manager else 403
    if kind == "answer":
        if not (allowed or manager):
            return 403
        if option in ("Done by hand", "Accept") and not (
            isinstance(comment, str) and comment.strip()
        ):
            return 422  # taking over a failed action says what was done, or why it is accepted
        if option == "Start" and started:
            return 409  # a second Start says who started it
        if option == "Go" and gate and checks_waiting:
            return 409  # a gate's Go waits for its checks: passed, or accepted with a reason
        return 409 if option in ("Close", "Go", "Done by hand", "Accept") and blocking else None
    # mark
    if gate and new_state == "success" and (allowed or manager):
        return 409  # decided by Go or No-go, never marked: both branches would run
    if "include_upstream" in flags and new_state == "success" and (allowed or manager):
        return 409  # the gate upstream of the step (GATE -> STEP) would be marked with it
    if manager:
        forced = new_state == "success" and (
            state != "awaiting_input" or blocking or flags or automated
        )
        return 400 if forced and not note.strip() else None
    if not allowed:
        return 403
    if automated and new_state == "success":
        return 403  # closed by Done by hand or Accept, with a comment; forced by a manager
    if flags:
        return 403
    if new_state is None:
        return None
    if new_state != "success":
        return 403
    if state != "awaiting_input" or blocking:
        return 409
    return None


WHO = {
    name: Who(name, name in ("mia", "admin")) for name in ("eve", "carol", "frank", "mia", "admin")
}
SITUATIONS = [
    TableFacts(),
    TableFacts(blocking=True),
    TableFacts(state="deferred"),
    TableFacts(state="success"),
    TableFacts(state=None),
    TableFacts(gate=True),
    TableFacts(gate=True, blocking=True),
    TableFacts(gate=True, state="deferred"),
    TableFacts(automated=True),
    TableFacts(automated=True, state="running"),
    TableFacts(automated=True, blocking=True),
]


def ti_paths(dag: str, step: str, suffix: str = "") -> list[str]:
    """One task instance's URL, in the forms Airflow reads alike."""
    encoded_step = "".join(f"%{b:02X}" for b in step.encode())
    base = f"/api/v2/dags/{{dag}}/dagRuns/{quote(RUN, safe='')}/taskInstances/{{step}}"
    paths = [
        base.format(dag=dag, step=step),
        base.format(dag=dag, step=encoded_step),
        base.format(dag=quote(dag, safe=""), step=step).replace("resa", "%72esa"),
    ]
    if suffix:
        return [p + suffix for p in paths]
    return paths + [p + m for p in paths for m in ("/-1", "/-1.0", "/%20-1", "/+-1", "/-01")]


def mark_bodies(new_state: str | None, note: str, flags: tuple[str, ...]) -> list[bytes]:
    state_forms = (
        [new_state] if new_state is None else [new_state, new_state.upper(), new_state.capitalize()]
    )
    bodies = []
    for form in state_forms:
        data: dict[str, Any] = {"note": note} if note else {}
        if form is not None:
            data["new_state"] = form
        data.update(dict.fromkeys(flags, True))
        text = json.dumps(data)
        bodies += [
            text.encode(),
            text.encode("utf-16"),
            text.replace("new_state", "new\\u005fstate").encode(),
        ]
        if (
            form is not None
        ):  # the same key twice: the last one counts, for Airflow and for the guard
            bodies.append(('{"new_state": "failed", ' + text[1:]).encode())
    return bodies


@pytest.mark.parametrize(
    "facts",
    SITUATIONS,
    ids=lambda f: f"{f.state}{'-blocking' if f.blocking else ''}{'-gate' if f.gate else ''}"
    f"{'-automated' if f.automated else ''}",
)
def test_mark_success_and_notes_in_every_form_get_the_reference_verdict(airflow_app, facts):
    checked = 0
    for who, new_state, note, flags in itertools.product(
        WHO,
        ["success", None, "failed", "skipped"],
        ["", "done by hand"],
        [(), ("include_downstream",), ("include_upstream", "include_past"), ("include_future",)],
    ):
        if new_state is None and not note:
            continue
        expected = reference(
            "mark",
            who,
            state=facts.state,
            blocking=facts.blocking,
            gate=facts.gate,
            automated=facts.automated,
            new_state=new_state,
            note=note,
            flags=flags,
        )
        for path in ti_paths(PLAN_DAG, STEP):
            for body in mark_bodies(new_state, note, flags):
                got = verdict(airflow_app, "PATCH", path, body, WHO[who], facts).status
                assert got == expected, (who, path, body, got, expected)
                checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    "facts",
    [
        TableFacts(),
        TableFacts(blocking=True),
        TableFacts(gate=True, blocking=True),
        TableFacts(was_started=True),
        TableFacts(was_started=True, blocking=True),
        TableFacts(gate=True, checks_waiting=True),
        TableFacts(automated=True),
    ],
    ids=["open", "blocking", "gate-blocking", "started", "started-blocking", "gate-checks", "auto"],
)
def test_answers_in_every_form_get_the_reference_verdict(airflow_app, facts):
    options = ["Start", "Close", "Go", "No-go", "Retry", "Done by hand", "Accept"]
    paths = [p for p in ti_paths(PLAN_DAG, STEP) if re.search(r"/(-1|-1\.0|%20-1|\+-1|-01)$", p)]
    for who, option, comment in itertools.product(WHO, options, [None, 5, " \n", "redone"]):
        expected = reference(
            "answer",
            who,
            blocking=facts.blocking,
            gate=facts.gate,
            checks_waiting=facts.checks_waiting,
            option=option,
            comment=comment,
            started=facts.was_started,
        )
        form = {"chosen_options": [option]}
        if comment is not None:
            form["params_input"] = {"comment": comment}
        for path in paths:
            for body in (json.dumps(form).encode(), json.dumps(form).encode("utf-16")):
                got = verdict(
                    airflow_app, "PATCH", path + "/hitlDetails", body, WHO[who], facts
                ).status
                assert got == expected, (who, path, body, got, expected)


def test_the_runs_watch_and_unknown_tasks_are_the_managers(airflow_app):
    for who, person in WHO.items():
        for path in ti_paths(PLAN_DAG, WATCH):
            got = verdict(
                airflow_app, "PATCH", path, b'{"new_state": "success"}', person, TableFacts()
            ).status
            assert got == reference("mark", who, step=WATCH)


def bulk_bodies(dag: str) -> list[bytes]:
    entity = {"task_id": STEP, "dag_id": dag, "dag_run_id": RUN, "new_state": "success"}
    return [
        json.dumps({"actions": [{"action": "update", "entities": [entity]}]}).encode(),
        json.dumps({"actions": [{"action": "delete", "entities": [entity]}]}).encode("utf-16"),
    ]


# Changes of other kinds, each as (method, path, body, query); the DAG is substituted.
OTHER_CHANGES = [
    (
        "PATCH",
        "/api/v2/dags/{dag}/dagRuns/{run}/taskInstances",
        None,
        "",
    ),  # bulk, bodies from bulk_bodies
    ("PATCH", "/api/v2/dags/~/dagRuns/~/taskInstances", None, ""),
    ("PATCH", "/api/v2/dags/{dag}/dagRuns/{run}", b'{"state": "success"}', ""),
    ("PATCH", "/api/v2/dags/{dag}/dagRuns/{run}", b'{"note": "x"}', ""),
    ("DELETE", "/api/v2/dags/{dag}/dagRuns/{run}", b"", ""),
    ("POST", "/api/v2/dags/{dag}/dagRuns", b'{"logical_date": null}', ""),
    ("POST", "/api/v2/dags/{dag}/dagRuns/{run}/clear", b'{"dry_run": false}', ""),
    (
        "POST",
        "/api/v2/dags/{dag}/clearTaskInstances",
        b'{"dry_run": false, "task_ids": ["CO-100"]}',
        "",
    ),
    ("POST", "/api/v2/dags/{dag}/clearTaskInstances", b'{"dry_run": "false"}', ""),
    ("POST", "/api/v2/dags/{dag}/clearDagRuns", b'{"dry_run": 0}', ""),
    ("DELETE", "/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/CO-100", b"", ""),
    (
        "POST",
        "/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/CO-100/xcomEntries",
        b'{"key": "closed", "value": "x"}',
        "",
    ),
    (
        "PATCH",
        "/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/CO-100/xcomEntries/closed",
        b'{"value": "x"}',
        "",
    ),
    (
        "DELETE",
        "/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/CO-100/xcomEntries/started",
        b"",
        "",
    ),
    (
        "PUT",
        "/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/CO-100/state-store/k",
        b'{"value": 1}',
        "",
    ),
    ("PATCH", "/api/v2/dags/{dag}", b'{"is_paused": false}', ""),
    ("DELETE", "/api/v2/dags/{dag}", b"", ""),
    ("PATCH", "/api/v2/dags/{dag}/dagRuns", b'{"actions": []}', ""),
    (
        "PATCH",
        "/api/v2/dags/{dag}/dagRuns/{run}/taskGroupInstances/g",
        b'{"new_state": "success"}',
        "",
    ),
    ("POST", "/api/v2/backfills", None, ""),  # body names the DAG
    ("PATCH", "/api/v2/dags", b'{"is_paused": false}', "dag_id_pattern={pattern}"),
]


@pytest.mark.parametrize(
    "method,path,body,query", OTHER_CHANGES, ids=lambda v: v if isinstance(v, str) else None
)
def test_every_other_change_to_a_plan_dag_is_the_managers(airflow_app, method, path, body, query):
    for dag, who in itertools.product([PLAN_DAG, OTHER_DAG], WHO):
        url = path.format(dag=dag, run=quote(RUN, safe=""))
        bodies = (
            bulk_bodies(dag)
            if body is None and "taskInstances" in path
            else (
                [
                    json.dumps(
                        {
                            "dag_id": dag,
                            "from_date": "2027-01-01T00:00:00Z",
                            "to_date": "2027-01-02T00:00:00Z",
                        }
                    ).encode()
                ]
                if body is None
                else [body]
            )
        )
        # A pattern (Airflow's filter: ILIKE '%term%', terms stripped, "|" for or, "~" for all)
        # and whether it selects a plan DAG; the forms of issue 25 among them.
        patterns = (
            {
                dag: dag == PLAN_DAG,
                dag.upper()[2:6]: dag == PLAN_DAG,
                "%_dr%": True,
                "~": True,
                f"zzz|{dag[:4]}": dag == PLAN_DAG,
                f" {dag[:4]}|zzz": dag == PLAN_DAG,  # a space before "|": Airflow strips it
                f"zzz | {dag[:4]} ": dag == PLAN_DAG,
            }
            if "{pattern}" in query
            else {"": dag == PLAN_DAG}
        )
        for payload, (pattern, touches) in itertools.product(bodies, patterns.items()):
            q = query.format(pattern=quote(pattern))
            got = verdict(airflow_app, method, url, payload, WHO[who], TableFacts(), query=q).status
            expected = reference("other", who, dag=PLAN_DAG if touches else OTHER_DAG)
            assert got == expected, (method, url, payload, q, who, got, expected)


def test_previews_and_lists_change_nothing_and_are_anyones(airflow_app):
    eve = WHO["eve"]
    run = quote(RUN, safe="")
    for method, path, body in [
        ("POST", f"/api/v2/dags/{PLAN_DAG}/clearTaskInstances", b'{"dry_run": true}'),
        ("POST", f"/api/v2/dags/{PLAN_DAG}/clearTaskInstances", b"{}"),
        ("POST", f"/api/v2/dags/{PLAN_DAG}/dagRuns/{run}/clear", b'{"dry_run": true}'),
        (
            "PATCH",
            f"/api/v2/dags/{PLAN_DAG}/dagRuns/{run}/taskInstances/{STEP}/dry_run",
            b'{"new_state": "success"}',
        ),
        ("POST", "/api/v2/dags/~/dagRuns/list", b'{"dag_ids": ["resa_dr1"]}'),
        ("POST", "/api/v2/dags/~/dagRuns/~/taskInstances/list", b'{"dag_ids": ["resa_dr1"]}'),
        ("POST", f"/api/v2/dags/{PLAN_DAG}/favorite", b""),
    ]:
        assert verdict(airflow_app, method, path, body, eve, TableFacts()).status is None, (
            method,
            path,
        )


def test_the_plans_variables_and_backfills_are_the_managers(airflow_app):
    eve, mia = WHO["eve"], WHO["mia"]
    for method, path, body in [
        (
            "POST",
            "/api/v2/variables",
            b'{"key": "transition.sent/resa_dr1/r/CO-100", "value": "{}"}',
        ),
        (
            "PATCH",
            "/api/v2/variables/transition.sent%2Fresa_dr1%2Fr%2FCO-100",
            b'{"key": "transition.sent/x", "value": "{}"}',
        ),
        ("DELETE", "/api/v2/variables/transition.sent/resa_dr1/r/CO-100", b""),
        (  # the run's holders, which the calendar follows
            "POST",
            "/api/v2/variables",
            b'{"key": "transition.holders/resa_dr1/r/@steps", "value": "{}"}',
        ),
        (
            "PATCH",
            "/api/v2/variables/transition.holders%2Fresa_dr1%2Fr%2F%40steps",
            b'{"key": "transition.holders/resa_dr1/r/@steps", "value": "{}"}',
        ),
        ("DELETE", "/api/v2/variables/transition.holders/resa_dr1/r/@steps", b""),
        (
            "PATCH",
            "/api/v2/variables",
            b'{"actions": [{"action": "delete", "entities": ["transition.sent/a/b/c"]}]}',
        ),
        ("PUT", "/api/v2/backfills/7/cancel", b""),
        ("PUT", "/api/v2/backfills/7/pause", b""),
        # The backfill id in other spellings Airflow's integer reads as 7 (issue 25).
        ("PUT", "/api/v2/backfills/+7/pause", b""),
        ("PUT", "/api/v2/backfills/7.0/cancel", b""),
        ("PUT", "/api/v2/backfills/07/unpause", b""),
        ("PUT", "/api/v2/backfills/%207/cancel", b""),
    ]:
        assert verdict(airflow_app, method, path, body, eve, TableFacts()).status == 403, (
            method,
            path,
        )
        assert verdict(airflow_app, method, path, body, mia, TableFacts()).status is None, (
            method,
            path,
        )
    assert (
        verdict(
            airflow_app,
            "POST",
            "/api/v2/variables",
            b'{"key": "mine", "value": "1"}',
            eve,
            TableFacts(),
        ).status
        is None
    )
    assert (
        verdict(airflow_app, "PUT", "/api/v2/backfills/8/cancel", b"", eve, TableFacts()).status
        is None
    )


def test_a_body_that_is_not_json_on_a_wildcard_route_is_refused(airflow_app):
    got = verdict(
        airflow_app,
        "PATCH",
        "/api/v2/dags/~/dagRuns/~/taskInstances",
        b"{not json",
        WHO["eve"],
        TableFacts(),
    )
    assert got.status == 403
    got = verdict(
        airflow_app, "PATCH", ti_paths(PLAN_DAG, STEP)[0], b"{not json", WHO["carol"], TableFacts()
    )
    assert got.status == 422


def test_under_a_root_path_the_same_verdicts(airflow_app):
    for root in ("/airflow", "/a/b"):
        for path in ti_paths(PLAN_DAG, STEP)[:3]:
            assert (
                verdict(
                    airflow_app,
                    "PATCH",
                    path,
                    b'{"new_state": "success"}',
                    WHO["eve"],
                    TableFacts(),
                    root_path=root,
                ).status
                == 403
            )
            assert (
                verdict(
                    airflow_app,
                    "PATCH",
                    path,
                    b'{"new_state": "success"}',
                    WHO["carol"],
                    TableFacts(),
                    root_path=root,
                ).status
                is None
            )


def test_random_forms_of_random_meanings(airflow_app):
    """A bounded random walk over meanings and forms (seeded: a failure can be replayed)."""
    rng = random.Random(20261130)
    for _ in range(600):
        who = rng.choice(list(WHO))
        facts = rng.choice(SITUATIONS)
        step = rng.choice([STEP, STEP, WATCH])
        new_state = rng.choice(["success", None, "failed"])
        note = rng.choice(["", "reason"])
        if new_state is None and not note:
            note = "n"
        flags = tuple(
            f
            for f in ("include_upstream", "include_downstream", "include_future", "include_past")
            if rng.random() < 0.15
        )
        path = rng.choice(ti_paths(PLAN_DAG, step))
        body = rng.choice(mark_bodies(new_state, note, flags))
        expected = reference(
            "mark",
            who,
            step=step,
            state=facts.state,
            blocking=facts.blocking,
            gate=facts.gate,
            automated=facts.automated,
            new_state=new_state,
            note=note,
            flags=flags,
        )
        assert verdict(airflow_app, "PATCH", path, body, WHO[who], facts).status == expected, (
            who,
            path,
            body,
        )


def test_every_changing_route_of_airflow_is_judged(airflow_app):
    """Airflow's changing routes: those in the rights table are named there on purpose; every other one
    that carries a DAG, a run, a backfill or a Variable is the managers' when it touches the plan."""
    from starlette.routing import Mount

    found = set()

    def walk(routes: list, prefix: str = "") -> None:
        for route in routes:
            if isinstance(route, Mount):
                if not (prefix + route.path).startswith(PASS_THROUGH) and getattr(
                    route.app, "routes", None
                ):
                    walk(route.app.routes, prefix + route.path)
                continue
            for method in (getattr(route, "methods", None) or set()) & CHANGING:
                found.add((method, prefix + route.path))

    walk(airflow_app.router.routes)
    assert set(RULES) <= found, set(RULES) - found  # the table names only routes Airflow has
    dag_routes = {r for r in found if "{dag_id}" in r[1]}
    assert len(dag_routes) >= 30
    for method, route in dag_routes - set(RULES):  # each of these is the managers' on a plan DAG
        params = {
            name: {"dag_id": PLAN_DAG}.get(name, "x")
            for name in re.findall(r"{(\w+)(?::\w+)?}", route)
        }
        call = Call(method, route, params, {}, {})
        assert touches_plan(call, TableFacts())
        assert decide(call, WHO["carol"], TableFacts(), parse_with_airflow_model).status == 403, (
            method,
            route,
        )


def test_the_docs_rights_table_names_every_rule():
    readme = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text(
        encoding="utf-8"
    )
    table = readme[
        readme.index("<!-- rights table -->") : readme.index("<!-- end of rights table -->")
    ]
    for method, route in RULES:
        short = route.replace("/api/v2", "").replace(
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances", "…/taskInstances"
        )
        assert f"`{method} {short}`" in table, (method, short)
    for rule in Rule:
        assert rule.value in table, rule


def call_guard(
    app: Any, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, bool]:
    """The real middleware on a raw ASGI request; what it answered, and whether Airflow was reached."""
    import anyio

    from transition.web.step_guard import StepGuard

    reached: list[bool] = []
    answered: list[int] = []

    async def airflow(scope: dict, receive: Any, send: Any) -> None:
        reached.append(True)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "app": app,
    }
    anyio.run(StepGuard(airflow), scope, receive, send)
    return answered[0], bool(reached)


def test_the_guard_fails_closed(airflow_app, monkeypatch):
    """A guard that cannot read its facts refuses changes (503) and Airflow never sees them; reads pass."""
    from transition.web import guard_facts

    class Broken:
        def __init__(self) -> None:
            raise RuntimeError("the database is gone")

    monkeypatch.setattr(guard_facts, "DatabaseFacts", Broken)
    path = ti_paths(PLAN_DAG, STEP)[0]
    assert call_guard(airflow_app, "PATCH", path, b'{"new_state": "success"}', []) == (503, False)
    assert call_guard(airflow_app, "GET", path, b"", []) == (200, True)


def test_a_request_without_a_user_is_refused_before_airflow(airflow_app, monkeypatch):
    from transition.web import guard_facts

    class PlanOnly(TableFacts):
        def language_of(self, actor: str) -> str:
            return "en"

        def is_manager(self, user: Any) -> bool:
            return False

    monkeypatch.setattr(guard_facts, "DatabaseFacts", PlanOnly)
    path = ti_paths(PLAN_DAG, STEP)[0]
    assert call_guard(airflow_app, "PATCH", path, b'{"new_state": "success"}', []) == (401, False)
    forged = [(b"authorization", b"Bearer not.a.token")]
    status, reached = call_guard(airflow_app, "PATCH", path, b'{"new_state": "success"}', forged)
    assert status in (401, 403) and not reached
    other = f"/api/v2/dags/{OTHER_DAG}/dagRuns/r/taskInstances/t"
    assert call_guard(airflow_app, "PATCH", other, b'{"new_state": "success"}', []) == (200, True)


def test_no_bulk_or_wildcard_form_sets_a_gate_success_not_even_for_a_manager(airflow_app):
    """A gate is decided by Go or No-go: the bulk task-instance route (also under ``~``, in
    UTF-16, with its key escaped or its state in capitals) is refused when it would set a gate to
    success; the same request on an ordinary step, or setting the gate to failed, is the managers'."""
    entity = {"task_id": STEP, "dag_id": PLAN_DAG, "dag_run_id": RUN, "new_state": "success"}
    forms = [
        json.dumps({"actions": [{"action": "update", "entities": [entity]}]}).encode(),
        json.dumps({"actions": [{"action": "update", "entities": [entity]}]}).encode("utf-16"),
        json.dumps(
            {"actions": [{"action": "update", "entities": [{**entity, "new_state": "SUCCESS"}]}]}
        )
        .replace("task_id", "task\\u005fid")
        .encode(),
    ]
    paths = [
        f"/api/v2/dags/{PLAN_DAG}/dagRuns/{quote(RUN, safe='')}/taskInstances",
        "/api/v2/dags/~/dagRuns/~/taskInstances",
    ]
    for path, body in itertools.product(paths, forms):
        for who, expected in (("mia", 409), ("admin", 409), ("carol", 403), ("eve", 403)):
            got = verdict(airflow_app, "PATCH", path, body, WHO[who], TableFacts(gate=True))
            assert got.status == expected, (who, path, body, got)
        assert verdict(airflow_app, "PATCH", path, body, WHO["mia"], TableFacts()).status is None
    failed = {**entity, "new_state": "failed"}
    body = json.dumps({"actions": [{"action": "update", "entities": [failed]}]}).encode()
    assert (
        verdict(airflow_app, "PATCH", paths[0], body, WHO["mia"], TableFacts(gate=True)).status
        is None
    )
    # An ordinary step set to success with its upstream (a gate, GATE -> STEP): refused whole.
    upstream = {**entity, "include_upstream": True}
    body = json.dumps({"actions": [{"action": "update", "entities": [upstream]}]}).encode()
    for path in paths:
        got = verdict(airflow_app, "PATCH", path, body, WHO["mia"], TableFacts())
        assert got.status == 409 and "GATE" in got.message, (path, got)


def test_a_prefix_pattern_is_judged_by_what_airflows_filters_select(airflow_app):
    # Airflow's PATCH /api/v2/dags reads a missing dag_id_pattern as the text "None" (ILIKE
    # '%None%'), so a prefix alone selects only DAGs whose id holds "None": none of the plan's.
    eve = WHO["eve"]
    for query, status in [
        ("dag_id_prefix_pattern=resa", None),
        ("dag_id_prefix_pattern=resa&dag_id_pattern=_dr", 403),
        ("dag_id_prefix_pattern=resa%7Czzz&dag_id_pattern=~", 403),
        ("dag_id_prefix_pattern=zzz%7Cres&dag_id_pattern=%25", 403),
        ("dag_id_prefix_pattern=nightly&dag_id_pattern=~", None),
    ]:
        found = verdict(
            airflow_app,
            "PATCH",
            "/api/v2/dags",
            b'{"is_paused": true}',
            eve,
            TableFacts(),
            query=query,
        )
        assert found.status == status, (query, found)


def test_the_answer_waits_for_what_records_the_change(monkeypatch):
    """A forced close, the note of an answer: recorded before the person gets the 200, so what
    they read next (the recap) shows it."""
    import anyio

    from transition.web.step_guard import StepGuard

    happened: list[str] = []

    async def judge(self: Any, scope: dict, body: bytes) -> tuple[Verdict, Any, None]:
        return Verdict(None), lambda: happened.append("recorded"), None

    monkeypatch.setattr(StepGuard, "_judge", judge)

    async def airflow(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            happened.append(f"answered {message['status']}")

    scope = {"type": "http", "method": "PATCH", "path": "/api/v2/x", "headers": []}
    anyio.run(StepGuard(airflow), scope, receive, send)
    assert happened == ["recorded", "answered 200"]
