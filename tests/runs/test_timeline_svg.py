"""The recap's timeline drawn as SVG by the server (transition.runs.timeline_svg), read back as XML."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

from conftest import write_config
from transition.i18n import use_language
from transition.plan.forecast import planned_origin, reckon
from transition.plan.model import Plan
from transition.runs.timeline_svg import (
    HEAD,
    LABEL_WIDTH,
    PLOT_WIDTH,
    ROW,
    StepFilter,
    timeline_svg,
)
from transition.runs.views import RunView, StepView
from transition.store.plan_store import load_plan
from transition.workbook.sample import write_sample

SVG = "{http://www.w3.org/2000/svg}"
ZONE = zoneinfo.ZoneInfo("Europe/Brussels")
DAY = "2027-01-16"


def step(id_: str, state: str, **more: Any) -> StepView:
    view: dict[str, Any] = {
        "id": id_,
        "label": f"Label of {id_}",
        "phase": "AC",
        "state": state,
        "owner": "alice",
        "owner_name": "Alice Martin",
        "team": "Market",
        "responsible": ["alice"],
        "transferred_to": [],
        "planned_start": None,
        "planned_end": None,
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
        "link": f"http://x/{id_}",
        "kind": "step",
        "decision": None,
        "skipped_by": None,
        "automation": None,
    }
    view.update(more)
    return view  # type: ignore[return-value]


def at(hours: str) -> str:
    return f"{DAY}T{hours}:00+01:00"


def run_view(steps: list[StepView], **more: Any) -> RunView:
    view: dict[str, Any] = {
        "plan": "resa",
        "dry_run": "DR1",
        "dag_id": "resa_dr1",
        "run_id": "manual__1",
        "timezone": "Europe/Brussels",
        "now": at("12:00"),
        "states": [],
        "cutover_managers": [],
        "actors": {},
        "counts": {},
        "planned_end": at("11:30"),
        "critical_path": ["A", "B", "C"],
        "forecast_end": at("13:30"),
        "forecast_critical_path": ["B", "C"],
        "must_end_by": at("13:00"),
        "forecast_late": True,
        "counts_by_phase": {},
        "steps": steps,
        "gates_ahead": [],
    }
    view.update(more)
    return view  # type: ignore[return-value]


def four_steps() -> RunView:
    """A closed (late), an open, a gate not decided yet and a step without planned times."""
    return run_view(
        [
            step(
                "A",
                "Terminated",
                label="Stop the <market> gateway & queues",
                planned_start=at("08:00"),
                planned_end=at("09:00"),
                actual_start=at("08:05"),
                actual_end=at("09:35"),
                forecast_start=at("08:05"),
                forecast_end=at("09:35"),
            ),
            step(
                "B",
                "Late",
                owner="bob",
                team="Infra",
                responsible=["bob", "frank"],
                planned_start=at("09:00"),
                planned_end=at("11:00"),
                actual_start=at("09:40"),
                forecast_start=at("09:40"),
                forecast_end=at("12:30"),
            ),
            step(
                "C",
                "Overdue",
                kind="gate",
                planned_start=at("11:00"),
                planned_end=at("11:00"),
                forecast_start=at("12:30"),
                forecast_end=at("13:30"),
            ),
            step("D", "Planned", phase="HO"),
        ]
    )


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # a text that is not well-formed XML fails here


def groups(root: ET.Element, css: str = "step") -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if css in (g.get("class") or "").split()]


def caption(root: ET.Element, kind: str) -> str:
    (found,) = [t for t in root.iter(f"{SVG}text") if t.get("class") == f"{kind}-caption"]
    return found.text or ""


def labels(root: ET.Element) -> list[ET.Element]:
    return [t for t in root.iter(f"{SVG}text") if t.get("class") == "label"]


def test_one_group_per_step_with_its_bars_in_its_state_colour():
    root = parse(timeline_svg(four_steps()))
    rows = groups(root)
    assert [(g.get("data-step"), g.get("data-state")) for g in rows] == [
        ("A", "Terminated"),
        ("B", "Late"),
        ("C", "Overdue"),
        ("D", "Planned"),
    ]
    a, b, c, d = rows
    assert [r.get("class") for r in a.iter(f"{SVG}rect")] == ["planned", "actual"]
    assert a.find(f"{SVG}rect[@class='actual']").get("fill") == "#a9d18e"  # Terminated
    # B is open: what happened until now, then what the forecast expects, both in Late's colour.
    assert [r.get("class") for r in b.iter(f"{SVG}rect")] == ["planned", "actual", "forecast"]
    assert {r.get("fill") for r in b.iter(f"{SVG}rect") if r.get("class") != "planned"} == {
        "#ff7c80"
    }
    # The gate: diamonds (planned hollow, forecast in its state's colour), no bars.
    assert [p.get("class") for p in c.iter(f"{SVG}polygon")] == ["planned", "forecast"]
    assert not list(c.iter(f"{SVG}rect"))
    assert not list(d.iter(f"{SVG}rect")) and not list(d.iter(f"{SVG}polygon"))  # nothing known
    # The labels are in a column of their own (kept in view when the picture scrolls), in order.
    assert [(t.get("data-step"), t.text) for t in labels(root)] == [
        ("A", "A Stop the <market> gateway & queues"),
        ("B", "B Label of B"),
        ("C", "C Label of C"),
        ("D", "D Label of D"),
    ]
    assert [t.get("y") for t in labels(root)] == [str(HEAD + ROW * i + 14) for i in range(4)]
    # The page slices the picture by rows to print it: it reads their geometry here.
    assert (root.get("data-head"), root.get("data-row")) == (str(HEAD), str(ROW))
    # The page keeps these in view while the picture scrolls; drawn last, over the rows.
    assert [g.get("class") for g in root if g.tag == f"{SVG}g"][-3:] == ["labels", "head", "corner"]


def test_bars_start_and_end_at_their_times_and_the_lines_at_end_and_now():
    # Shown from an hour before the first moment (08:00) to an hour after the last (13:30).
    first = dt.datetime.fromisoformat(at("07:00"))
    hours = 7.5

    def x(hours_minutes: str) -> float:
        moment = dt.datetime.fromisoformat(at(hours_minutes))
        return LABEL_WIDTH + (moment - first).total_seconds() / 3600 / hours * PLOT_WIDTH

    root = parse(timeline_svg(four_steps()))
    a, b, *_ = groups(root)
    planned = a.find(f"{SVG}rect[@class='planned']")
    assert float(planned.get("x")) == pytest.approx(x("08:00"), abs=0.1)
    assert float(planned.get("width")) == pytest.approx(x("09:00") - x("08:00"), abs=0.1)
    actual = b.find(f"{SVG}rect[@class='actual']")
    forecast = b.find(f"{SVG}rect[@class='forecast']")
    assert float(actual.get("x")) == pytest.approx(x("09:40"), abs=0.1)
    assert float(actual.get("x")) + float(actual.get("width")) == pytest.approx(x("12:00"), abs=0.2)
    assert float(forecast.get("x")) == pytest.approx(x("12:00"), abs=0.1)
    assert float(forecast.get("x")) + float(forecast.get("width")) == pytest.approx(
        x("12:30"), abs=0.2
    )
    (end,) = groups(root, "end")
    (now,) = groups(root, "now")
    assert float(end.find(f"{SVG}line").get("x1")) == pytest.approx(x("13:00"), abs=0.1)
    assert float(now.find(f"{SVG}line").get("x1")) == pytest.approx(x("12:00"), abs=0.1)
    assert caption(root, "end") == "End 13:00" and caption(root, "now") == "now 12:00"
    # Another now (the page asks for the picture a little later) moves only the now line.
    later = parse(timeline_svg(four_steps(), now=dt.datetime.fromisoformat(at("12:30"))))
    (now,) = groups(later, "now")
    assert float(now.find(f"{SVG}line").get("x1")) == pytest.approx(x("12:30"), abs=0.1)


def test_the_critical_paths_are_marked_on_their_steps():
    root = parse(timeline_svg(four_steps()))
    forecast = [g.get("data-step") for g in groups(root, "critical")]
    planned = [g.get("data-step") for g in groups(root, "planned-critical")]
    assert forecast == ["B", "C"] and planned == ["A", "B", "C"]
    b = groups(root)[1]
    assert {r.get("stroke") for r in b.iter(f"{SVG}rect") if r.get("class") != "planned"} == {
        "#c00000"
    }
    a = groups(root)[0]
    assert a.find(f"{SVG}rect[@class='actual']").get("stroke") != "#c00000"
    assert [t.get("data-step") for t in labels(root) if t.get("fill") == "#c00000"] == ["B", "C"]


def test_text_from_the_workbook_is_escaped():
    hostile = "<script>alert('x')</script> & \"more\"\x01"
    view = four_steps()
    view["steps"][0]["label"] = hostile
    view["steps"][0]["id"] = "A<&"
    svg = timeline_svg(view)
    assert "<script>" not in svg and "A<&" not in svg
    root = parse(svg)
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
    a = groups(root)[0]
    assert a.get("data-step") == "A<&"
    assert a.find(f"{SVG}title").text.startswith("A<& <script>alert('x')</script> & \"more\"\ufffd")
    (label, *_) = labels(root)
    assert label.text == "A<& <script>alert('x')</script> & \"more\"\ufffd"
    view["steps"][0]["label"] += " and a tail beyond the column"
    (label, *_) = labels(parse(timeline_svg(view)))
    assert label.text == "A<& <script>alert('x')</script> & \"more\"\ufffd a…"  # cut
    assert label.find(f"{SVG}title").text.endswith("beyond the column")  # whole in its tooltip


def test_the_axis_counts_hours_on_a_short_run_and_days_on_a_long_one():
    root = parse(timeline_svg(four_steps()))
    hours = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "hour"]
    assert hours[0] == "07:00" and "12:00" in hours
    long = four_steps()
    long["steps"][3]["planned_start"] = "2027-01-26T08:00:00+01:00"
    long["steps"][3]["planned_end"] = "2027-01-26T09:00:00+01:00"
    root = parse(timeline_svg(long))
    assert not [t for t in root.iter(f"{SVG}text") if t.get("class") == "hour"]
    days = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "day"]
    assert days[0] == "01-17" and days[-1] == "01-26"
    # Zoomed in eight times, the same run has hour ticks again, on a wider picture.
    zoomed = parse(timeline_svg(long, zoom=8))
    assert [t for t in zoomed.iter(f"{SVG}text") if t.get("class") == "hour"]
    assert [t.text for t in zoomed.iter(f"{SVG}text") if t.get("class") == "day"][0] == "2027-01-17"
    assert float(zoomed.get("width")) - float(root.get("width")) == 7 * PLOT_WIDTH


def test_ticks_follow_the_wall_clock_across_a_change_to_summer_time():
    view = four_steps()
    for s in view["steps"]:  # 2027-03-28: 02:00 becomes 03:00 in Brussels
        for key in ("planned_start", "planned_end", "actual_start", "actual_end"):
            if s[key]:  # type: ignore[literal-required]
                s[key] = s[key].replace(DAY, "2027-03-27")  # type: ignore[literal-required]
        s["forecast_start"] = s["forecast_end"] = None
    view["now"] = "2027-03-28T06:00:00+02:00"
    view["must_end_by"] = None
    root = parse(timeline_svg(view, zoom=2))
    hours = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "hour"]
    night = hours[hours.index("00:00", 1) :][:4]
    assert night == ["00:00", "01:00", "03:00", "04:00"]
    assert not groups(root, "end")  # no End in this view: no line


def test_the_filters_are_the_tables():
    view = four_steps()
    shown = {
        StepFilter(): ["A", "B", "C", "D"],
        StepFilter(state="Late"): ["B"],
        StepFilter(team="Infra"): ["B"],
        StepFilter(owner="alice"): ["A", "C", "D"],
        StepFilter(phase="HO"): ["D"],
        StepFilter(responsible="frank"): ["B"],
        StepFilter(state="Late", owner="alice"): [],
    }
    for only, expected in shown.items():
        root = parse(timeline_svg(view, only=only))
        assert [g.get("data-step") for g in groups(root)] == expected, only
    root = parse(timeline_svg(view, only=StepFilter(state="Skipped")))
    assert float(root.get("height")) == HEAD + ROW + 8


def test_a_zoom_out_of_its_limits_is_refused_with_the_limits():
    with pytest.raises(ValueError, match=r"zoom 100 is outside 0.25 to 16"):
        timeline_svg(four_steps(), zoom=100)


def test_in_french():
    with use_language("fr"):
        root = parse(timeline_svg(four_steps()))
    assert caption(root, "now") == "maintenant 12:00"
    assert [t.text for t in root.iter(f"{SVG}text") if t.text in ("prévu", "estimé")] == [
        "prévu",
        "estimé",
    ]


def view_of_plan(plan: Plan, dry_run: str, now: dt.datetime) -> RunView:
    """A run view of a run that has not started (what run_view gives with no task done)."""
    schedule = plan.schedules[dry_run]
    planned = reckon(schedule, plan.steps, planned_origin(schedule))
    forecast = reckon(schedule, plan.steps, now)

    def local(moment: dt.datetime | None) -> str | None:
        return moment.astimezone(ZONE).isoformat() if moment else None

    steps = [
        step(
            step_id,
            "Planned",
            label=plan.steps[step_id].label,
            phase=plan.steps[step_id].phase,
            kind=plan.steps[step_id].kind,
            planned_start=local(scheduled.planned_start),
            planned_end=local(scheduled.planned_end),
            forecast_start=local(forecast.starts[step_id]),
            forecast_end=local(forecast.ends[step_id]),
        )
        for step_id, scheduled in schedule.steps.items()
    ]
    return run_view(
        steps,
        now=local(now),
        critical_path=planned.critical_path,
        forecast_critical_path=forecast.critical_path,
        must_end_by=local(schedule.dry_run.end),
    )


def test_the_500_step_sample_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRANSITION_CACHE_DIR", str(tmp_path / "cache"))
    write_sample(tmp_path / "plan.xlsx", 500)
    plan = load_plan(write_config(tmp_path / "config.yaml", "plan.xlsx")).plan
    view = view_of_plan(plan, "DR1", dt.datetime(2027, 1, 30, 9, 0, tzinfo=ZONE))
    root = parse(timeline_svg(view))
    rows = groups(root)
    assert [g.get("data-step") for g in rows] == list(plan.schedules["DR1"].steps)
    assert len(rows) > 400
    critical = [g.get("data-step") for g in groups(root, "critical")]
    assert critical == [
        s for s in plan.schedules["DR1"].steps if s in view["forecast_critical_path"]
    ]
    gates = [g.get("data-step") for g in groups(root, "gate")]
    assert gates == [s for s in plan.schedules["DR1"].steps if plan.steps[s].kind == "gate"]
    assert float(root.get("height")) == HEAD + ROW * len(rows) + 8


def test_automated_steps_are_marked_and_say_who_closed_them():
    """An automated step's label is in italics and says it runs by itself; its bar says it was
    closed by the automation, or who took over; a person's step is as before."""
    automation = {"runs": 2, "ok": False, "said": "", "value": None, "expect": "", "log": ""}
    view = run_view(
        [
            step(
                "A",
                "Terminated",
                kind="auto",
                closed_by="automation",
                actual_start=at("08:00"),
                actual_end=at("08:02"),
            ),
            step(
                "B",
                "Terminated",
                kind="check",
                closed_by="bob",
                actual_start=at("08:02"),
                actual_end=at("08:30"),
                automation={
                    **automation,
                    "verdict": "failed",
                    "taken_over": "Accept",
                    "taken_over_by": "Bob Peeters",
                },
            ),
            step(
                "C",
                "Terminated",
                closed_by="alice",
                actual_start=at("08:30"),
                actual_end=at("09:00"),
            ),
        ]
    )
    root = parse(timeline_svg(view))
    automated = [g.get("data-step") for g in groups(root, "automated")]
    assert automated == ["A", "B"]
    tips = {
        g.get("data-step"): [
            t.text
            for r in g.iter(f"{SVG}rect")
            if r.get("class") == "actual"
            for t in r.iter(f"{SVG}title")
        ][0]
        for g in groups(root)
    }
    assert tips["A"].endswith(" · closed by the automation"), tips
    assert tips["B"].endswith(" · taken over by Bob Peeters"), tips
    assert " · " not in tips["C"]
    styles = {t.get("data-step"): t.get("font-style") for t in labels(root)}
    assert styles == {"A": "italic", "B": "italic", "C": None}
    (title,) = [t.findtext(f"{SVG}title") for t in labels(root) if t.get("data-step") == "A"]
    assert title == "A Label of A · runs by itself"
    legend = [t.text for t in root.iter(f"{SVG}text") if t.get("x") == "26"]
    assert "runs by itself" in legend
