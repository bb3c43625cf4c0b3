"""The review after a run (transition.results.review, review_charts, review_pdf): its figures from a
run made here (the REST client's form, no Airflow needed), the page's sections, escaping and
language, and the PDF printed by the real Chromium. ``transition review`` on a real Airflow, and the
api-server's review.html: tests/e2e/test_e2e_results.py."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

from conftest import compile_sheets, gate_sheets, write_config, write_xlsx
from transition.i18n import format_moment
from transition.results.confidence import confidence
from transition.results.data import phase_results, run_results_from_json
from transition.results.review import build_review, review_page, signed
from transition.results.review_charts import closed_curve, histogram
from transition.results.review_pdf import CHROMIUM, print_pdf

ZONE = zoneinfo.ZoneInfo("Europe/Brussels")
EVIL = "<script>alert(1)</script> & co"
NOW = dt.datetime(2027, 1, 16, 16, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def at(hour: int, minute: int = 0) -> str:
    return f"2027-01-16T{hour:02}:{minute:02}:00+01:00"


def view_step(id_: str, phase: str, state: str, planned: tuple[str, str], **more: Any) -> dict:
    """A step as the recap's JSON gives it (every StepView key)."""
    return {
        "id": id_,
        "label": more.pop("label", f"Step {id_}"),
        "phase": phase,
        "state": state,
        "owner": "alice",
        "owner_name": "Alice Martin",
        "team": "Market",
        "responsible": ["alice"],
        "transferred_to": [],
        "planned_start": planned[0],
        "planned_end": planned[1],
        "due": None,
        "actual_start": None,
        "actual_end": None,
        "forecast_start": None,
        "forecast_end": None,
        "started_by": None,
        "closed_by": None,
        "comment": "",
        "forced_close": None,
        "defects": [],
        "open_defects": 0,
        "link": "",
        "kind": "step",
        "decision": None,
        "skipped_by": None,
        "automation": None,
        **more,
    }


def run_view() -> dict:
    """A run of gate_sheets' DR1 that went Go: S 40 min late, F1 an hour longer than planned, F2
    forced closed, B1 skipped, J still open."""
    steps = [
        view_step(
            "S",
            "CO",
            "Terminated",
            (at(8), at(9)),
            actual_start=at(8, 10),
            actual_end=at(9, 40),
            label=EVIL,
        ),
        view_step(
            "G",
            "CO",
            "Terminated",
            (at(9), at(9, 30)),
            kind="gate",
            actual_end=at(9, 50),
            decision={
                "decision": "go",
                "by": "carol",
                "at": at(9, 50),
                "comment": EVIL,
                "go": ["carol"],
            },
        ),
        view_step(
            "F1",
            "CO",
            "Terminated",
            (at(9, 30), at(12, 30)),
            actual_start=at(10),
            actual_end=at(14),
            transferred_to=["bob"],
        ),
        view_step(
            "F2",
            "CO",
            "Terminated",
            (at(12, 30), at(13, 30)),
            actual_start=at(14),
            actual_end=at(14, 20),
            forced_close={
                "by": "carol",
                "at": at(14, 20),
                "reason": "done by phone",
                "state_before": "Open",
                "why": "",
            },
        ),
        view_step("B1", "FB-RB", "Skipped", (at(9, 30), at(10, 30)), skipped_by="G"),
        view_step("J", "DC", "Open", (at(13, 30), at(14, 30)), actual_start=at(14, 30)),
    ]
    return {
        "plan": "resa", "dry_run": "DR1", "dag_id": "resa_dr1", "run_id": "manual__1",
        "timezone": "Europe/Brussels", "now": at(16), "states": [],
        "cutover_managers": ["carol"],
        "actors": {"alice": "Alice Martin", "bob": "Bob Peeters", "carol": "Carol Dubois"},
        "counts": {"Terminated": 4, "Skipped": 1, "Open": 1},
        "planned_end": at(14, 30), "critical_path": [], "forecast_end": None,
        "forecast_critical_path": [], "must_end_by": "2027-01-19T18:00:00+01:00",
        "forecast_late": False, "counts_by_phase": {}, "steps": steps, "run_defects": [],
        "gates_ahead": [],
    }  # fmt: skip


