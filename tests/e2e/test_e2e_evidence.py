"""The plan of record, the run's journal and the evidence pack, on a real Airflow.

A run of a small plan with a gate: A started and closed with a comment, B transferred, given a
defect (resolved) and closed by the new person, F forced closed by the cutover manager before its
turn, G decided Go. The api-server journaled each as it happened, each entry signed with the
deployment's key. The run's watch recorded the plan it started with; the workbook is then changed
(a duration, a step added) and the plan of record says what changed, and since which DAG version.
``transition evidence`` packs the run, with the workbook and configuration as they were; ``transition
evidence verify`` accepts the pack, and names the file, the journal entry or the signature when a
byte is changed, an entry removed, or the key is wrong; ``--against-airflow`` names an answer's
option, a defect's resolver, a note and a journal entry changed in the database after.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
import zoneinfo
from pathlib import Path
from urllib.parse import quote

import httpx
import openpyxl
import pytest

from airflow_server import AirflowServer
from conftest import write_config, write_xlsx
from transition.local.standalone import airflow_users
from transition.store.plan_store import load_plan

pytestmark = pytest.mark.e2e
ZONE = zoneinfo.ZoneInfo("Europe/Brussels")
DAG = "evi_dr1"
TRANSITION = shutil.which("transition", path=str(Path(sys.executable).parent))
KEY = "a secret only the deployment knows"
HEADER = ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Start", "Duration", "Owner", "Kind"]


def write_plan(folder: Path, changed: bool = False) -> None:
    """The plan (D-day yesterday: every planned start has passed); ``changed``: A 2h, X added."""
    steps = [
        HEADER,
        ["A", "Stop the gateway", "AC", "ALL", "", "D-1 08:00", "2h" if changed else "1h", "alice"],
        ["B", "Back up", "AC", "ALL", "A", "", "0.5m", "bob"],
        ["G", "Go / no-go", "CO", "ALL", "B", "", "15m", "carol", "gate"],
        ["F", "Switch", "CO", "ALL", "G", "", "30m", "bob"],
        ["R", "Roll back", "FB-RB", "ALL", "G", "", "30m", "bob"],
    ]
    if changed:
        steps.append(["X", "Hand over", "HO", "ALL", "F", "", "15m", "alice"])
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": steps,
            "Actors": [
                ["ID", "Name", "Email", "Team", "Team leader", "Department head"],
                ["alice", "Alice Martin", "alice@example.com", "Market", "carol", ""],
                ["bob", "Bob Peeters", "bob@example.com", "Infra", "carol", ""],
                ["carol", "Carol Dubois", "carol@example.com", "Market", "", ""],
                ["frank", "Frank Claes", "frank@example.com", "Infra", "carol", ""],
                ["mia", "Mia Renard", "mia@example.com", "Transition office", "", ""],
            ],
            "DryRuns": [["Name", "D-day"], ["DR1", dt.datetime.now(ZONE).date()]],
        },
    )
    write_config(folder / "config.yaml", "plan.xlsx", name="evi", cutover_managers=["mia"])


def transition(server: AirflowServer, *args: str, key: str = KEY) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSITION_")}
    env |= {
        "TRANSITION_CONFIG": server.env["TRANSITION_CONFIG"],
        "TRANSITION_CACHE_DIR": server.env.get("TRANSITION_CACHE_DIR", ""),
        "TRANSITION_API_URL": server.base_url,
        "TRANSITION_API_USER": "mia",
        "TRANSITION_API_PASSWORD": server.passwords["mia"],
        "TRANSITION_EVIDENCE_KEY": key,
    }
    return subprocess.run([TRANSITION, *args], capture_output=True, text=True, timeout=300, env=env)


def plan_of_record(
    server: AirflowServer, run_id: str, key: str = "recorded", timeout: float = 120
) -> dict:
    """The run's plan of record, once ``key`` says so (the record written; the change seen: the
    api-server re-reads the plan every few seconds)."""
    with server.client("carol") as carol:
        deadline = time.monotonic() + timeout
        while True:
            answer = carol.get(f"/transition/api/dags/{DAG}/runs/{run_id}/plan-of-record")
            assert answer.status_code == 200, answer.text
            found = answer.json()
            if found["recorded"] and (key == "recorded" or (found["changes"] or {}).get(key)):
                return found
            if time.monotonic() > deadline:
                return answer.json()
            time.sleep(1)


def rezipped(pack: Path, out: Path, change) -> Path:
    with zipfile.ZipFile(pack) as z:
        files = {name: z.read(name) for name in z.namelist()}
    change(files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    out.write_bytes(buffer.getvalue())
    return out


def play_the_run(server: AirflowServer, run_id: str) -> None:
    """Answers, a transfer, a defect resolved, a gate's Go and a forced close."""
    plugin = f"/transition/api/dags/{DAG}/runs/{run_id}"
    assert server.answer_when_asked("alice", DAG, run_id, "A", "Start").status_code == 200
    closed = server.answer_when_asked("alice", DAG, run_id, "A", "Close", {"comment": "Stopped"})
    assert closed.status_code == 200, closed.text
    server.wait_until_asked(DAG, run_id, "B")
    with server.client("bob") as bob, server.client("frank") as frank:
        moved = bob.post(f"{plugin}/steps/B/transfer", json={"to": "frank", "message": "On leave"})
        assert moved.status_code == 200, moved.text
        defect = frank.post(
            f"{plugin}/steps/B/defects", json={"title": "Backup slow", "severity": "major"}
        )
        assert defect.status_code == 201, defect.text
        number = defect.json()["defect"]["id"]
        resolved = frank.post(f"{plugin}/defects/{number}/resolve", json={})
        assert resolved.status_code == 200, resolved.text
    assert server.answer_when_asked("frank", DAG, run_id, "B", "Start").status_code == 200
    assert server.answer_when_asked("frank", DAG, run_id, "B", "Close").status_code == 200
    server.wait_until_asked(DAG, run_id, "G")
    with server.client("mia") as mia:  # F closed before its turn: a forced close, with its reason
        forced = mia.patch(
            f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/F",
            json={"new_state": "success", "note": "Switched by the vendor"},
        )
        assert forced.status_code == 200, forced.text
    go = server.answer_when_asked("carol", DAG, run_id, "G", "Go", {"comment": "all green"})
    assert go.status_code == 200, go.text
    server.wait_for_state(DAG, run_id, "F", "success")


