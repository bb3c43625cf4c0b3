"""The records of a run (plugin tables in Airflow's metadata database), on SQLite and PostgreSQL:
defects on a step, on a step already closed, and on the run itself, and which of them block."""

from __future__ import annotations

from sqlalchemy.orm import Session
from test_records_schema import dag_runs, engine  # noqa: F401 - the engine fixture, both databases

from transition.runs import records


def defect(session: Session, task_id: str | None, title: str, **values) -> dict:
    return records.add_defect(
        session,
        dag_id="resa_dr1",
        run_id="manual__1",
        task_id=task_id,
        title=title,
        severity=values.pop("severity", "blocking"),
        description="",
        created_by=values.pop("created_by", "alice"),
        **values,
    )


def test_defects_on_a_step_after_its_close_and_on_the_run(engine):  # noqa: F811
    dag_runs(engine)
    with Session(engine) as session, session.begin():
        on_step = defect(session, "A", "Queue not empty")
        after = defect(session, "A", "Log lost", after_close=True)
        on_run = defect(session, None, "Network slow", created_by="mia")
        minor = defect(session, None, "Typo in the runbook", severity="minor")
        rows = records.defects_of_run(session, "resa_dr1", "manual__1")
        assert [(r["id"], r["task_id"], bool(r["after_close"])) for r in rows] == [
            (on_step["id"], "A", False),
            (after["id"], "A", True),
            (on_run["id"], None, False),
            (minor["id"], None, False),
        ]
        assert {r["run_key"] for r in rows} == {"41@20270116T075900.123456"}
        # A defect on the run blocks no step; one recorded after A's close blocks A again only
        # if A is cleared and asks again (the guard asks for A's open blocking defects).
        blocking = records.open_blocking_defects(session, "resa_dr1", "manual__1", "A")
        assert [d["id"] for d in blocking] == [on_step["id"], after["id"]]
        assert records.open_blocking_defects(session, "resa_dr1", "manual__1", "B") == []
        # Resolved once, by whoever; the second time says no.
        assert records.resolve_defect(session, on_run["id"], "mia")
        assert not records.resolve_defect(session, on_run["id"], "alice")
        resolved = records.defect(session, on_run["id"], "resa_dr1", "manual__1")
        assert resolved is not None
        assert (resolved["status"], resolved["resolved_by"]) == ("resolved", "mia")
        # Another run (or one that does not exist) holds none of them.
        assert records.defect(session, on_run["id"], "resa_dr1", "manual__2") is None
        assert records.defects_of_run(session, "resa_dr1", "manual__2") == []


def test_a_run_that_does_not_exist_has_no_key(engine):  # noqa: F811
    dag_runs(engine)
    with Session(engine) as session:
        assert records.run_key(session, "resa_dr1", "manual__1") == "41@20270116T075900.123456"
        assert records.run_key(session, "resa_dr1", "nope") is None


def test_the_records_of_a_run_read_at_once_are_those_read_one_kind_at_a_time(engine):  # noqa: F811
    dag_runs(engine)
    run = {"dag_id": "resa_dr1", "run_id": "manual__1"}
    with Session(engine) as session, session.begin():
        defect(session, "A", "Queue not empty")
        defect(session, None, "Network slow")
        records.add_transfer(session, **run, task_id="A", from_user="alice", to_user="bob")
        records.add_transfer(session, **run, task_id="B", from_user="carol", to_user="dan")
        records.add_forced_close(
            session, **run, task_id="B", forced_by="mia", reason="done by hand", why_forced=""
        )
        kept = records.records_of_run(session, "resa_dr1", "manual__1")
        assert kept.defects == records.defects_of_run(session, "resa_dr1", "manual__1")
        assert kept.transfers == records.transfers_of_run(session, "resa_dr1", "manual__1")
        assert kept.forced_closes == records.forced_closes_of_run(session, "resa_dr1", "manual__1")
        assert [len(rows) for rows in kept] == [2, 1, 2]
        assert [t["to_user"] for t in kept.transfers] == ["bob", "dan"]  # in the order recorded
        # Another run, or one that does not exist, has none of them.
        assert records.records_of_run(session, "resa_dr1", "manual__2") == ([], [], [])
        assert records.records_of_run(session, "resa_dr1", "nope") == ([], [], [])