RUN = {"state": "running", "start_date": "2027-01-16T07:05:00Z", "end_date": None}
DEFECTS = [
    {"id": 3, "task_id": "F1", "title": EVIL, "severity": "major", "status": "resolved",
     "created_by": "bob", "created_at": at(11), "resolved_by": "carol", "resolved_at": at(12)},
    {"id": 4, "task_id": None, "title": "Run-wide", "severity": "minor", "status": "open",
     "created_by": "alice", "created_at": at(15)},
]  # fmt: skip
TRANSFERS = [
    {"id": 1, "task_id": "F1", "from_user": "alice", "to_user": "bob", "message": "On leave",
     "created_at": at(9, 55)},
]  # fmt: skip


@pytest.fixture
def made(tmp_path):
    """The plan (French when asked), the run view and its results."""

    def make(language: str = "en") -> tuple[Any, dict, Any]:
        plan = compile_sheets(
            tmp_path, gate_sheets(), cutover_managers=["carol"], language=language
        ).plan
        assert plan is not None
        view = run_view()
        return plan, view, run_results_from_json(view, RUN, DEFECTS, TRANSFERS)

    return make


def test_the_figures(made):
    plan, _view, results = made()
    found = confidence(plan, "DR1", [results], draws=2000, seed=5)
    review = build_review(plan, results, [phase_results(results)], found, NOW)
    # S-curve: the planned ends of all six steps; the actual ends of the four closed, in order.
    assert [(p.at.hour, p.at.minute, p.closed) for p in review.actual_curve] == [
        (9, 40, 1), (9, 50, 2), (14, 0, 3), (14, 20, 4)
    ]  # fmt: skip
    assert [p.closed for p in review.planned_curve] == [1, 2, 3, 4, 5, 6]
    assert review.planned_curve[-1].at == dt.datetime.fromisoformat(at(14, 30))
    # Variance per phase: CO planned 08:00 to 13:30, actually 08:10 to 14:20.
    co = next(v for v in review.variances if v.phase == "CO")
    assert (co.name, co.steps, co.closed) == ("Cut over", 4, 4)
    assert co.planned == dt.timedelta(hours=5, minutes=30)
    assert co.actual == dt.timedelta(hours=6, minutes=10)
    assert co.variance == dt.timedelta(minutes=40) and co.end_slip == dt.timedelta(minutes=50)
    dc = next(v for v in review.variances if v.phase == "DC")
    assert dc.actual_end is None and dc.end_slip is None  # J is open
    # Slipped most: F1 (1h30), F2 (50m), G (20m), S (40m) by end; F1 (1 h), S (30 m) by duration.
    assert [(s.step.id, signed(s.end_slip)) for s in review.slipped] == [
        ("F1", "+1h30m"), ("F2", "+50m"), ("S", "+40m"), ("G", "+20m")
    ]  # fmt: skip
    assert [(s.step.id, signed(s.overrun)) for s in review.overran] == [
        ("F1", "+1h"), ("S", "+30m")
    ]  # fmt: skip
    assert [(d.gate, d.decision, d.by, d.go) for d in review.decisions] == [
        ("G", "go", "carol", ("carol",))
    ]
    assert [s.id for s in review.forced] == ["F2"]
    assert [(t.step, t.from_user, t.to_user) for t in review.transfers] == [("F1", "alice", "bob")]
    assert [d.id for d in review.defects] == [3, 4]
    # The histogram: every draw in one bar; the percentiles in order.
    forecast = review.forecast
    assert forecast is not None and forecast.draws == 2000
    assert sum(b.count for b in forecast.bins) == 2000 and len(forecast.bins) == 30
    assert [p for p, _at in forecast.percentiles] == [50, 80, 95]
    assert forecast.percentiles[0][1] <= forecast.percentiles[1][1] <= forecast.percentiles[2][1]
    # S, F1, F2 measured (G has no Start, J is open)
    assert forecast.measured == 3 and forecast.runs == 1 and forecast.chance == 1.0
    assert [g.gate for g in forecast.gates] == ["G"]
    assert [s.role for s in review.sign_off][:2] == [
        "Cutover manager",
        "Owner of phase CO Cut over",
    ]
    assert review.sign_off[0].name == "Carol Dubois"