def check_journal(entries: list[dict]) -> None:
    """The journal, as the api-server wrote it while the run ran: every act, signed, in order."""
    assert [e["n"] for e in entries] == list(range(1, len(entries) + 1))
    assert all(e["mac"] for e in entries)
    acts = [(e["kind"], e["step"], e["by"]) for e in entries]
    for act in (
        ("request", "A", None),
        ("answer", "A", "alice"),
        ("started", "A", None),
        ("closed", "A", None),
        ("transfer", "B", "bob"),
        ("defect", "B", "frank"),
        ("defect_resolved", "B", "frank"),
        ("answer", "B", "frank"),
        ("forced_close", "F", "mia"),
        ("note", "F", "mia"),
        ("decision", "G", "carol"),
        ("gate_decided", "G", None),
        ("ledger", "A", None),  # what the step marked in its sent-ledger: the e-mails, its start
    ):
        assert act in acts, (act, acts)
    a = [e for e in entries if e["step"] == "A" and e["kind"] in ("request", "answer")]
    assert [(e["kind"], e["fact"].get("options")) for e in a] == [
        ("request", ["Start", "Close"]),
        ("answer", ["Start"]),
        ("request", ["Start", "Close"]),  # asked again, to close
        ("answer", ["Close"]),
    ]
    assert a[-1]["fact"]["comment"] == "Stopped" and "alice" in a[0]["fact"]["assigned"]
    # The transfer comes before the new person's answer, the defect's resolution after the defect.
    assert acts.index(("transfer", "B", "bob")) < acts.index(("answer", "B", "frank"))
    assert acts.index(("defect", "B", "frank")) < acts.index(("defect_resolved", "B", "frank"))
    go = next(e for e in entries if e["kind"] == "decision")
    assert go["fact"]["options"] == ["Go"] and go["fact"]["comment"] == "all green"


