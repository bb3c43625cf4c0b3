"""The record of a step's accepted answers: one run instance's, since the last clear, in order."""

from __future__ import annotations

import datetime as dt
import json

from transition.runs.answers import (
    Answer,
    answers_key,
    answers_since,
    as_event,
    close_accepted,
    first_try_since_clear,
    responder_login,
    step_progress,
    with_answer,
)

RUN_AFTER = dt.datetime(2027, 1, 16, 20, 0, tzinfo=dt.UTC)


def answer(option: str, by: str, minute: int, attempt: int = 1, comment=None) -> Answer:
    return Answer(
        {
            "option": option,
            "by": by,
            "at": f"2027-01-16T21:{minute:02d}:00+00:00",
            "comment": comment,
            "try": attempt,
        }
    )


def test_answers_are_kept_in_order_for_their_run_instance():
    raw = with_answer(None, RUN_AFTER, answer("Start", "alice", 1))
    raw = with_answer(raw, RUN_AFTER, answer("Close", "alice", 5, comment="done"))
    assert json.loads(raw)["run_after"] == "2027-01-16T20:00:00+00:00"
    start, close = step_progress(answers_since(raw, RUN_AFTER, 1))
    assert (start["by"], start["at"]) == ("alice", "2027-01-16T21:01:00+00:00")
    assert (close["option"], close["comment"]) == ("Close", "done")
    # The same run id triggered again (after a delete) is another run instance: it inherits nothing.
    again = RUN_AFTER + dt.timedelta(hours=1)
    assert answers_since(raw, again, 1) == []
    assert json.loads(with_answer(raw, again, answer("Start", "bob", 9)))["answers"] == [
        answer("Start", "bob", 9)
    ]


def test_answers_before_a_clear_do_not_count():
    raw = with_answer(None, RUN_AFTER, answer("Start", "alice", 1, attempt=1))
    raw = with_answer(raw, RUN_AFTER, answer("Close", "alice", 2, attempt=2))
    raw = with_answer(raw, RUN_AFTER, answer("Start", "bob", 8, attempt=5))
    assert [a["by"] for a in answers_since(raw, RUN_AFTER, 1)] == ["alice", "alice", "bob"]
    assert answers_since(raw, RUN_AFTER, 3) == [answer("Start", "bob", 8, attempt=5)]
    assert step_progress(answers_since(raw, RUN_AFTER, 3)) == (
        answer("Start", "bob", 8, attempt=5),
        None,
    )


def test_a_damaged_record_gives_nothing_and_loses_nothing_new():
    for raw in ("", "not json", "[]", '{"run_after": 3}', '{"run_after": "x", "answers": 1}'):
        assert answers_since(raw, RUN_AFTER, 1) == []
        kept = json.loads(with_answer(raw, RUN_AFTER, answer("Close", "carol", 3)))
        assert kept["answers"] == [answer("Close", "carol", 3)]
    record = json.dumps(
        {"run_after": RUN_AFTER.isoformat(), "answers": [{"option": "Start"}, "x", None]}
    )
    assert answers_since(record, RUN_AFTER, 1) == []  # no try number: not this record's


def test_an_answer_is_replayed_as_the_event_airflow_resumes_a_task_with():
    event = as_event(answer("Close", "frank", 7, attempt=2, comment=12345))
    assert event == {
        "chosen_options": ["Close"],
        "params_input": {"comment": 12345},
        "responded_at": "2027-01-16T21:07:00+00:00",
        "responded_by_user": {"id": "frank", "name": "frank"},
        "timedout": False,
    }
    assert as_event(answer("Start", "frank", 7))["params_input"] == {}


def test_who_answered_is_the_login_with_either_auth_manager():
    assert responder_login({"id": "alice", "name": "alice"}) == "alice"  # Simple auth manager
    assert responder_login({"id": "7", "name": "alice"}) == "alice"  # FAB: the id is a number
    assert responder_login(None) is None


def test_long_ids_stay_within_airflows_key_column():
    key = answers_key("dag", "r" * 300, "S01")
    assert key.startswith("transition.answers/dag/") and len(key) == 250


def test_retries_belong_to_the_series_a_clear_starts():
    """Airflow's own reckoning: a retry leaves max_tries as it was, a clear sets it to the try
    number plus the task's retries."""
    assert first_try_since_clear(3, 3) == 1  # the run's first try: max_tries is the retries
    assert first_try_since_clear(2 + 3, 3) == 3  # a clear after try 2: the series starts at 3
    assert first_try_since_clear(4, 0) == 5  # no retries: every clear starts a series of one
    assert first_try_since_clear(3) == 1  # the steps' retries by default


def test_a_close_or_a_no_go_ends_a_step():
    assert close_accepted([answer("Start", "a", 1), answer("Close", "a", 2)])
    assert close_accepted([answer("No-go", "a", 1)])
    assert not close_accepted([answer("Start", "a", 1), answer("Go", "b", 2)], approvals=2)
    assert close_accepted([answer("Go", "a", 1), answer("Go", "b", 2)], approvals=2)
    assert not close_accepted([answer("Start", "a", 1)])
