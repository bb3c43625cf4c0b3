"""A run's journal (transition.runs.journal), on SQLite and PostgreSQL: the plugin's records are
journaled in their own transaction (a rollback takes both), the entries chain and carry their MAC,
and writers at the same time on one run never fork the chain. The api-server's listener (requests,
answers, the steps' records): tests/e2e/test_e2e_evidence.py."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from test_records_schema import dag_runs, engine  # noqa: F401 - the engine fixture, both databases

from transition.errors import EvidenceInvalid
from transition.results.evidence import check_journal
from transition.runs import journal, records
from transition.runs.records_schema import journal as journal_table

KEY = b"the deployment's key"
RUN = ("resa_dr1", "manual__1", "41@20270116T075900.123456")


@pytest.fixture(autouse=True)
def signed():
    journal.set_key(KEY)
    yield
    journal.set_key(None)


def lines(engine: sa.Engine) -> list[str]:  # noqa: F811
    with engine.connect() as conn:
        return journal.lines_of_run(conn, RUN[2])


def holds(found: list[str], key: bytes | None = KEY) -> None:
    last = journal.sha256(found[-1].encode()) if found else journal.GENESIS
    check_journal("".join(f"{line}\n" for line in found).encode(), len(found), last, key)


def test_the_records_are_journaled_with_their_writes_in_order(engine):  # noqa: F811
    dag_runs(engine)
    values = {"dag_id": RUN[0], "run_id": RUN[1]}
    with Session(engine) as session, session.begin():
        records.add_transfer(session, **values, task_id="B", from_user="bob", to_user="frank")
        defect = records.add_defect(
            session, **values, task_id="B", title="Slow", severity="major", created_by="frank"
        )
        records.resolve_defect(session, defect["id"], "frank")
        records.add_forced_close(session, **values, task_id="F", forced_by="mia", reason="Done")
    with Session(engine) as session, session.begin():  # a rollback takes the entry with the write
        records.add_transfer(session, **values, task_id="C", from_user="bob", to_user="eve")
        session.rollback()
    found = lines(engine)
    entries = [json.loads(line) for line in found]
    assert [(e["n"], e["kind"], e["step"], e["by"]) for e in entries] == [
        (1, "transfer", "B", "bob"),
        (2, "defect", "B", "frank"),
        (3, "defect_resolved", "B", "frank"),
        (4, "forced_close", "F", "mia"),
    ]
    assert entries[0]["fact"] == {"id": 1, "to": "frank", "message": ""}
    assert entries[1]["fact"]["title"] == "Slow" and entries[3]["fact"]["reason"] == "Done"
    holds(found)
    with engine.connect() as conn:  # the stored hash is the line's, for the next entry to hold
        stored = conn.execute(sa.select(journal_table.c.line, journal_table.c.hash)).all()
    assert all(journal.sha256(line.encode()) == digest for line, digest in stored)


def test_a_mac_names_an_entry_rewritten_with_its_chain(engine):  # noqa: F811
    dag_runs(engine)
    with engine.begin() as conn:
        for step in "ABC":
            journal.append(conn, RUN, "answer", {"options": ["Close"]}, step=step, by="alice")
    found = lines(engine)
    # Whoever rewrites entry 2 and every hash after it, without the key, keeps the chain...
    rewritten, previous = [], journal.GENESIS
    for line in found:
        entry = json.loads(line) | {"prev": previous}
        if entry["n"] == 2:
            entry["by"] = "mallory"
        rewritten.append(journal.canonical(entry).decode())
        previous = journal.sha256(rewritten[-1].encode())
    holds(rewritten, key=None)
    with pytest.raises(EvidenceInvalid, match="entry 2 was changed .its MAC does not hold"):
        holds(rewritten)  # ...but not the MACs
    with pytest.raises(EvidenceInvalid, match="MAC does not hold"):
        holds(found, key=b"another key")


def test_writers_at_the_same_time_never_fork_the_chain(engine):  # noqa: F811
    dag_runs(engine)
    failures: list[BaseException] = []

    def write(who: str) -> None:
        try:
            for number in range(10):
                with engine.begin() as conn:
                    journal.append(conn, RUN, "started", {"number": number}, step=who)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(who,)) for who in ("A", "B", "C")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures and not any(t.is_alive() for t in threads)
    found = lines(engine)
    assert [json.loads(line)["n"] for line in found] == list(range(1, 31))
    holds(found)


def test_without_a_key_the_entries_are_unsigned(engine):  # noqa: F811
    dag_runs(engine)
    journal.set_key(None)
    with engine.begin() as conn:
        journal.append(conn, RUN, "request", {"options": ["Start", "Close"]}, step="A")
    (line,) = lines(engine)
    assert json.loads(line)["mac"] is None
    holds([line], key=None)
