"""The phone pages' data (transition.runs.step_page): what a person may do on a step in each state,
what it waits for and who holds it, "My night"; and the links the messages carry. No Airflow.

The base plan's DR1: PP-010 (alice) ─► PP-020 (bob) ─► CO-100 (carol) ─► CO-110 (alice) ─► HO-010
(dave); carol leads alice's and bob's team, dave heads their department.
"""

from __future__ import annotations

import pytest
from test_run_view import BASE, RUN, at, half_way

from conftest import base_sheets, compile_sheets
from transition.notifications.addressing import my_night_link, step_page_link
from transition.runs.run_view import run_view
from transition.runs.step_page import answers, may_act, my_night, step_page


@pytest.fixture
def plan(tmp_path):
    result = compile_sheets(tmp_path, base_sheets())
    assert result.plan is not None, result.problems
    return result.plan


@pytest.fixture
def view(plan):
    # PP-010 closed, PP-020 Late (started by bob, handed to carol), CO-100 Overdue, the rest Locked
    return run_view(plan, "DR1", RUN, half_way(), BASE, at(16, 22, 30))


def steps(view) -> dict:
    return {s["id"]: s for s in view["steps"]}


def test_links_to_the_step_page_and_my_night():
    run = "manual__2027-01-14T07:00:00+00:00"
    assert step_page_link("https://a.example/airflow/", "resa_dr1", run, "CO-100") == (
        "https://a.example/airflow/transition/steps/resa_dr1/"
        "manual__2027-01-14T07%3A00%3A00%2B00%3A00/CO-100"
    )
    assert step_page_link("http://x", "d", "r", "S/1", action="Start") == (
        "http://x/transition/steps/d/r/S%2F1?do=start"
    )
    assert my_night_link("http://x/", "d", "r 1") == "http://x/transition/my-night/d/r%201"


def test_who_sees_buttons(view):
    late = steps(view)["PP-020"]  # bob's, handed to carol; alice's team leader carol, head dave
    assert may_act(late, "bob", manager=False) and may_act(late, "carol", manager=False)
    assert may_act(late, "dave", manager=False)
    assert not may_act(late, "alice", manager=False)  # a colleague, not its person
    assert may_act(late, "alice", manager=True)  # a cutover manager


def test_answers_follow_the_state_and_the_open_request(view):
    s = steps(view)
    late = s["PP-020"]  # started: Start is no longer offered (the guard would say 409)
    assert [a["option"] for a in answers(late, ["Start", "Close"], True)] == ["Close"]
    assert answers(late, ["Start", "Close"], False) == []  # not theirs: no buttons
    assert answers(late, None, True) == []  # no open request (being taken in)
    # Not ready yet (Overdue, Locked) nor closed: nothing to answer, whatever is offered.
    for step in ("CO-100", "CO-110", "PP-010"):
        assert answers(s[step], ["Start", "Close"], True) == []
    ready = {**s["CO-100"], "state": "Ready", "actual_start": None}
    assert [a["option"] for a in answers(ready, ["Start", "Close"], True)] == ["Start", "Close"]
    gate = answers({**ready, "kind": "gate"}, ["Go", "No-go"], True)
    assert [(a["option"], a["tone"]) for a in gate] == [("Go", "go"), ("No-go", "stop")]
    fallback = answers({**ready, "kind": "check"}, ["Retry", "Accept"], True)
    assert [(a["option"], a["comment_required"]) for a in fallback] == [
        ("Retry", False),
        ("Accept", True),
    ]


def test_the_step_page_says_what_it_waits_for_and_who_holds_it(plan, view):
    page = step_page(
        plan, "DR1", view, "CO-100", login="carol", manager=False, offered=None, do="start"
    )
    assert page["waits_for"] == [
        {"id": "PP-020", "label": "Export EAN register", "state": "Late", "holder": "Carol Dubois"}
    ]
    assert page["may_act"] and page["answers"] == [] and page["preselected"] is None
    assert not page["pending"] and not page["defect"]  # Overdue: no defect yet
    assert page["transfer"]  # handed over also before it is Ready
    assert page["environment"] == "PRD — Production" and page["phase_name"]
    first = step_page(plan, "DR1", view, "PP-010", login="alice", manager=False, offered=None)
    assert first["waits_for"] == [] and first["defect"] and not first["transfer"]  # closed


def test_do_start_preselects_only_what_is_offered(plan, view):
    ready = {**steps(view)["CO-100"], "state": "Ready"}
    ready_view = {**view, "steps": [ready if s["id"] == "CO-100" else s for s in view["steps"]]}

    def page(do, login="carol", offered=("Start", "Close")):
        return step_page(
            plan, "DR1", ready_view, "CO-100", login=login, manager=False, offered=offered, do=do
        )

    assert page("start")["preselected"] == "Start"
    assert page("START ")["preselected"] == "Start"
    assert page("go")["preselected"] is None  # not an option of this request
    assert page("start", login="bob")["preselected"] is None  # bob is not CO-100's
    assert page("start", login="bob")["answers"] == []
    assert page("start", offered=None)["pending"]  # Ready, the request not open yet


def test_my_night_lists_the_persons_steps_in_plan_order_next_first(plan, view):
    alice = my_night(plan, "DR1", view, "alice")
    assert [i["step"]["id"] for i in alice] == ["PP-010", "CO-110"]
    assert [i["next"] for i in alice] == [False, True]  # PP-010 is closed
    assert alice[1]["waits_for"][0]["id"] == "CO-100"
    carol = my_night(plan, "DR1", view, "carol")  # team leader of all, and PP-020 handed to her
    assert [i["step"]["id"] for i in carol if i["next"]] == ["PP-020"]
    assert my_night(plan, "DR1", view, "nobody") == []
