"""A pack's journal against the database now (transition.results.evidence_against): nothing to say
when the rows say what the entries say; each row changed, added or removed after the fact named;
a journal entry rewritten or removed in the database named. On a real Airflow:
tests/e2e/test_e2e_evidence.py."""

from __future__ import annotations

import copy
from typing import Any

from transition.results.evidence_against import differences
from transition.results.evidence_facts import RunEvidence
from transition.runs import journal

ENTRIES: list[tuple[str, str | None, str | None, dict[str, Any]]] = [
    ("request", "A", None, {"try": 1, "options": ["Start", "Close"]}),
    ("answer", "A", "alice", {"try": 1, "options": ["Close"], "comment": "Stopped"}),
    ("transfer", "B", "bob", {"id": 3, "to": "frank", "message": ""}),
    ("defect", "B", "frank", {"id": 1, "title": "Slow", "severity": "major"}),
    ("defect_resolved", "B", "frank", {"id": 1}),
    ("request", "B", None, {"try": 1, "options": ["Start", "Close"]}),
    ("forced_close", "F", "mia", {"id": 1, "reason": "By the vendor"}),
    ("decision", "G", "carol", {"try": 1, "options": ["Go"], "comment": None}),
    ("note", "F", "mia", {"try": 1, "content": "Switched by the vendor"}),
]


def written() -> list[str]:
    found, previous = [], journal.GENESIS
    for number, (kind, step, by, fact) in enumerate(ENTRIES, 1):
        entry = journal.new_entry(number, previous, kind, fact, step, by)
        found.append(journal.entry_line(entry, b"key").decode())
        previous = journal.sha256(found[-1].encode())
    return found


LINES = written()


def lines() -> list[str]:
    return list(LINES)


def detail(step: str, options: list[str] | None, by: str | None, comment: Any = None) -> dict:
    return {
        "task_instance": {"task_id": step, "try_number": 1, "map_index": -1},
        "chosen_options": options,
        "responded_by_user": {"id": by, "name": by} if by else None,
        "responded_at": "2027-01-17T08:00:00+00:00" if options else None,
        "params_input": {"comment": comment} if comment else {},
    }


def live() -> RunEvidence:
    return RunEvidence(
        run={},
        recap={"steps": [{"id": "F", "forced_close": {"by": "mia", "reason": "By the vendor"}}]},
        plan_of_record={},
        task_instances=[
            {"task_id": "F", "try_number": 1, "map_index": -1, "note": "Switched by the vendor"},
            {"task_id": "G", "try_number": 1, "map_index": -1, "note": None},
        ],
        hitl=[
            detail("A", ["Close"], "alice", "Stopped"),
            detail("B", None, None),
            detail("G", ["Go"], "carol"),
        ],
        defects=[
            {"id": 1, "title": "Slow", "severity": "major", "created_by": "frank"}
            | {"resolved_by": "frank"}
        ],
        transfers=[{"id": 3, "from_user": "bob", "to_user": "frank"}],
        journal=lines(),
        signed=True,
    )


def test_the_database_says_what_the_journal_says() -> None:
    assert differences(lines(), live()) == []


def test_answers_changed_given_or_taken_away_in_the_database_are_named() -> None:
    now = live()
    now.hitl[0]["chosen_options"] = ["Start"]
    now.hitl[1].update(detail("B", ["Close"], "frank"))
    now.hitl[2]["chosen_options"] = None
    now.hitl[2]["responded_at"] = None
    assert differences(lines(), now) == [
        "step A: Airflow holds the answer 'Start' by alice (Stopped); entry 2 says 'Close' by "
        "alice (Stopped)",
        "step B: Airflow holds the answer 'Close' by frank, which the journal does not have",
        "step G: Airflow no longer holds the answer of entry 8",
    ]
    again = live()  # another try of A asks again: its answer is not the journal's first try's
    again.hitl[0]["task_instance"]["try_number"] = 2
    again.hitl[0].update(chosen_options=None, responded_at=None)
    assert differences(lines(), again) == []


def test_notes_changed_or_added_in_the_database_are_named() -> None:
    now = live()
    now.task_instances[0]["note"] = "Switched by us"
    now.task_instances[1]["note"] = "Go given on the phone"
    assert differences(lines(), now) == [
        "step F: its note in the database is not the one of entry 9",
        "step G: its note in the database is not in the journal",
    ]


def test_records_changed_added_or_removed_in_the_database_are_named() -> None:
    now = live()
    now.defects[0].update(resolved_by="carol", severity="minor")
    now.transfers[0]["to_user"] = "eve"
    now.transfers.append({"id": 4, "from_user": "x", "to_user": "y"})
    now.recap["steps"] = []
    assert differences(lines(), now) == [
        "defect 1: its severity is 'minor' in the database, 'major' in entry 4",
        "defect 1: resolved by carol in the database, by frank in entry 5",
        "transfer 3: its new holder is 'eve' in the database, 'frank' in entry 3",
        "transfer 4: in the database but not in the journal",
        "forced close F: in the journal (entry 7) but no longer in the database",
    ]


def test_the_journal_rewritten_or_cut_in_the_database_is_named() -> None:
    now = live()
    now.journal[2] = now.journal[2].replace("frank", "mallory")
    assert differences(lines(), now) == ["journal: entry 3 was changed in the database"]
    cut = copy.deepcopy(live())
    del cut.journal[5:]
    assert differences(lines(), cut) == ["journal: entry 6 is no longer in the database"]