def check_facts(facts: list[dict]) -> None:
    """What Airflow and the plugin held when the pack was made."""
    kinds = [f["kind"] for f in facts]
    for kind in ("run", "plan_of_record", "hitl", "transfer", "defect", "gate_decision"):
        assert kind in kinds, kinds
    assert "forced_close" in kinds, kinds
    answers = [f["fact"] for f in facts if f["kind"] == "hitl"]
    a = next(h for h in answers if h["task_instance"]["task_id"] == "A")
    assert a["chosen_options"] == ["Close"] and a["responded_by_user"]["id"] == "alice"
    defect = next(f["fact"] for f in facts if f["kind"] == "defect")
    assert (defect["created_by"], defect["resolved_by"]) == ("frank", "frank")
    gate = next(f["fact"] for f in facts if f["kind"] == "gate_decision")
    assert gate["step"] == "G" and gate["go"] == ["carol"]


def tamper(server: AirflowServer, run_id: str) -> None:
    """What an administrator with the database could do after the fact: A's answer made a Start,
    the defect's resolver made carol, F's note rewritten, the transfer's entry in the journal
    rewritten."""
    import sqlalchemy as sa

    statements = [
        "UPDATE hitl_detail SET chosen_options = CAST(:start AS json) WHERE ti_id = "
        "(SELECT id FROM task_instance WHERE dag_id = :dag AND run_id = :run AND task_id = 'A')",
        "UPDATE transition_defect SET resolved_by = 'carol' WHERE dag_id = :dag AND run_id = :run",
        "UPDATE task_instance_note SET content = 'Switched by us' WHERE ti_id = "
        "(SELECT id FROM task_instance WHERE dag_id = :dag AND run_id = :run AND task_id = 'F')",
        "UPDATE transition_journal SET line = replace(line, 'frank', 'mallory') "
        "WHERE dag_id = :dag AND run_id = :run AND kind = 'transfer'",
    ]
    with server.sql_connection() as connection:
        for statement in statements:
            done = connection.execute(
                sa.text(statement), {"dag": DAG, "run": run_id, "start": '["Start"]'}
            )
            assert done.rowcount == 1, statement
        connection.commit()


