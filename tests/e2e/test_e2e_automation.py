"""Automated steps and checks on a real Airflow, people taking over when they fail (issue 28).

    X1 (auto) ─┬─► X2 (auto: fails until its flag file exists) ──────────────┐
               ├─► X3 (auto: always fails) ──────────────────────────────────┤
               ├─► X4 (auto: killed while it runs) ──────────────────────────┤
               ├─► X5 (sql: a row) ─► V3 (sql check: 1 row) ─┬► X6 (http) ───┤
               │                                             └► X8 (ssh) ────┤
               ├─► X7 (auto, Approvals before: runs once alice says Start) ──┼─► W (carol's)
               └─► V1 (check: 1200 >= 1000) ─► V2 (check: 1190, ±0.5% of V1) ─► GX (gate) ─┘
                                                                                 └─► WB (fallback)

X1 and V1 close by themselves, "by the automation", asking nobody. X2's holder is told (a "Take
over" e-mail with what the action said) and asked: she writes the missing file and answers Retry,
and the action runs once more and closes it. X3's owner answers Done by hand, V2's Accept: both
need a comment on every route; an outsider's answers are refused. X4's process is killed (-9)
while its action runs: the new try does not run it again but asks its holder, saying it was
interrupted; a Retry runs it once more. X5 and V3 run SQL on a database of the machine's
PostgreSQL through an Airflow connection, X6 calls a local HTTP server, X8 runs a command on a
local SSH server. X7 asks its owner to Start
it (its Ready e-mail says so) and runs once she has. The gate GX rests on V1 and V2:
Go is refused while V2 is failed and not accepted, and once it is, GX's request and e-mail show both
checks' values and verdicts. Each action runs exactly as often as decided (from the task logs). On the shared servers (tests/shared_airflow.py), the AUTO dry run.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import psutil
import pytest
import sqlalchemy as sa

from airflow_server import FLAVOURS, AirflowServer
from shared_airflow import AUTO_FLAG, SLOW_FLAG, SLOW_STARTED, dag_id

pytestmark = pytest.mark.e2e
DAG_ID = dag_id("AUTO")


def record(server: AirflowServer, run_id: str, step: str, key: str = "closed") -> dict:
    with server.client("admin") as admin:
        entry = admin.get(
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{step}/xcomEntries/{key}"
        )
        assert entry.status_code == 200, (step, key, entry.text)
        return entry.json()["value"]


def answer(server: AirflowServer, who: str, run_id: str, step: str, option: str, **params):
    with server.client(who) as person:
        return person.patch(
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{step}/-1/hitlDetails",
            json={"chosen_options": [option], "params_input": params},
        )


def kill_task_process(ti_id: str) -> None:
    """kill -9 the process running the task ``ti_id`` (its title: ``airflow worker -- <id>``) and
    what it started (the action's command)."""
    for pid in psutil.pids():
        try:
            process = psutil.Process(pid)
            if " ".join(process.cmdline()).strip() == f"airflow worker -- {ti_id}":
                children = process.children(recursive=True)
                process.kill()
                for child in children:
                    child.kill()
                return
        except psutil.Error:  # ended (or not ours) meanwhile
            continue
    raise AssertionError(f"no process runs {ti_id}")


def runs_of_action(server: AirflowServer, run_id: str, step: str) -> int:
    """How many times the step's action ran, from its task logs (every try)."""
    folder = server.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={step}"
    return sum(p.read_text(errors="replace").count("Running action ") for p in folder.glob("*.log"))


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_automated_steps_and_checks_run_and_people_take_over(shared_servers, flavour):
    shared = shared_servers.get(flavour)
    (shared.folder / AUTO_FLAG).unlink(missing_ok=True)
    with shared.use() as (server, smtp):
        (shared.folder / SLOW_STARTED).unlink(missing_ok=True)
        (shared.folder / SLOW_FLAG).write_text("sleep\n", encoding="utf-8")
        run_id = server.trigger(DAG_ID)
        # X4's action is running: its process is killed; the new try asks its holder instead.
        deadline = time.monotonic() + 180
        while not (shared.folder / SLOW_STARTED).exists():
            assert time.monotonic() < deadline, server.task_log_tail(DAG_ID, run_id, "X4")
            time.sleep(0.25)
        with server.client("admin") as admin:
            x4 = admin.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/X4").json()
        kill_task_process(x4["id"])
        (shared.folder / SLOW_FLAG).unlink()
        server.wait_until_asked(DAG_ID, run_id, "X4")
        with server.client("admin") as admin:
            details = admin.get(
                f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails", params={"task_id": "X4"}
            ).json()["hitl_details"]
        assert "was interrupted" in details[0]["body"], details[0]["body"]
        assert runs_of_action(server, run_id, "X4") == 1  # not run again by the new try
        assert server.answer_when_asked("carol", DAG_ID, run_id, "X4", "Retry").status_code == 200
        # X2 fails: its holder is told what the action said, and asked.
        server.wait_until_asked(DAG_ID, run_id, "X2")
        mail = smtp.wait_for("[Transition-AUTO] X2 - Take over", to="bob@example.com")
        told = mail.get_body(("plain",)).get_content()
        assert "failed: the command ended with code 3: flag.txt is missing" in told
        assert "Its last lines:" in told and "\n    flag.txt is missing" in told, told
        with server.client("admin") as admin:
            asked = admin.get(
                f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails", params={"task_id": "X2"}
            ).json()["hitl_details"][-1]
        assert "Its last lines:\n\n    flag.txt is missing" in asked["body"], asked["body"]
        assert answer(server, "oscar", run_id, "X2", "Retry").status_code == 403  # an outsider
        refused = answer(server, "bob", run_id, "X2", "Done by hand")  # no comment
        assert refused.status_code == 422 and "comment" in refused.text, refused.text
        (shared.folder / AUTO_FLAG).write_text("written by bob\n", encoding="utf-8")
        retried = server.answer_when_asked("bob", DAG_ID, run_id, "X2", "Retry")
        assert retried.status_code == 200, retried.text
        # X7 asks its owner to Start it; the action runs then.
        server.wait_until_asked(DAG_ID, run_id, "X7")
        with server.client("admin") as admin:
            x7_body = admin.get(
                f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails", params={"task_id": "X7"}
            ).json()["hitl_details"][0]["body"]
        assert runs_of_action(server, run_id, "X7") == 0  # not before its Start
        started = server.answer_when_asked("alice", DAG_ID, run_id, "X7", "Start")
        assert started.status_code == 200, started.text
        # X3 always fails: its owner does it by hand, with a comment.
        server.wait_until_asked(DAG_ID, run_id, "X3")
        assert answer(server, "alice", run_id, "X3", "Done by hand", comment=" ").status_code == 422
        # Nor is it marked done instead, by its owner (with a note, alone or in bulk) or an outsider.
        run_url = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
        for who in ("alice", "oscar"):
            with server.client(who) as person:
                marked = person.patch(
                    f"{run_url}/taskInstances/X3", json={"new_state": "success", "note": "done"}
                )
                assert marked.status_code == 403, (who, marked.text)
                entity = {"task_id": "X3", "dag_id": DAG_ID, "dag_run_id": run_id}
                bulk = person.patch(
                    "/api/v2/dags/~/dagRuns/~/taskInstances",
                    json={
                        "actions": [
                            {"action": "update", "entities": [{**entity, "new_state": "success"}]}
                        ]
                    },
                )
                assert bulk.status_code == 403, (who, bulk.text)
        done = server.answer_when_asked(
            "alice", DAG_ID, run_id, "X3", "Done by hand", params={"comment": "called the hub"}
        )
        assert done.status_code == 200, done.text
        # V2 measures 1190 against V1's 1200: failed; accepted with a reason.
        server.wait_until_asked(DAG_ID, run_id, "V2")
        assert answer(server, "eve", run_id, "V2", "Accept", comment="fine").status_code == 403
        assert answer(server, "bob", run_id, "V2", "Accept").status_code == 422
        early = answer(server, "alice", run_id, "GX", "Go", comment="counts are fine")
        assert early.status_code == 409 and "V2" in early.text, early.text  # the check failed
        accepted = server.answer_when_asked(
            "bob", DAG_ID, run_id, "V2", "Accept", params={"comment": "one batch billed late"}
        )
        assert accepted.status_code == 200, accepted.text
        # The gate's request and e-mail show the checks it rests on, with values and verdicts.
        server.wait_until_asked(DAG_ID, run_id, "GX")
        with server.client("admin") as admin:
            details = admin.get(
                f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails", params={"task_id": "GX"}
            ).json()["hitl_details"]
        v1_line = "V1 · Count the EANs: measured 1200, expected >= 1000: passed"
        v2_line = (
            "V2 · Count the billed EANs: measured 1190, expected between 99.5% and 100.5% of V1: "
            "failed, accepted by Bob Peeters: one batch billed late"
        )
        assert v1_line in details[0]["body"] and v2_line in details[0]["body"], details[0]["body"]
        gate_mail = smtp.wait_for("[Transition-AUTO] GX - Execution", to="alice@example.com")
        assert v2_line in gate_mail.get_body(("plain",)).get_content()
        went = server.answer_when_asked("alice", DAG_ID, run_id, "GX", "Go")
        assert went.status_code == 200, went.text
        for option in ("Start", "Close"):
            assert server.answer_when_asked("carol", DAG_ID, run_id, "W", option).status_code == 200
        assert server.wait_for_run(DAG_ID, run_id) == "success"

        # X7 waited for alice's Start (its Ready e-mail), then ran: her Start, the automation's close.
        assert "Press **Start** when it may run" in x7_body, x7_body
        assert smtp.wait_for("[Transition-AUTO] X7 - Execution", to="alice@example.com")
        assert record(server, run_id, "X7", "started")["by"] == "alice"
        assert record(server, run_id, "X7")["comment"] == "exported NAMUR"
        assert runs_of_action(server, run_id, "X7") == 1 and server.asks(DAG_ID, run_id, "X7") == 1
        # SQL on the machine's PostgreSQL, an HTTP call to the local server, a command on the SSH
        # server: each once.
        with shared.database.connect() as db:
            assert list(db.execute(sa.text("SELECT region FROM ean")).scalars()) == ["LIEGE"]
        assert [p.body for p in shared.hub.posted if p.path == "/api/notify"] == [
            {"phase": "Counts checked, go"}
        ]
        v3 = record(server, run_id, "V3")
        assert (v3["by"], v3["value"], v3["verdict"]) == ("automation", 1, "passed"), v3
        assert record(server, run_id, "X6")["comment"] == "accepted"  # what the server answered
        x8 = record(server, run_id, "X8")
        assert (x8["by"], x8["comment"]) == (
            "automation",
            f"archived LIEGE in {shared.remote.home}",
        )
        assert [c for c in shared.remote.commands if "archived" in c] == [
            'export TRANSITION_ARG_REGION=LIEGE; echo "archived $TRANSITION_ARG_REGION in $PWD"'
        ]
        closed = {s: record(server, run_id, s) for s in ("X1", "X2", "X3", "X4", "V1", "V2")}
        assert closed["X4"]["by"] == "automation" and closed["X4"]["comment"] == "reindexed"
        assert closed["X1"]["by"] == "automation" and closed["X1"]["automated"] is True
        assert closed["X1"]["comment"] == "exported LIEGE"  # the argument, from the environment
        assert closed["X2"]["by"] == "automation" and closed["X2"]["comment"] == "found the flag"
        assert [r["ok"] for r in record(server, run_id, "X2", "automation")["runs"]] == [
            False,
            True,
        ]
        assert closed["X3"]["by"] == "alice" and closed["X3"]["taken_over"] == "Done by hand"
        assert closed["X3"]["comment"] == "called the hub"
        assert (closed["V1"]["value"], closed["V1"]["verdict"]) == (1200, "passed")
        assert closed["V1"]["by"] == "automation"
        assert (closed["V2"]["value"], closed["V2"]["verdict"]) == (1190, "failed")
        assert closed["V2"]["by"] == "bob" and closed["V2"]["taken_over"] == "Accept"
        assert closed["V2"]["comment"] == "one batch billed late"
        assert record(server, run_id, "X3", "started")["by"] == "automation"
        # The recap (and so the results workbook) says what each action did, and who took over.
        with server.client("carol") as carol:
            shown = carol.get(f"/transition/api/dags/{DAG_ID}/runs/{run_id}/steps")
            assert shown.status_code == 200, shown.text
        steps = {s["id"]: s for s in shown.json()["steps"]}
        assert steps["X1"]["closed_by"] == "automation" and steps["X1"]["kind"] == "auto"
        assert steps["X2"]["automation"]["runs"] == 2 and steps["X2"]["automation"]["ok"] is True
        v2 = steps["V2"]["automation"]
        assert (v2["value"], v2["verdict"], v2["taken_over"], v2["taken_over_by"]) == (
            1190,
            "failed",
            "Accept",
            "bob",
        )
        assert steps["V1"]["automation"]["verdict"] == "passed" and steps["W"]["automation"] is None
        assert steps["X2"]["automation"]["log"].endswith(
            f"/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/tasks/X2?map_index=-1"
        )
        assert steps["WB"]["state"] == "Skipped", steps["WB"]
        assert all(steps[s]["state"] == "Terminated" for s in steps if s != "WB"), steps
        # Each action ran as often as decided; nobody was asked about the ones that went right.
        runs = {s: runs_of_action(server, run_id, s) for s in ("X1", "X2", "X3", "X4", "V1", "V2")}
        assert runs == {"X1": 1, "X2": 2, "X3": 1, "X4": 2, "V1": 1, "V2": 1}, runs
        x4_runs = record(server, run_id, "X4", "automation")["runs"]
        assert ["ended" in r for r in x4_runs] == [False, True], x4_runs  # the killed one never
        assert server.asks(DAG_ID, run_id, "X1") == 0 and server.asks(DAG_ID, run_id, "V1") == 0
        # The automated steps send no Ready e-mail (but X7, which asks for Start first); each
        # failure is told once.
        subjects = [
            str(m["Subject"]) for m in smtp.messages if DAG_ID in str(m["X-Transition-Run"])
        ]
        ready = [s.split(" ", 1)[1] for s in subjects if s.endswith("Execution")]
        assert [s for s in ready if s.startswith(("X", "V"))] == ["X7 - Execution"], subjects
        for step in ("X2", "X3", "V2"):
            assert subjects.count(f"[Transition-AUTO] {step} - Take over") == 1, subjects
