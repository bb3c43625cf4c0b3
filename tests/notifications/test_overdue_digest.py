"""Steps found Overdue in one check: one e-mail per person, in their language, listing their steps."""

from __future__ import annotations

from conftest import base_sheets, compile_sheets
from transition.notifications.overdue_digest import (
    OverdueStep,
    digest_message,
    digest_recipients,
)

BASE = "http://airflow.example"


def plan_with_hostile_label(tmp_path):
    sheets = base_sheets()
    for row in sheets["Steps"][1:]:
        if row[0] == "CO-110":
            row[1] = "Smoke <script>x()</script> & test"
    result = compile_sheets(tmp_path, sheets, cutover_managers=["dave"])
    assert result.plan is not None, result.problems
    return result.plan


FOUND = [OverdueStep("CO-100", ("PP-020",)), OverdueStep("CO-110", ("CO-100",))]


def test_each_person_gets_the_steps_they_own_or_hold_back_and_the_managers_all(tmp_path):
    plan = plan_with_hostile_label(tmp_path)
    groups = {g.to: [s.step_id for s in g.steps] for g in digest_recipients(plan, FOUND)}
    assert groups == {
        ("carol@example.com",): ["CO-100", "CO-110"],  # owns CO-100, which holds CO-110 back
        ("bob@example.com",): ["CO-100"],  # PP-020 holds CO-100 back
        ("alice@example.com",): ["CO-110"],
        ("dave@example.com",): ["CO-100", "CO-110"],  # the cutover manager: every step
    }


def test_a_cutover_manager_who_owns_a_step_gets_one_e_mail(tmp_path):
    plan = plan_with_hostile_label(tmp_path)
    found = [OverdueStep("HO-010", ("CO-110",)), *FOUND]  # dave owns HO-010
    to = [g.to for g in digest_recipients(plan, found)]
    assert to.count(("dave@example.com",)) == 1


def test_the_e_mail_lists_each_step_in_the_readers_language(tmp_path):
    plan = plan_with_hostile_label(tmp_path)
    by_to = {g.to: g for g in digest_recipients(plan, FOUND)}
    carol = digest_message(
        plan, "DR1", by_to[("carol@example.com",)], dag_id="resa_dr1", run_id="r1", base_url=BASE
    )
    assert carol["Subject"] == "[Transition-DR1] 2 steps Overdue: CO-100, CO-110"
    assert carol["To"] == "carol@example.com" and carol["Cc"] is None
    text = carol.get_body(("plain",)).get_content()
    assert "CO-100 · Switch market gateway" in text
    assert "PP-020 · Export EAN register (Bob Peeters)" in text
    assert "CO-100 · Switch market gateway (Carol Dubois)" in text  # what holds CO-110
    assert f"Open the step: {BASE}/transition/steps/resa_dr1/r1/CO-110\n" in text
    assert f"{BASE}/dags/resa_dr1/runs/r1/tasks/CO-110/required_actions" in text
    html = carol.get_body(("html",)).get_content()
    assert "&lt;script&gt;" in html and "<script>" not in html
    alice = digest_message(  # alice reads French
        plan, "DR1", by_to[("alice@example.com",)], dag_id="resa_dr1", run_id="r1", base_url=BASE
    )
    assert alice["Subject"] == "[Transition-DR1] 1 étape au début dépassé : CO-110"
    assert "En attente de" in alice.get_body(("plain",)).get_content()


def test_a_long_list_is_cut_in_the_subject_not_in_the_e_mail(tmp_path):
    plan = plan_with_hostile_label(tmp_path)
    steps = [
        OverdueStep(s, ("PP-010",)) for s in ("PP-020", "CO-100", "CO-110", "HO-010", "PP-010")
    ]
    steps.append(OverdueStep("CO-100", ("PP-020",)))
    manager = next(g for g in digest_recipients(plan, steps) if g.to == ("dave@example.com",))
    message = digest_message(plan, "DR1", manager, dag_id="d", run_id="r", base_url=BASE)
    assert message["Subject"].endswith(": PP-020, CO-100, CO-110, HO-010, PP-010, …")
    assert message["X-Transition-Run"] == "d/r"  # for mail rules, and the tests' once-only check
    assert message.get_body(("plain",)).get_content().count("/required_actions?") == 6
    assert message.get_body(("plain",)).get_content().count("/transition/steps/d/r/") == 6
