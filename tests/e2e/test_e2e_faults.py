"""Faults of a long night, on the production configuration (PostgreSQL, CeleryExecutor on Redis).

- 50 owners answer their steps at the same time through the REST API: every answer is recorded
  once, on the right step, by the right person, and the API never answers 5xx.
- kill -9 of the triggerer, then of the scheduler, then of the api-server, each in the middle of a
  dry run, with an answer given while the component is dead: each is restarted, the run finishes,
  no answer is lost and no e-mail is sent twice.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import zoneinfo
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from airflow_server import AirflowServer
from conftest import write_config, write_xlsx
from smtp_server import SmtpServer
from transition.local.standalone import airflow_users
from transition.store.plan_store import load_plan

pytestmark = pytest.mark.e2e
ZONE = zoneinfo.ZoneInfo("Europe/Brussels")
OWNERS = [f"owner{n:02d}" for n in range(1, 51)]
CROWD, FAULT = "faults_crowd", "faults_fault"


def seconds_ahead(seconds: float) -> dt.datetime:
    """``seconds`` from now, to the second (a Start may say its seconds)."""
    return (dt.datetime.now(ZONE) + dt.timedelta(seconds=seconds)).replace(microsecond=0)


def write_plan(folder, t_start: dt.datetime) -> None:
    today = dt.datetime.now(ZONE)
    t_text = f"D{(t_start.date() - today.date()).days:+d} {t_start:%H:%M:%S}"
    steps = [["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner", "Start", "Duration"]]
    steps += [
        [f"P{n:02d}", f"Parallel step {n}", "CO", "CROWD", "", owner, "", "1h"]
        for n, owner in enumerate(OWNERS, 1)
    ]
    steps += [
        ["A", "Stop the batch", "PP", "FAULT", "", "alice", "", "1h"],
        ["B", "Export the register", "PP", "FAULT", "A", "bob", "", "1h"],
        ["C", "Switch the gateway", "CO", "FAULT", "B", "carol", "", "1h"],
        ["T", "Timed check", "CO", "FAULT", "", "alice", t_text, "1h"],
        ["D", "Sign off", "HO", "FAULT", "C, T", "dave", "", "1h"],
    ]
    actors = [
        ["ID", "Name", "Email", "Team", "Team leader", "Department head"],
        ["alice", "Alice Martin", "alice@example.com", "Billing", "carol", "dave"],
        ["bob", "Bob Peeters", "bob@example.com", "Market", "carol", "dave"],
        ["carol", "Carol Dubois", "carol@example.com", "Market", "carol", "dave"],
        ["dave", "Dave Lambert", "dave@example.com", "Direction", "", ""],
    ]
    actors += [[o, f"Owner {o[-2:]}", f"{o}@example.com", "Crowd", "carol", "dave"] for o in OWNERS]
    end = (today + dt.timedelta(days=1)).replace(tzinfo=None, microsecond=0)
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": steps,
            "Actors": actors,
            "DryRuns": [
                ["Name", "D-day", "End"],
                ["CROWD", today.date(), end],
                ["FAULT", today.date(), end],
            ],
        },
    )
    write_config(folder / "config.yaml", "plan.xlsx", name="faults", cutover_managers=["dave"])


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    write_plan(folder, seconds_ahead(24 * 3600))  # T's start is written again before its run
    plan = load_plan(folder / "config.yaml").plan
    smtp = SmtpServer().start()
    server = AirflowServer(
        folder / "airflow",
        folder / "config.yaml",
        airflow_users(plan),
        flavour="postgres-celery",
        extra_env={"AIRFLOW_CONN_SMTP_DEFAULT": smtp.airflow_connection()},
    )
    try:
        with server:
            server.wait_for_dag(CROWD)
            server.wait_for_dag(FAULT)
            yield server, smtp, folder
    finally:
        smtp.stop()


def test_fifty_owners_answer_at_once(airflow):
    server, smtp, _folder = airflow
    run_id = server.trigger(CROWD)
    run_url = f"/api/v2/dags/{CROWD}/dagRuns/{run_id}"
    answers: list[tuple[str, str, int]] = []  # (step, option, HTTP status)
    given: Counter[str] = Counter()  # step -> answers given
    lock = threading.Lock()

    def answer(step: str, owner: str, option: str) -> None:
        with server.client(owner) as person:
            response = person.patch(
                f"{run_url}/taskInstances/{step}/-1/hitlDetails",
                json={
                    "chosen_options": [option],
                    "params_input": {"comment": f"{option} by {owner}"},
                },
            )
        with lock:
            answers.append((step, option, response.status_code))

    owner_of = {f"P{n:02d}": owner for n, owner in enumerate(OWNERS, 1)}
    for owner in OWNERS:
        server.token(owner)  # log in before the rush
    pending: dict[
        str, float
    ] = {}  # step -> when its answer was sent (do not answer twice in a row)
    with server.client("admin") as admin, ThreadPoolExecutor(max_workers=len(OWNERS)) as people:
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            run = server.read(admin, run_url)
            if run["state"] != "running":
                break
            waiting = server.read(
                admin,
                f"{run_url}/hitlDetails",
                params={"limit": 100, "response_received": False},
            )
            instances = {
                t["task_id"]: t["state"]
                for t in server.read(admin, f"{run_url}/taskInstances", params={"limit": 100})[
                    "task_instances"
                ]
            }
            for detail in waiting["hitl_details"]:
                step = detail["task_instance"]["task_id"]
                if (
                    instances.get(step) != "awaiting_input"
                    or time.monotonic() - pending.get(step, -1e9) < 20
                ):
                    continue
                option = "Start" if given[step] == 0 else "Close"
                given[step] += 1
                pending[step] = time.monotonic()
                people.submit(answer, step, owner_of[step], option)
            time.sleep(1)
    assert run["state"] == "success", (run, server.tail())
    assert [a for a in answers if a[2] != 200] == [], "every answer accepted, no 5xx"
    with server.client("admin") as admin:
        for step, owner in owner_of.items():
            base = f"{run_url}/taskInstances/{step}/xcomEntries"
            started, closed = (
                admin.get(f"{base}/started").json()["value"],
                admin.get(f"{base}/closed").json()["value"],
            )
            assert (started["by"], closed["by"]) == (owner, owner), step
            assert closed["comment"] == f"Close by {owner}", step
    ready = Counter(
        m["Subject"] for m in smtp.messages if str(m["Subject"]).endswith("- Execution")
    )
    assert sorted(ready) == sorted(f"[Transition-CROWD] {s} - Execution" for s in owner_of)
    assert set(ready.values()) == {1}, "each Ready e-mail once"


def wait_state(
    server: AirflowServer, run_id: str, step: str, states: set[str], timeout: float = 240
) -> str:
    url = f"/api/v2/dags/{FAULT}/dagRuns/{run_id}/taskInstances/{step}"
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        try:
            with server.client("admin") as admin:
                state = admin.get(url).json().get("state")
        except httpx.HTTPError:
            state = "(api-server down)"
        if state in states:
            return state
        time.sleep(1)
    raise TimeoutError(f"{step} is {state}, not {states}, after {timeout} s:\n{server.tail(30)}")


def answer_now(server: AirflowServer, user: str, run_id: str, step: str, option: str) -> None:
    with server.client(user) as person:
        response = person.patch(
            f"/api/v2/dags/{FAULT}/dagRuns/{run_id}/taskInstances/{step}/-1/hitlDetails",
            json={"chosen_options": [option], "params_input": {"comment": f"{option} {step}"}},
        )
    assert response.status_code == 200, response.text


def test_kill_minus_nine_triggerer_scheduler_api_server(airflow):
    server, smtp, folder = airflow
    # T's planned start, written right before the run: a minute ahead, so that its timer is in
    # the triggerer when the triggerer dies below.
    write_plan(folder, seconds_ahead(60))
    server.reparse(FAULT)
    run_id = server.trigger(FAULT)
    wait_state(server, run_id, "T", {"deferred"})  # T waits for its planned start, in the triggerer
    wait_state(server, run_id, "A", {"awaiting_input"})
    smtp.wait_for("[Transition-FAULT] A - Execution")

    # The triggerer dies (T's timer and the watch's are in it); A is answered while it is down
    # (the sleeps are how long the fault lasts, not a person's pause).
    server.kill_component("triggerer")
    time.sleep(3)
    answer_now(server, "alice", run_id, "A", "Close")
    time.sleep(5)
    server.start_component("triggerer")
    wait_state(server, run_id, "B", {"awaiting_input"})

    # The scheduler dies the moment B asks; B is answered meanwhile (between the answer and its
    # resume); nothing moves until it is back.
    server.kill_component("scheduler")
    answer_now(server, "bob", run_id, "B", "Close")
    time.sleep(10)
    server.start_component("scheduler")
    wait_state(server, run_id, "C", {"awaiting_input"})

    # The api-server (the REST API and the tasks' Execution API) dies right after C's answer,
    # before C's task could act on it; it is back 10 s later.
    answer_now(server, "carol", run_id, "C", "Close")
    server.kill_component("api-server")
    time.sleep(10)
    server.start_component("api-server")
    server.wait_healthy(120)

    # T's planned start comes; then D.
    for step, user in (("T", "alice"), ("D", "dave")):
        answered = server.answer_when_asked(
            user, FAULT, run_id, step, "Close", params={"comment": f"Close {step}"}, timeout=300
        )
        assert answered.status_code == 200, answered.text
    assert server.wait_for_run(FAULT, run_id, timeout=240) == "success", server.tail()

    with server.client("admin") as admin:
        for step, user in (
            ("A", "alice"),
            ("B", "bob"),
            ("C", "carol"),
            ("T", "alice"),
            ("D", "dave"),
        ):
            closed = admin.get(
                f"/api/v2/dags/{FAULT}/dagRuns/{run_id}/taskInstances/{step}/xcomEntries/closed"
            )
            assert closed.status_code == 200, (step, closed.text)
            assert (closed.json()["value"]["by"], closed.json()["value"]["comment"]) == (
                user,
                f"Close {step}",
            )
    for step in "ABCTD":  # each asked once (Close), whatever tries the faults cost
        assert server.asks(FAULT, run_id, step) == 1, (step, server.tail())
    sent = Counter(
        (str(m["Subject"]), str(m["To"]))
        for m in smtp.messages
        if str(m["Subject"]).startswith("[Transition-FAULT]")
    )
    assert set(sent.values()) == {1}, f"an e-mail was sent twice: {sent}"
    ready = sorted(subject for subject, _ in sent if subject.endswith("- Execution"))
    assert ready == sorted(f"[Transition-FAULT] {s} - Execution" for s in "ABCTD"), sent
