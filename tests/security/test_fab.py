"""The step rules with the FAB auth manager, on a real Airflow on PostgreSQL + Celery.

With FAB (``apache-airflow-providers-fab``) a user's Airflow id is a number (``ab_user.id``) and
the login (``username``) is the plan's actor ID. Users are made with ``airflow users create``:
the actors with role ``User``, the cutover manager and the helper's admin with ``Admin``; tokens
come from FAB's ``POST /auth/token``. Then: owners, a transferee, a team leader and the cutover
manager act as the rights table (docs/security.md) says; an outsider is refused everywhere and changes
nothing; the plugin's endpoints and the recap name people by their login, never by their number.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import zoneinfo
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from airflow_server import AirflowServer
from conftest import write_config, write_xlsx
from people import ACTORS
from transition.local.standalone import airflow_users
from transition.store.plan_store import load_plan

pytestmark = pytest.mark.e2e
DAG = "fab_dr1"
OTHER_DRY_RUN = "fab_dr2"
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
# Login -> FAB role. bob and dave (an owner and a department head) have no account: not needed here.
FAB_USERS = {
    "admin": "Admin",
    "mia": "Admin",
    "alice": "User",
    "carol": "User",
    "frank": "User",
    "eve": "User",
}


def write_plan(folder) -> None:
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Brussels")).date()
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": [
                ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner", "Duration"],
                ["A", "Stop the market gateway", "AC", "ALL", "", "alice", "2h"],
                ["C", "Drain the queues", "AC", "ALL", "", "alice", "2h"],
                ["D", "Export the register", "AC", "ALL", "", "alice", "2h"],
                ["E", "Announce the stop", "AC", "ALL", "", "alice", "2h"],
                ["F", "Back up the databases", "AC", "ALL", "", "bob", "2h"],
                ["G", "Check the backups", "AC", "ALL", "F", "bob", "2h"],
            ],
            "Actors": ACTORS,
            "DryRuns": [["Name", "D-day"], ["DR1", today], ["DR2", today + dt.timedelta(days=30)]],
        },
    )
    write_config(
        folder / "config.yaml",
        "plan.xlsx",
        name="fab",
        cutover_managers=["mia"],
        weekly_report=None,
    )


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    folder = tmp_path_factory.mktemp("security-fab")
    write_plan(folder)
    plan = load_plan(folder / "config.yaml").plan
    server = AirflowServer(
        folder / "airflow",
        folder / "config.yaml",
        airflow_users(plan),
        flavour="postgres-celery",
        extra_env={"AIRFLOW__CORE__AUTH_MANAGER": FAB},
        fab_users=FAB_USERS,
    )
    with server:
        server.wait_for_dag(DAG)
        yield server


def run_url(run_id: str, dag: str = DAG) -> str:
    return f"/api/v2/dags/{dag}/dagRuns/{quote(run_id, safe='')}"


def fab_id(server: AirflowServer, login: str) -> str:
    """The user's Airflow id: the ``sub`` of the token FAB gave (its ``ab_user.id``)."""
    payload = server.token(login).split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def as_user(server: AirflowServer, login: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {server.token(login)}")


def raw(
    server: AirflowServer, method: str, path: str, headers: list[tuple[str, str]], body: Any = None
) -> httpx.Response:
    return httpx.request(
        method,
        server.base_url + path,
        headers=[("Content-Type", "application/json"), *headers],
        content=json.dumps(body).encode() if body is not None else None,
        timeout=30,
    )


def hitl(server: AirflowServer, run_id: str, step: str) -> dict:
    with server.client("admin") as admin:
        details = admin.get(f"{run_url(run_id)}/hitlDetails", params={"task_id": step}).json()[
            "hitl_details"
        ]
    assert len(details) == 1, details
    return details[0]


def wait_asking(server: AirflowServer, run_id: str, steps: list[str], timeout: float = 180) -> None:
    """Until every step of ``steps`` waits for an answer not given yet."""
    with server.client("admin") as admin:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            details = admin.get(f"{run_url(run_id)}/hitlDetails").json()["hitl_details"]
            asking = {
                d["task_instance"]["task_id"]
                for d in details
                if not d["response_received"] and d["task_instance"]["state"] == "awaiting_input"
            }
            if set(steps) <= asking:
                return
            time.sleep(0.5)
    raise TimeoutError(f"{steps} did not all ask in {timeout} s:\n{server.tail()}")


def wait_states(
    server: AirflowServer, run_id: str, wanted: dict[str, str], timeout: float = 180
) -> None:
    with server.client("admin") as admin:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = {
                t["task_id"]: t["state"]
                for t in admin.get(f"{run_url(run_id)}/taskInstances").json()["task_instances"]
            }
            if all(states.get(step) == state for step, state in wanted.items()):
                return
            time.sleep(1)
    raise TimeoutError(f"not {wanted} in {timeout} s: {states}\n{server.tail()}")


def snapshot(server: AirflowServer, run_id: str) -> dict[str, Any]:
    """What the outsider must not change: steps (state, note, try), requests, runs, pause, records."""
    with server.client("admin") as admin:
        tis = admin.get(f"{run_url(run_id)}/taskInstances").json()["task_instances"]
        details = admin.get(f"{run_url(run_id)}/hitlDetails").json()["hitl_details"]
        return {  # the run's watch wakes up on its own: left out
            "tis": sorted(
                (t["task_id"], t["state"], t["note"], t["try_number"])
                for t in tis
                if t["task_id"] != "_watch"
            ),
            "requests": sorted(
                (
                    d["task_instance"]["task_id"],
                    d["response_received"],
                    json.dumps(d["assigned_users"]),
                )
                for d in details
            ),
            "runs": {
                d: sorted(
                    (r["dag_run_id"], r["state"])
                    for r in admin.get(f"/api/v2/dags/{d}/dagRuns").json()["dag_runs"]
                )
                for d in (DAG, OTHER_DRY_RUN)
            },
            "paused": {
                d: admin.get(f"/api/v2/dags/{d}").json()["is_paused"] for d in (DAG, OTHER_DRY_RUN)
            },
            "defects": admin.get(
                f"/transition/api/dags/{DAG}/runs/{quote(run_id, safe='')}/defects"
            ).json()["defects"],
            "transfers": admin.get(
                f"/transition/api/dags/{DAG}/runs/{quote(run_id, safe='')}/transfers"
            ).json()["transfers"],
        }


def test_fab_users_act_by_their_login_and_outsiders_are_refused(airflow):
    server = airflow
    ids = {login: fab_id(server, login) for login in ("alice", "carol", "frank", "eve", "mia")}
    assert all(i.isdigit() for i in ids.values()) and len(set(ids.values())) == len(ids), (
        ids
    )  # FAB: numbers

    # The outsider may read the plan's DAGs (FAB's User role) but not start a dry run.
    with server.client("eve") as eve:
        assert eve.get(f"/api/v2/dags/{DAG}").status_code == 200
        for dag in (DAG, OTHER_DRY_RUN):
            refused = eve.post(f"/api/v2/dags/{dag}/dagRuns", json={"logical_date": None})
            assert refused.status_code == 403, refused.text
            assert eve.patch(f"/api/v2/dags/{dag}", json={"is_paused": False}).status_code == 403
    # The cutover manager (FAB Admin) starts it.
    with server.client("mia") as mia:
        deadline = time.monotonic() + 60
        while (
            unpaused := mia.patch(f"/api/v2/dags/{DAG}", json={"is_paused": False})
        ).status_code != 200:
            assert time.monotonic() < deadline, unpaused.text
            time.sleep(2)
        triggered = mia.post(f"/api/v2/dags/{DAG}/dagRuns", json={"logical_date": None})
        assert triggered.status_code == 200, triggered.text
        run_id = triggered.json()["dag_run_id"]
    run = run_url(run_id)
    plugin = f"/transition/api/dags/{DAG}/runs/{quote(run_id, safe='')}"
    wait_asking(server, run_id, ["A", "C", "D", "E", "F"])
    assert {u["id"] for u in hitl(server, run_id, "A")["assigned_users"]} == {
        "alice",
        "carol",
        "dave",
        "mia",
    }

    # The outsider, on every form of answering and marking success: 403, nothing changed.
    before = snapshot(server, run_id)
    eve = as_user(server, "eve")
    success = {"new_state": "success"}
    bulk = {
        "actions": [
            {
                "action": "update",
                "entities": [
                    {"dag_id": DAG, "dag_run_id": run_id, "task_id": "A", "new_state": "success"}
                ],
            }
        ]
    }
    attacks = [
        ("answer", "PATCH", f"{run}/taskInstances/A/-1/hitlDetails", {"chosen_options": ["Close"]}),
        (
            "answer at -1.0",
            "PATCH",
            f"{run}/taskInstances/A/-1.0/hitlDetails",
            {"chosen_options": ["Start"]},
        ),
        ("mark success", "PATCH", f"{run}/taskInstances/A", success),
        ("mark success at -1", "PATCH", f"{run}/taskInstances/A/-1", success),
        ("mark success at -1.0", "PATCH", f"{run}/taskInstances/A/-1.0", success),
        ("bulk through ~/~", "PATCH", "/api/v2/dags/~/dagRuns/~/taskInstances", bulk),
        ("bulk on the DAG", "PATCH", f"{run}/taskInstances", bulk),
        ("the whole run success", "PATCH", run, {"state": "success"}),
        (
            "trigger another dry run",
            "POST",
            f"/api/v2/dags/{OTHER_DRY_RUN}/dagRuns",
            {"logical_date": None},
        ),
    ]
    wrong = [
        (name, answer.status_code, answer.text[:300])
        for name, method, path, body in attacks
        if (answer := raw(server, method, path, [eve], body)).status_code != 403
    ]
    assert not wrong, "\n".join(map(str, wrong))
    refused = raw(
        server,
        "PATCH",
        f"{run}/taskInstances/A/-1/hitlDetails",
        [eve],
        {"chosen_options": ["Close"]},
    )
    assert (
        "Vous ne pouvez pas agir sur l'étape A" in refused.json()["detail"]
    )  # the guard, in eve's language
    with server.client("eve") as outsider:
        assert outsider.post(f"{plugin}/steps/A/transfer", json={"to": "eve"}).status_code == 403
        assert (
            outsider.post(
                f"{plugin}/steps/A/defects", json={"title": "x", "severity": "blocking"}
            ).status_code
            == 403
        )
    # An owner on another owner's step (bob's F) is an outsider there too.
    alice = as_user(server, "alice")
    assert (
        raw(
            server,
            "PATCH",
            f"{run}/taskInstances/F/-1/hitlDetails",
            [alice],
            {"chosen_options": ["Start"]},
        ).status_code
        == 403
    )
    assert raw(server, "PATCH", f"{run}/taskInstances/F", [alice], success).status_code == 403
    assert snapshot(server, run_id) == before

    # The owner answers Start then Close: Airflow's own check passes (the guard adds alice's number to
    # the request), and what the step records names alice by her login.
    started = raw(
        server,
        "PATCH",
        f"{run}/taskInstances/A/-1/hitlDetails",
        [alice],
        {"chosen_options": ["Start"]},
    )
    assert started.status_code == 200, started.text
    detail = hitl(server, run_id, "A")
    assert {"id": ids["alice"], "name": "alice"} in detail["assigned_users"]
    assert detail["responded_by_user"] == {"id": ids["alice"], "name": "alice"}
    wait_asking(server, run_id, ["A"])  # asks for Close
    closed = raw(
        server,
        "PATCH",
        f"{run}/taskInstances/A/-1/hitlDetails",
        [alice],
        {"chosen_options": ["Close"]},
    )
    assert closed.status_code == 200, closed.text

    with (
        server.client("alice") as owner,
        server.client("frank") as frank,
        server.client("mia") as mia,
        server.client("carol") as carol,
    ):
        # A transfer through the plugin: by login; the transferee answers.
        transferred = owner.post(
            f"{plugin}/steps/C/transfer", json={"to": "frank", "message": "On leave"}
        )
        assert transferred.status_code == 200, transferred.text
        assert (
            transferred.json()["transfer"]["from_user"],
            transferred.json()["transfer"]["to_user"],
        ) == ("alice", "frank")
        answer = frank.patch(
            f"{run}/taskInstances/C/-1/hitlDetails", json={"chosen_options": ["Close"]}
        )
        assert answer.status_code == 200, answer.text
        assert hitl(server, run_id, "C")["responded_by_user"] == {
            "id": ids["frank"],
            "name": "frank",
        }

        # The team leader marks their person's asking step success.
        marked = carol.patch(f"{run}/taskInstances/D", json={"new_state": "success"})
        assert marked.status_code == 200, marked.text

        # Defects through the plugin: recorded and resolved by login; a blocking one holds the owner's Close.
        blocking = mia.post(
            f"{plugin}/steps/E/defects", json={"title": "Mail relay down", "severity": "blocking"}
        )
        assert blocking.status_code == 201, blocking.text
        assert blocking.json()["defect"]["created_by"] == "mia"
        defect = blocking.json()["defect"]["id"]
        held = raw(
            server,
            "PATCH",
            f"{run}/taskInstances/E/-1/hitlDetails",
            [alice],
            {"chosen_options": ["Close"]},
        )
        assert held.status_code == 409 and f"#{defect} Mail relay down" in held.text, held.text
        assert (
            owner.post(f"{plugin}/defects/{defect}/resolve", json={}).status_code == 403
        )  # the person it blocks
        minor = owner.post(
            f"{plugin}/steps/E/defects", json={"title": "Template typo", "severity": "minor"}
        )
        assert minor.status_code == 201 and minor.json()["defect"]["created_by"] == "alice", (
            minor.text
        )
        resolved = owner.post(
            f"{plugin}/defects/{minor.json()['defect']['id']}/resolve", json={}
        )  # her own
        assert (
            resolved.status_code == 200 and resolved.json()["defect"]["resolved_by"] == "alice"
        ), resolved.text
        resolved = mia.post(f"{plugin}/defects/{defect}/resolve", json={})
        assert resolved.status_code == 200 and resolved.json()["defect"]["resolved_by"] == "mia", (
            resolved.text
        )

        # The cutover manager (FAB Admin) answers a step and forces a close on one that is not asking.
        answer = mia.patch(
            f"{run}/taskInstances/E/-1/hitlDetails", json={"chosen_options": ["Close"]}
        )
        assert answer.status_code == 200, answer.text
        forced = mia.patch(
            f"{run}/taskInstances/G", json={"new_state": "success", "note": "Checked by hand"}
        )
        assert forced.status_code == 200, forced.text

        wait_states(
            server,
            run_id,
            {"A": "success", "C": "success", "D": "success", "E": "success", "G": "success"},
        )
        steps = {s["id"]: s for s in owner.get(f"{plugin}/steps").json()["steps"]}
        assert (steps["A"]["started_by"], steps["A"]["closed_by"]) == ("alice", "alice"), steps["A"]
        assert steps["C"]["closed_by"] == "frank" and steps["E"]["closed_by"] == "mia", (
            steps["C"],
            steps["E"],
        )
        assert (
            steps["G"]["forced_close"]["by"] == "mia"
            and steps["G"]["forced_close"]["reason"] == "Checked by hand"
        )
        assert {s: steps[s]["state"] for s in "ACDEG"} == dict.fromkeys("ACDEG", "Terminated")

        # The recap page knows the user by login.
        page = owner.get("/transition/recap")
        assert page.status_code == 200 and 'const ME = "alice";' in page.text, page.text[:500]
        assert f'const ME = "{ids["alice"]}"' not in page.text

        # The cutover manager ends the run; the outsider could not.
        assert raw(server, "PATCH", run, [eve], {"state": "failed"}).status_code == 403
        ended = mia.patch(run, json={"state": "failed"})
        assert ended.status_code == 200, ended.text