def test_curve_and_histogram_helpers():
    moments = [dt.datetime(2027, 1, 1, h, tzinfo=dt.UTC) for h in (5, 3, 4)]
    assert [p.closed for p in closed_curve([*moments, None])] == [1, 2, 3]
    assert [p.at.hour for p in closed_curve(moments)] == [3, 4, 5]
    origin = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    bins = histogram(origin, [0.0, 10.0, 10.0, 100.0], bins=10)
    assert [b.count for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]  # 10 s: the second bar
    assert bins[0].start == origin and bins[-1].end == origin + dt.timedelta(seconds=100)
    assert sum(b.count for b in histogram(origin, [7.0] * 5)) == 5  # one value: no zero width
    assert histogram(origin, []) == ()


def sections(page: str) -> list[str]:
    return re.findall(r'<section id="([a-z-]+)"', page)


def test_the_page(made):
    plan, view, results = made()
    found = confidence(plan, "DR1", [results], draws=500, seed=1)
    page = review_page(plan, view, results, [phase_results(results)], found, NOW)
    assert sections(page) == ["timeline", "s-curve", "variance", "records", "trend", "lessons"]
    # Nothing from the workbook or from people runs: the label, the comment, the defect escaped.
    assert "<script>" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co") >= 3
    # No script, nothing loaded: the charts are inline SVG.
    assert not re.search(r"<script|src=|href=|@import|url\(", page)
    assert page.count("<svg") == 3 and 'class="timeline"' in page
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):
        ET.fromstring(svg)  # well-formed XML
    assert "Review · resa · Dry run DR1" in page and "manual__1" in page
    assert "Go</td>" in page and "Carol Dubois" in page and "done by phone" in page
    assert "Owner of phase CO Cut over" in page and "@page { size: A4" in page
    # The forecast's moments (the draws' are UTC) in the plan's time zone
    p50 = found.scenarios[0].simulation.end_at(50)
    assert p50.utcoffset() == dt.timedelta(0)
    assert f"<th>P50</th><td>{format_moment(p50.astimezone(ZONE))}</td>" in page


def test_in_french(made):
    plan, view, results = made("fr")
    page = review_page(plan, view, results, [phase_results(results)], None, NOW)
    assert '<html lang="fr">' in page
    for french in ("Chronologie", "Anomalies", "Transferts", "Fin prévue", "Fin réelle", "prévu"):
        assert french in page, french
    assert review_page(plan, view, results, [], None, NOW, language="en").count("Defects") == 1


def test_the_pdf(made, tmp_path):
    """Printed by the real Chromium (make test installs it): a PDF of at least one A4 page."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (make test installs it)"
    plan, view, results = made()
    html = tmp_path / "review.html"
    html.write_text(
        review_page(plan, view, results, [phase_results(results)], None, NOW), encoding="utf-8"
    )
    pages = print_pdf(html, tmp_path / "review.pdf")
    data = (tmp_path / "review.pdf").read_bytes()
    assert data.startswith(b"%PDF") and pages >= 1
    # A4 portrait: 595 x 842 points
    assert re.search(rb"/MediaBox\s*\[\s*0 0 59[45](\.\d+)? 84[12]", data)


def test_the_command_refuses_in_words(tmp_path):
    """Called the wrong way: exit 2, one line, before Airflow is asked (none runs here)."""
    command = shutil.which("transition", path=str(Path(sys.executable).parent))
    assert command
    write_xlsx(tmp_path / "plan.xlsx", gate_sheets())
    config = str(write_config(tmp_path / "config.yaml", "plan.xlsx"))

    def review(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [command, "review", config, "--user", "mia", "--password", "x", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    wrong = {
        ("--run", "resa_dr1/r", "--out", "review.pdf"): "the output must be an .html file",
        ("--run", "resa_dr1/r", "--out", "r.html", "--pdf", "r.png"): "the PDF must be a .pdf",
        ("--run", "resa_dr1", "--out", "r.html"): "give the run as DAG_ID/RUN_ID",
    }
    for args, said in wrong.items():
        done = review(*args)
        assert done.returncode == 2 and said in done.stderr, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    unreachable = review("--run", "resa_dr1/r", "--out", "r.html", "--url", "http://127.0.0.1:9")
    assert unreachable.returncode == 1 and "cannot reach Airflow" in unreachable.stderr
