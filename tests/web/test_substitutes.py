"""A substitute takes over what an absent person holds: which steps, and the two e-mails."""

from __future__ import annotations

from conftest import base_sheets, compile_sheets
from transition.notifications.notices import substitution_notices
from transition.web.substitutes import held_steps


def plan(tmp_path):
    result = compile_sheets(tmp_path, base_sheets(), cutover_managers=["dave"])
    assert result.plan is not None, result.problems
    return result.plan


def test_a_person_holds_what_they_own_and_what_was_last_handed_to_them(tmp_path):
    p = plan(tmp_path)
    transfers = [
        {"task_id": "CO-100", "to_user": "alice"},  # carol's, to alice
        {"task_id": "CO-110", "to_user": "bob"},  # alice's, to bob, then back to alice
        {"task_id": "CO-110", "to_user": "alice"},
        {"task_id": "PP-010", "to_user": "bob"},  # alice's, now bob's
    ]
    assert held_steps(p, "DR1", transfers, "alice") == ["CO-100", "CO-110"]
    assert held_steps(p, "DR1", transfers, "bob") == ["PP-010", "PP-020"]
    assert held_steps(p, "DR1", [], "carol") == ["CO-100"]
    assert held_steps(p, "DR1", [], "eve") == []


def test_the_substitute_and_the_absent_person_are_told_in_their_languages(tmp_path):
    p = plan(tmp_path)
    mails = dict(
        substitution_notices(
            p,
            "DR1",
            ["CO-100", "CO-110"],
            manager_id="dave",
            absent=p.actors["alice"],  # reads French
            substitute=p.actors["bob"],
            text="Alice <est> malade",
            dag_id="resa_dr1",
            run_id="r1",
            base_url="http://airflow.example",
        )
    )
    to_bob, to_alice = mails["substitute"], mails["absent"]
    assert (to_bob["To"], to_bob["Cc"]) == ("bob@example.com", "dave@example.com")
    assert to_bob["Subject"] == "[Transition-DR1] Substitute: Alice Martin → Bob Peeters"
    assert to_bob["X-Transition-Run"] == to_alice["X-Transition-Run"] == "resa_dr1/r1"
    text = to_bob.get_body(("plain",)).get_content()
    assert "Dave Lambert hands you the steps Alice Martin held in this dry run (2)." in text
    assert "CO-110 · Smoke test gateway" in text and "/tasks/CO-100/required_actions" in text
    assert "Open the step: http://airflow.example/transition/steps/resa_dr1/r1/CO-100" in text
    assert "Alice &lt;est&gt; malade" in to_bob.get_body(("html",)).get_content()
    assert to_alice["To"] == "alice@example.com"
    assert to_alice["Subject"] == "[Transition-DR1] Remplacement : Alice Martin → Bob Peeters"
