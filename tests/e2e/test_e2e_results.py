"""Dry-run results and the weekly report, on a real Airflow with a real SMTP server.

Two dry runs of a small plan run part way (steps closed, a transfer, a defect, a Late step, Overdue
steps); ``transition report`` then reads one of them through the REST API and writes the results
workbook, refusing a wrong run id and a wrong password in words; ``transition calibrate`` reads
both runs and writes the plan's workbook for the next dry run; and the weekly report DAG, run
once, e-mails the cutover manager one report per running dry run, with the workbook attached,
reading Airflow as the service user of the connection ``transition_api``.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import time
import zoneinfo
from pathlib import Path

import httpx
import openpyxl
import pytest

from airflow_server import AirflowServer
from conftest import write_config, write_xlsx
from smtp_server import SmtpServer
from transition.local.standalone import airflow_users
from transition.results.api_client import REPORT_USER, connection_json
from transition.store.plan_store import load_plan

pytestmark = pytest.mark.e2e
ZONE = zoneinfo.ZoneInfo("Europe/Brussels")
DR1, DR2, WEEKLY = "rep_dr1", "rep_dr2", "rep_weekly_report"
TRANSITION = shutil.which("transition", path=str(Path(sys.executable).parent))
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def write_plan(folder: Path) -> dt.date:
    """The plan; returns DR2's D-day (today when written: the test may cross midnight)."""
    today = dt.datetime.now(ZONE).date()
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": [
                ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Start", "Duration", "Owner"],
                # Planned the day before D-day: in both runs every planned start has passed.
                ["A", "Stop the market gateway", "AC", "ALL", "", "D-1 08:00", "1h", "alice"],
                ["B", "Back up the databases", "AC", "ALL", "A", "", "0.5m", "bob"],
                ["C", "Switch the gateway", "CO", "ALL", "B", "", "30m", "carol"],
                ["D", "Hand over", "HO", "ALL", "C", "", "15m", "alice"],
            ],
            "Actors": [
                ["ID", "Name", "Email", "Team", "Team leader", "Department head"],
                ["alice", "Alice Martin", "alice@example.com", "Market", "carol", "dave"],
                ["bob", "Bob Peeters", "bob@example.com", "Infra", "carol", "dave"],
                ["carol", "Carol Dubois", "carol@example.com", "Market", "", "dave"],
                ["dave", "Dave Lambert", "dave@example.com", "Direction", "", ""],
                ["frank", "Frank Claes", "frank@example.com", "Infra", "carol", "dave"],
                ["mia", "Mia Renard", "mia@example.com", "Transition office", "", ""],
            ],
            "DryRuns": [["Name", "D-day"], ["DR1", today - dt.timedelta(days=7)], ["DR2", today]],
        },
    )
    write_config(folder / "config.yaml", "plan.xlsx", name="rep", cutover_managers=["mia"])
    return today


def wait_for_state(
    server: AirflowServer, dag_id: str, run_id: str, step: str, state: str, timeout: float = 180
) -> dict:
    with server.client("mia") as mia:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            recap = mia.get(f"/transition/api/dags/{dag_id}/runs/{run_id}/steps").json()
            if next(s for s in recap["steps"] if s["id"] == step)["state"] == state:
                return recap
            time.sleep(1)
    raise TimeoutError(f"{step} never became {state}")