def test_plan_of_record_and_evidence_pack(tmp_path):
    write_plan(tmp_path)
    plan = load_plan(tmp_path / "config.yaml").plan
    server = AirflowServer(
        tmp_path / "airflow",
        tmp_path / "config.yaml",
        airflow_users(plan),
        extra_env={"TRANSITION_EVIDENCE_KEY": KEY},  # the api-server signs the journal's entries
    )
    with server:
        server.wait_for_dag(DAG)
        run_id = server.trigger(DAG)
        recorded = plan_of_record(server, run_id)
        assert recorded["recorded"], server.tail()
        record = recorded["record"]
        assert record["key"] == plan.source.key and record["workbook_sha256"] == (
            plan.source.workbook_sha256
        )
        assert record["config_sha256"] and record["format"] == 2 and record["dag_version_id"]
        assert recorded["changes"] == {"current_key": plan.source.key, "changed": False}
        play_the_run(server, run_id)

        # The workbook changes while the run runs: the record stays, and says what changed,
        # and since when (the DAG version Airflow made of the change); the files as they were.
        as_they_were = {n: (tmp_path / n).read_bytes() for n in ("plan.xlsx", "config.yaml")}
        write_plan(tmp_path, changed=True)
        server.reparse(DAG)
        changes = plan_of_record(server, run_id, "since_version")["changes"]
        assert changes["changed"] and changes["added"] == ["X"] and changes["removed"] == []
        assert changes["durations"] == [
            {"step": "A", "before_minutes": 60.0, "after_minutes": 120.0}
        ]
        assert changes["since_from"] == "dag_version", changes
        with server.client("carol") as carol:
            ended = carol.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}").json()["end_date"]
        since = dt.datetime.fromisoformat(changes["since"])
        assert changes["while_running"] == (
            ended is None or since < dt.datetime.fromisoformat(ended)
        )

        pack = tmp_path / "pack.zip"
        made = transition(server, "evidence", "--run", f"{DAG}/{run_id}", "--out", str(pack))
        assert made.returncode == 0, made.stderr + server.tail()
        checked = transition(server, "evidence", "verify", str(pack))
        assert checked.returncode == 0, checked.stderr
        assert f"{pack} holds: run {DAG}/{run_id}" in checked.stdout

        assert "journal entries as signed (each entry signed by the api-server)" in checked.stdout
        with zipfile.ZipFile(pack) as z:
            names = set(z.namelist())
            entries = [json.loads(line) for line in z.read("journal.jsonl").splitlines()]
            facts = [json.loads(line) for line in z.read("airflow_facts.jsonl").splitlines()]
            record_file = json.loads(z.read("plan_of_record.json"))
        assert {"manifest.json", "journal.jsonl", "recap.json", "results.xlsx"} <= names
        assert "review.html" in names
        assert record_file["plan"]["source"]["key"] == plan.source.key  # the plan as it was
        assert record_file["record"]["files"]["workbook"]["kept"]
        with zipfile.ZipFile(pack) as z:  # the files as they were; the recap and results say it
            assert {name: z.read(f"plan/{name}") for name in as_they_were} == as_they_were
            recap_record = json.loads(z.read("recap.json"))["plan_of_record"]
            results = openpyxl.load_workbook(io.BytesIO(z.read("results.xlsx")))
        assert recap_record["changes"]["added"] == ["X"] and recap_record["workbook"] == "plan.xlsx"
        run_sheet = {r[0]: r[1] for r in results["Run"].iter_rows(values_only=True)}
        assert run_sheet["Workbook SHA-256"] == plan.source.workbook_sha256
        assert "steps added: X" in run_sheet["Plan changed"]
        check_journal(entries)
        check_facts(facts)

        # What the database holds is what the journal says; then rows are changed behind it.
        against = transition(server, "evidence", "verify", str(pack), "--against-airflow")
        assert against.returncode == 0, against.stderr
        journal_url = (
            f"{server.base_url}/transition/api/dags/{DAG}/runs/{quote(run_id, safe='')}/journal"
        )
        assert httpx.get(journal_url, timeout=30).status_code == 401  # nobody logged in: no journal
        with server.client("bob") as bob:  # an owner of the plan reads it as written
            read = bob.get(journal_url.removeprefix(server.base_url))
        assert read.status_code == 200 and read.json()["signed"], read.text
        assert [json.loads(x) for x in read.json()["entries"]][: len(entries)] == entries
        tamper(server, run_id)
        against = transition(server, "evidence", "verify", str(pack), "--against-airflow")
        assert against.returncode == 2, against.stdout + against.stderr
        close = max(e["n"] for e in entries if e["kind"] == "answer" and e["step"] == "A")
        resolved = next(e["n"] for e in entries if e["kind"] == "defect_resolved")
        transfer = next(e["n"] for e in entries if e["kind"] == "transfer")
        note = next(e["n"] for e in entries if e["kind"] == "note" and e["step"] == "F")
        for said in (
            f"step A: Airflow holds the answer 'Start' by alice (Stopped); entry {close} says "
            "'Close' by alice (Stopped)",
            f"defect 1: resolved by carol in the database, by frank in entry {resolved}",
            f"journal: entry {transfer} was changed in the database",
            f"step F: its note in the database is not the one of entry {note}",
        ):
            assert said in against.stderr, against.stderr

        # One byte changed, an entry removed, the wrong key: verify names each (exit 2).
        def one_byte(files: dict) -> None:
            files["recap.json"] = files["recap.json"].replace(b"Switch", b"Swatch", 1)

        bad = transition(
            server, "evidence", "verify", str(rezipped(pack, tmp_path / "b.zip", one_byte))
        )
        assert bad.returncode == 2 and "recap.json" in bad.stderr, bad.stderr

        def drop_third(files: dict) -> None:  # the journal's third entry
            lines = files["journal.jsonl"].splitlines(keepends=True)
            files["journal.jsonl"] = b"".join(lines[:2] + lines[3:])

        gone = transition(
            server, "evidence", "verify", str(rezipped(pack, tmp_path / "c.zip", drop_third))
        )
        assert gone.returncode == 2 and "journal.jsonl: entry 3 is missing" in gone.stderr
        wrong = transition(server, "evidence", "verify", str(pack), key="another key")
        assert wrong.returncode == 2 and "signature does not hold" in wrong.stderr
