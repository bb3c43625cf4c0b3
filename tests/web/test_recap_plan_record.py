"""The recap page's line on the plan of record, drawn by the page's own script (run in Node.js):
the workbook, its version (12 hex of its SHA-256) and when it was recorded; when the plan changed,
since when and what (steps added, removed, durations); in English and in French; the workbook's
text escaped. The data is the run view's (transition.runs.plan_of_record.record_view).

On a real Airflow (the run view's JSON after a change of the workbook): tests/e2e/test_e2e_evidence.py.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from starlette.requests import Request

from conftest import plan_before_and_after
from transition.runs.plan_of_record import kept_files, plan_changes, plan_record, record_view
from transition.runs.plan_of_record import when_changed as since_when
from transition.web import permissions, step_api

NODE = shutil.which("node")


def _node() -> str:
    """Node.js runs the page's script: missing, the test fails (it is on the machine and in CI)."""
    assert NODE is not None, "Node.js (node) is needed to run the recap page's script"
    return NODE


RUN_AFTER = dt.datetime(2027, 1, 14, 8, 0, tzinfo=dt.UTC)
ZONE = ZoneInfo("Europe/Brussels")


class _User:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_id(self) -> str:
        return self.name


def page(plan, monkeypatch, user: str = "bob") -> str:
    """The recap page as the api-server renders it for ``user`` (bob reads English, alice French)."""
    monkeypatch.setattr(permissions, "current_plan", lambda: plan)
    at_root = Request({"type": "http", "root_path": "/transition", "headers": []})
    return step_api.recap(at_root, _User(user)).body.decode()


def drawn(html: str, record: object) -> str:
    """What the page's planRecordHtml draws for the run view's ``plan_of_record``: the page's own
    words, fmt and when, and its script; text() escapes as the page's does."""
    words = re.search(r"^const T = (.*);  // the page's words", html, re.M)
    fmt = re.search(r"^const fmt = .*;$", html, re.M)
    when = re.search(r"^function when\(value\) .*$", html, re.M)
    script = re.search(r'<script id="plan-record-script">(.*?)</script>', html, re.S)
    assert words and fmt and when and script
    program = "\n".join(
        [
            f"const T = {words.group(1)};",
            fmt.group(0),
            when.group(0),
            'const text = (v) => String(v ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;")'
            '.replace(/>/g, "&gt;").replace(/"/g, "&quot;");',
            script.group(1),
            f"process.stdout.write(planRecordHtml({json.dumps(record)}));",
        ]
    )
    done = subprocess.run(
        [_node(), "-e", program], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def views(tmp_path: Path) -> tuple:
    """The plan now, and the run view's plan of record unchanged and changed (CO-110 30 -> 90 min,
    HO-010 removed, CO-120 added; DAG version 3 made at 11:00 Brussels time)."""
    before, after = plan_before_and_after(tmp_path, language="fr")
    files, _packed = kept_files(before)
    record = plan_record(before, "DR1", RUN_AFTER, RUN_AFTER, "0195-v1", files)
    same = record_view(record, plan_changes(record, before, "DR1"), ZONE)
    since = since_when(after, (RUN_AFTER + dt.timedelta(hours=2), 3), None)
    changed = record_view(record, {**plan_changes(record, after, "DR1"), **since}, ZONE)
    return after, same, changed


def test_the_line_names_the_workbook_its_version_and_when(views, monkeypatch):
    plan, same, _changed = views
    html = page(plan, monkeypatch)
    assert '<p class="muted" id="plan-record"></p>' in html
    line = drawn(html, same)
    version = same["workbook_sha256"][:12]
    assert f"Plan of record: plan.xlsx (version {version}), recorded 2027-01-14 09:00" in line
    assert f'title="workbook SHA-256 {same["workbook_sha256"]}; configuration SHA-256 ' in line
    assert "Airflow DAG version 0195-v1" in line and "changed" not in line
    assert drawn(html, None) == (
        "No plan of record for this run: its watch records it when the run starts."
    )


def test_a_plan_changed_while_the_run_ran_says_since_when_and_what(views, monkeypatch):
    plan, _same, changed = views
    line = drawn(page(plan, monkeypatch), changed)
    assert (
        '<br><strong class="plan-changed">The plan changed while the run ran (from DAG version 3, '
        "2027-01-14 11:00):</strong> steps added: CO-120 · steps removed: HO-010 · durations "
        "changed: CO-110 30 min → 90 min"
    ) in line
    after_end = {**changed, "changes": {**changed["changes"], "while_running": False}}
    assert "The plan changed after the run ended (from DAG version 3" in drawn(
        page(plan, monkeypatch), after_end
    )
    compiled = {
        **changed,
        "changes": {
            **changed["changes"],
            "since_from": "compiled_at",
            "added": [],
            "removed": [],
            "durations": [],
        },
    }
    assert (
        "(by 2027-01-14 11:00, when the plan now was compiled):</strong> no step of this dry run "
        "added, removed or of another duration"
    ) in drawn(page(plan, monkeypatch), compiled)


def test_in_french_and_escaped(views, monkeypatch):
    plan, _same, changed = views
    hostile = {**changed, "workbook": 'plan<img src=x onerror="alert(1)">.xlsx'}
    line = drawn(page(plan, monkeypatch, "alice"), hostile)
    assert "Plan de référence : plan&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.xlsx" in line
    assert "<img" not in line
    assert (
        "Le plan a changé pendant l'exécution (dès la version 3 du DAG, 2027-01-14 11:00) :"
        "</strong> étapes ajoutées : CO-120 · étapes retirées : HO-010 · durées modifiées : "
        "CO-110 30 min → 90 min"
    ) in line