def report(
    server: AirflowServer, *args: str, env: dict | None = None, command: str = "report"
) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRANSITION_API_")}
    clean["TRANSITION_CONFIG"] = server.env[
        "TRANSITION_CONFIG"
    ]  # the test plan's: its language (English)
    return subprocess.run(
        [TRANSITION, command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
    )


def wait_for_mail(smtp: SmtpServer, prefix: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in smtp.messages if str(m["Subject"]).startswith(prefix)]
        if found:
            return found[0]
        time.sleep(0.5)
    raise TimeoutError(
        f"no e-mail '{prefix}...'; received: {[m['Subject'] for m in smtp.messages]}"
    )


def test_results_workbook_and_weekly_report(tmp_path):
    d_day = write_plan(tmp_path)
    plan = load_plan(tmp_path / "config.yaml").plan
    smtp = SmtpServer().start()
    server = AirflowServer(
        tmp_path / "airflow",
        tmp_path / "config.yaml",
        {**airflow_users(plan), REPORT_USER: "viewer"},
        extra_env={"AIRFLOW_CONN_SMTP_DEFAULT": smtp.airflow_connection()},
    )
    # As `transition standalone` does: the weekly report reads Airflow as the service user.
    server.env["AIRFLOW_CONN_TRANSITION_API"] = connection_json(
        server.base_url, REPORT_USER, server.passwords[REPORT_USER]
    )
    try:
        with server:
            for dag_id in (DR1, DR2, WEEKLY):
                server.wait_for_dag(dag_id)
            run1, run2 = server.trigger(DR1), server.trigger(DR2)

            # DR1 (last week's D-day): A closed without a Start. DR2: A started and closed, B transferred,
            # given a defect and started by the new person, then left open past its half minute: Late.
            assert server.answer_when_asked("alice", DR1, run1, "A", "Close").status_code == 200
            assert server.answer_when_asked("alice", DR2, run2, "A", "Start").status_code == 200
            closed = server.answer_when_asked(
                "alice", DR2, run2, "A", "Close", params={"comment": "Gateway stopped"}
            )
            assert closed.status_code == 200, closed.text
            server.wait_until_asked(DR2, run2, "B")
            plugin = f"/transition/api/dags/{DR2}/runs/{run2}"
            with server.client("bob") as bob, server.client("frank") as frank:
                assert (
                    bob.post(
                        f"{plugin}/steps/B/transfer", json={"to": "frank", "message": "On leave"}
                    ).status_code
                    == 200
                )
                defect = frank.post(
                    f"{plugin}/steps/B/defects",
                    json={
                        "title": "Backup slower than planned",
                        "severity": "major",
                        "description": "40 min",
                    },
                )
                assert defect.status_code == 201, defect.text
            assert server.answer_when_asked("frank", DR2, run2, "B", "Start").status_code == 200
            wait_for_state(server, DR2, run2, "B", "Late")
            wait_for_state(server, DR1, run1, "A", "Terminated")

            # -- transition report ---------------------------------------------------------------
            out = tmp_path / "results.xlsx"
            done = report(
                server,
                "--run",
                f"{DR2}/{run2}",
                "--out",
                str(out),
                "--user",
                "mia",
                env={
                    "TRANSITION_API_URL": server.base_url,
                    "TRANSITION_API_PASSWORD": server.passwords["mia"],
                },
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout.startswith(
                f"Wrote {out}: dry run DR2, run {run2} (running); 4 steps (2 Overdue, 1 Late, "
                "1 Terminated), 1 defect; compared with 1 other dry run"
            )
            book = openpyxl.load_workbook(out)
            assert book.sheetnames == ["Steps", "Defects", "Comparison", "Run"]
            header = [c.value for c in book["Steps"][1]]
            rows = {
                r[0]: dict(zip(header, r))
                for r in book["Steps"].iter_rows(min_row=2, values_only=True)
            }
            assert {k: r["State"] for k, r in rows.items()} == {
                "A": "Terminated",
                "B": "Late",
                "C": "Overdue",
                "D": "Overdue",
            }
            a, b = rows["A"], rows["B"]
            assert (a["Started by"], a["Closed by"], a["Comment"]) == (
                "alice",
                "alice",
                "Gateway stopped",
            )
            now = dt.datetime.now(ZONE).replace(tzinfo=None)
            assert now - dt.timedelta(minutes=15) < a["Actual start"] <= a["Actual end"] < now
            assert a["Actual duration"] == a["Actual end"] - a["Actual start"]
            assert a["Planned duration"] == dt.timedelta(hours=1)
            yesterday = d_day - dt.timedelta(days=1)  # D-1, as the plan says
            assert a["Planned start"] == dt.datetime.combine(yesterday, dt.time(8, 0))
            assert (b["Started by"], b["Closed by"], b["Actual end"]) == ("frank", None, None)
            assert b["Transfers"] == "bob → frank: On leave"
            assert (
                b["Defects"] == "#1 major open: Backup slower than planned"
                and b["Open defects"] == 1
            )
            c_start = dt.datetime.combine(yesterday, dt.time(9, 0, 30))  # after A (1h), B (0.5m)
            assert rows["C"]["Owner"] == "carol" and rows["C"]["Planned start"] == c_start
            defects = list(book["Defects"].iter_rows(min_row=2, values_only=True))
            assert [d[:7] for d in defects] == [
                (1, "B", "Backup slower than planned", "major", "open", "40 min", "frank")
            ]
            comparison = book["Comparison"]
            assert [c.value for c in comparison[3]][:5] == [
                "Phase",
                "DR1 planned (h)",
                "DR1 actual (h)",
                "DR2 planned (h)",
                "DR2 actual (h)",
            ]
            table = {r[0]: r for r in comparison.iter_rows(min_row=4, max_row=6, values_only=True)}
            assert list(table) == ["AC", "CO", "HO"]
            assert (
                table["AC"][1] == table["AC"][3] == pytest.approx(60.5 / 60)
            )  # A 1 h + B half a minute, planned
            # DR1: A closed at once (B not started); DR2: from A's start until now (B is open).
            assert table["AC"][2] == 0 and 30 / 3600 < table["AC"][4] < 0.25
            assert table["CO"][2] is None and table["CO"][3] == 0.5
            assert (table["AC"][5], table["AC"][6]) == ("1/2", "1/2")
            compared = [
                r[:2] for r in comparison.iter_rows(min_row=10, max_row=11, values_only=True)
            ]
            assert compared == [("DR1", DR1), ("DR2", DR2)]
            import zipfile

            with zipfile.ZipFile(out) as archive:
                assert [n for n in archive.namelist() if n.startswith("xl/charts/")] == [
                    "xl/charts/chart1.xml"
                ]

            # -- transition calibrate: both runs, the next dry run's workbook -------------------
            # A: closed without a Start in DR1, started and closed within seconds in DR2; B started
            # and not closed in DR2, not reached in DR1; C and D did not run.
            measured = a["Actual duration"]
            assert measured < dt.timedelta(minutes=2)
            calibrated = report(
                server,
                "--run",
                f"{DR1}/{run1}",
                "--run",
                f"{DR2}/{run2}",
                "--out",
                str(tmp_path / "next.xlsx"),
                "--user",
                "mia",
                env={
                    "TRANSITION_API_URL": server.base_url,
                    "TRANSITION_API_PASSWORD": server.passwords["mia"],
                },
                command="calibrate",
            )
            assert calibrated.returncode == 0, calibrated.stderr
            assert calibrated.stdout.strip() == (
                f"Wrote {tmp_path / 'next.xlsx'} from plan.xlsx: 1 of 4 durations changed; "
                "calibrated: 1, kept without a measure: 1, did not run: 2, gates: 0. "
                "The plan in it is valid."
            )
            calibrated_book = openpyxl.load_workbook(tmp_path / "next.xlsx")
            assert calibrated_book.sheetnames == [
                *openpyxl.load_workbook(tmp_path / "plan.xlsx").sheetnames,
                "Calibration",
            ]
            durations = [
                r[6] for r in calibrated_book["Steps"].iter_rows(min_row=2, values_only=True)
            ]
            assert durations == ["5m", "0.5m", "30m", "15m"]  # A: its seconds, rounded up to 5 min
            sheet = calibrated_book["Calibration"]
            assert sheet["A4"].value == f"Runs: DR1 = {DR1}/{run1}; DR2 = {DR2}/{run2}"
            header = [c.value for c in sheet[7]]
            table = {
                r[0]: dict(zip(header, r)) for r in sheet.iter_rows(min_row=8, values_only=True)
            }
            assert list(table) == ["A", "B", "C", "D"]
            assert table["A"]["Measured in DR1"] == "closed without a Start"
            # Start → Close as the recap gives it (the results workbook's is to the second)
            assert abs(table["A"]["Measured in DR2"] - measured) < dt.timedelta(seconds=1)
            assert (table["A"]["Proposed duration"], table["A"]["Change (min)"]) == (
                dt.timedelta(minutes=5),
                -55,
            )
            assert (table["B"]["Measured in DR1"], table["B"]["Measured in DR2"]) == (
                "not reached",
                "not closed",
            )
            assert [table[k]["Status"] for k in "BCD"] == ["kept", "not run", "not run"]
            # The validator accepts the copy, as the next dry run will read it
            copy_config = tmp_path / "next.yaml"
            write_config(copy_config, "next.xlsx", name="rep", cutover_managers=["mia"])
            checked = report(server, str(copy_config), command="validate")
            assert checked.returncode == 0 and "is valid" in checked.stdout, checked.stderr
            assert load_plan(copy_config).plan.steps["A"].duration == dt.timedelta(minutes=5)

            # -- transition forecast: DR2's end as both runs let one expect it -----------------
            # A measured once (DR2; DR1 closed it without a Start), the others never: planned.
            forecast = report(
                server,
                "--dry-run",
                "DR2",
                "--run",
                f"{DR1}/{run1}",
                "--run",
                f"{DR2}/{run2}",
                "--simulations",
                "1000",
                "--seed",
                "1",
                "--url",
                server.base_url,
                "--user",
                "mia",
                f"--password={server.passwords['mia']}",
                command="forecast",
            )
            assert forecast.returncode == 0, forecast.stderr
            said = forecast.stdout.splitlines()
            assert said[0] == (
                "Dry run DR2 of plan rep: 1000 draws; 1 of its 4 steps measured in 2 runs, the "
                "others take their planned Duration."
            )
            assert said[1].startswith("P50 ") and " · P95 " in said[1]
            assert said[2] == "  Most often on the critical path: A 100%, B 100%, C 100%, D 100%"

            # -- transition review: DR2's run in HTML and PDF; the api-server's page, in a browser -
            review_review(server, tmp_path, run2)

            # Wrong run, wrong DAG, wrong password: said in words, exit 2, no traceback, no file.
            # (--password=...: a generated password may begin with "-")
            base = [
                "--url",
                server.base_url,
                "--user",
                "mia",
                f"--password={server.passwords['mia']}",
            ]
            wrong_run = report(
                server, "--run", f"{DR2}/nope", "--out", str(tmp_path / "x.xlsx"), *base
            )
            assert wrong_run.returncode == 2
            assert (
                wrong_run.stderr.strip()
                == f"transition: no run 'nope' of DAG '{DR2}' (latest runs: {run2})"
            )
            wrong_dag = report(
                server, "--run", f"rep_dr9/{run2}", "--out", str(tmp_path / "x.xlsx"), *base
            )
            assert wrong_dag.returncode == 2
            assert (
                wrong_dag.stderr.strip()
                == f"transition: no DAG 'rep_dr9' in Airflow at {server.base_url}"
            )
            wrong_password = report(
                server,
                "--run",
                f"{DR2}/{run2}",
                "--out",
                str(tmp_path / "x.xlsx"),
                "--url",
                server.base_url,
                "--user",
                "mia",
                "--password",
                "wrong",
            )
            assert wrong_password.returncode == 2
            assert wrong_password.stderr.startswith(
                f"transition: Airflow at {server.base_url} refused user 'mia': "
                "wrong user name or password"
            )
            for failed in (wrong_run, wrong_dag, wrong_password):
                assert "Traceback" not in failed.stderr
            assert not (tmp_path / "x.xlsx").exists()

            # -- the weekly report, run once ------------------------------------------------------
            # It has not run by itself (its first run is the next cron time, not the latest past one).
            with server.client("admin") as admin:
                assert admin.get(f"/api/v2/dags/{WEEKLY}/dagRuns").json()["total_entries"] == 0
                next_run = admin.get(f"/api/v2/dags/{WEEKLY}").json()["next_dagrun_run_after"]
            assert dt.datetime.fromisoformat(next_run) > dt.datetime.now(dt.UTC), next_run
            weekly_run = server.trigger(WEEKLY)
            assert server.wait_for_run(WEEKLY, weekly_run, timeout=240) == "success", server.tail()
            mail = wait_for_mail(smtp, "[Transition-DR2] Weekly report ")
            assert mail["To"] == "mia@example.com" and mail["X-Transition-Run"] == f"{DR2}/{run2}"
            text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
            assert "Weekly report of dry run DR2 of plan rep." in text
            assert (
                "Steps closed:  1 of 4" in text
                and "Open defects:  1" in text
                and "Forecast end:  " in text
            ), text
            assert "- C · Switch the gateway — Carol Dubois (carol); planned start" in text
            assert "- D · Hand over — Alice Martin (alice); planned start" in text
            assert (
                "- B · Back up the databases — Bob Peeters (bob), transferred to Frank Claes; started"
                in text
            )
            assert "by Frank Claes" in text
            assert (
                "- #1 Backup slower than planned (step B, major), recorded by Frank Claes on"
                in text
            )
            assert (
                "compares it with DR1 phase by phase" in text
                and f"{server.base_url}/transition/recap" in text
            )
            (attachment,) = list(mail.iter_attachments())
            assert attachment.get_filename().startswith("rep-DR2-results-")
            attached = openpyxl.load_workbook(io.BytesIO(attachment.get_content()))
            assert attached.sheetnames == ["Steps", "Defects", "Comparison", "Run"]
            assert [r[0] for r in attached["Steps"].iter_rows(min_row=2, values_only=True)] == [
                "A",
                "B",
                "C",
                "D",
            ]
            assert [r[2] for r in attached["Defects"].iter_rows(min_row=2, values_only=True)] == [
                "Backup slower than planned"
            ]
            other = wait_for_mail(
                smtp, "[Transition-DR1] Weekly report "
            )  # one e-mail per running dry run
            assert "Steps closed:  1 of 4" in other.get_body(("plain",)).get_content()
            not_a_dry_run = report(
                server, "--run", f"{WEEKLY}/{weekly_run}", "--out", str(tmp_path / "x.xlsx"), *base
            )
            assert not_a_dry_run.returncode == 2, not_a_dry_run.stderr
            assert not_a_dry_run.stderr.startswith(
                f"transition: '{WEEKLY}' is not a dry run of the transition plan"
            )
            with server.client("admin") as admin:
                sent = admin.get(
                    f"/api/v2/dags/{WEEKLY}/dagRuns/{weekly_run}/taskInstances/send_weekly_report/xcomEntries/return_value"
                )
            assert sent.status_code == 200 and sorted(sent.json()["value"]) == sorted(
                [mail["Subject"], other["Subject"]]
            )
    finally:
        smtp.stop()


def review_review(server: AirflowServer, folder: Path, run2: str) -> None:
    """``transition review`` of DR2's run (HTML and PDF), then the same page from the api-server:
    to a cutover manager (and in Chromium: a screenshot), never without a login."""
    html, pdf = folder / "review.html", folder / "review.pdf"
    done = report(
        server,
        "--run",
        f"{DR2}/{run2}",
        "--out",
        str(html),
        "--pdf",
        str(pdf),
        "--url",
        server.base_url,
        "--user",
        "mia",
        f"--password={server.passwords['mia']}",
        command="review",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Wrote {html}, {pdf} ("), done.stdout
    assert done.stdout.rstrip().endswith(f"review of dry run DR2, run {run2} (running), 4 steps")
    page = html.read_text(encoding="utf-8")
    assert "Review · rep · Dry run DR2" in page and run2 in page
    for section in ("timeline", "s-curve", "variance", "records", "trend", "lessons"):
        assert f'<section id="{section}"' in page, section
    assert page.count("<svg") == 3 and "<script" not in page
    # B's defect and transfer, A's measure in the forecast, DR1 in the trend, Mia to sign
    assert "Backup slower than planned" in page and "On leave" in page
    assert "Frank Claes" in page and "Bob Peeters" in page
    assert "10000 draws with every gate Go; 0 of the 4 steps measured in 0 finished runs" in page
    assert '<th colspan="2">DR1</th>' in page and '<th colspan="2">DR2 *</th>' in page
    assert "<td>Cutover manager</td><td>Mia Renard</td>" in page
    assert pdf.read_bytes().startswith(b"%PDF")
    route = f"/transition/api/dags/{DR2}/runs/{run2}/review.html"
    with server.client("mia") as mia:
        served = mia.get(route)
    assert served.status_code == 200, served.text
    assert served.headers["content-type"].startswith("text/html")
    assert served.headers["content-security-policy"].startswith("default-src 'none'")
    assert "Backup slower than planned" in served.text and "<script" not in served.text
    assert httpx.get(f"{server.base_url}{route}").status_code in (401, 403)
    with server.client("mia") as mia:
        assert mia.get(route.replace(run2, "nope")).status_code == 404
    screenshot_review(server, route)


def screenshot_review(server: AirflowServer, route: str) -> None:
    """The page in Chromium as Mia sees it: it loads nothing else; tests/e2e/artifacts/review.png."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (make test installs it)"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.context.add_cookies(
                [{"name": "_token", "value": server.token("mia"), "url": server.base_url}]
            )
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            assert page.goto(f"{server.base_url}{route}").status == 200
            assert requests == [f"{server.base_url}{route}"]  # nothing else loaded
            assert page.locator("section").count() == 6
            assert page.locator("svg.timeline g.step").count() == 4
            assert page.locator("svg.s-curve polyline").count() == 2
            assert page.locator("svg.histogram rect.bin").count() == 30
            page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
        finally:
            browser.close()
