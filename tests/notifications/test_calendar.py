"""Calendar invitations (.ics), read back with a real iCalendar parser (the ``icalendar`` package).

Events per owner, UIDs, SEQUENCE, times in Europe/Brussels across both DST changes, the e-mails
(invitation, update, removed steps, cancellation) with their attachment, the calendar following
whoever holds a step now (a transfer, a substitute), and ``transition calendar``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import zoneinfo
from pathlib import Path

import icalendar
import pytest

from conftest import base_sheets, compile_sheets, write_config, write_xlsx
from transition.notifications import calendar_mail
from transition.notifications.calendar_ics import (
    calendar_bytes,
    event_uid,
    fingerprint,
    owner_events,
    run_events,
    run_key,
)
from transition.runs import step_holder
from transition.runs.step_holder import holders_of, run_holders_key

UTC = dt.UTC
BRUSSELS = zoneinfo.ZoneInfo("Europe/Brussels")
RUN_ID = "manual__2027-01-10T09:00:00+00:00"
TRANSITION = shutil.which("transition", path=str(Path(sys.executable).parent))


def compiled(folder: Path, sheets, **settings):
    for actor in sheets["Actors"][1:]:  # everyone reads English here (French: tests/test_i18n.py)
        actor[6:] = [""]
    result = compile_sheets(folder, sheets, cutover_managers=["dave"], **settings)
    assert result.plan is not None, result.problems
    return result.plan


def parse(data: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(data)


def events_of(calendar: icalendar.Calendar) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def utc(moment: dt.datetime) -> dt.datetime:
    """Compare instants: aware datetimes with the same tzinfo compare wall clocks, ignoring ``fold``."""
    return moment.astimezone(UTC)


def test_one_event_per_timed_step_of_the_owner(tmp_path):
    sheets = base_sheets()
    sheets["Steps"].append(
        ["PP-030", "Untimed check", "PP", "ALL", "", "", "30m", "alice", "", ""]
    )  # no start, no prerequisite
    plan = compiled(tmp_path, sheets)
    assert list(run_events(plan, "DR1")) == ["alice", "bob", "carol", "dave"]
    events = owner_events(
        plan, "DR1", "alice", run_id=RUN_ID, base_url="https://airflow.example.com/"
    )
    assert [e.step_id for e in events] == ["PP-010", "CO-110"]  # PP-030 has no planned time

    calendar = parse(calendar_bytes(plan, "alice", events, sequence=0))
    assert str(calendar["METHOD"]) == "REQUEST" and str(calendar["VERSION"]) == "2.0"
    by_uid = events_of(calendar)
    uid = f"PP-010.DR1.resa.{run_key(RUN_ID)}@transition"
    assert set(by_uid) == {uid, f"CO-110.DR1.resa.{run_key(RUN_ID)}@transition"}
    freeze = by_uid[uid]
    assert str(freeze["SUMMARY"]) == "[Transition-DR1] PP-010 - Freeze billing runs"
    assert freeze.start == dt.datetime(2027, 1, 14, 8, 0, tzinfo=BRUSSELS)
    assert freeze.end == dt.datetime(2027, 1, 14, 9, 0, tzinfo=BRUSSELS)
    assert freeze["DTSTART"].params["TZID"] == "Europe/Brussels"
    assert int(freeze["SEQUENCE"]) == 0 and str(freeze["STATUS"]) == "CONFIRMED"
    assert (
        str(freeze["ORGANIZER"]) == "mailto:dave@example.com"
        and freeze["ORGANIZER"].params["CN"] == "Dave Lambert"
    )
    attendee = freeze["ATTENDEE"]
    assert str(attendee) == "mailto:alice@example.com" and attendee.params["CN"] == "Alice Martin"
    assert attendee.params["RSVP"] == "FALSE"
    link = (
        "https://airflow.example.com/transition/steps/resa_dr1"
        "/manual__2027-01-10T09%3A00%3A00%2B00%3A00/PP-010"
    )
    airflow = (
        "https://airflow.example.com/dags/resa_dr1/runs/manual__2027-01-10T09%3A00%3A00%2B00%3A00"
        "/tasks/PP-010/required_actions?map_index=-1"
    )
    assert str(freeze["URL"]) == link  # the step's page; Airflow's Required Actions beside it
    description = str(freeze["DESCRIPTION"])
    assert "Stop the billing batch." in description and link in description
    assert airflow in description
    assert "Environment: ACC — Acceptance" in description
    smoke = by_uid[f"CO-110.DR1.resa.{run_key(RUN_ID)}@transition"]
    assert utc(smoke.start) == dt.datetime(
        2027, 1, 16, 21, 45, tzinfo=UTC
    )  # after CO-100 (22:00 + 45m)
    assert "Waits for: CO-100 · Switch market gateway" in str(smoke["DESCRIPTION"])
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/Brussels"]


def test_uids_without_a_run_and_per_dry_run(tmp_path):
    plan = compiled(tmp_path, base_sheets())
    dr1 = owner_events(plan, "DR1", "carol")
    live = owner_events(plan, "LIVE", "carol")
    assert [e.uid for e in dr1] == ["CO-100.DR1.resa@transition"]
    assert [e.uid for e in live] == ["CO-100.LIVE.resa@transition"]
    assert dr1[0].url is None and "Required Actions" not in dr1[0].description
    assert event_uid("resa", "DR1", "CO-100", "run-1") != event_uid(
        "resa", "DR1", "CO-100", "run-2"
    )


def test_spring_forward(tmp_path):
    """D-day on the last Sunday of March: clocks go from 02:00 to 03:00."""
    sheets = base_sheets()
    sheets["DryRuns"][1][1:3] = [dt.date(2027, 3, 28), dt.datetime(2027, 3, 29, 18, 0)]
    sheets["Steps"][3][5:7] = ["D+0 01:30", "2h"]  # CO-100: 01:30 CET + 2 h = 04:30 CEST
    plan = compiled(tmp_path, sheets)
    raw = calendar_bytes(plan, "carol", owner_events(plan, "DR1", "carol"))
    assert b"DTSTART;TZID=Europe/Brussels:20270328T013000" in raw
    assert b"DTEND;TZID=Europe/Brussels:20270328T043000" in raw
    event = events_of(parse(raw))["CO-100.DR1.resa@transition"]
    assert utc(event.start) == dt.datetime(2027, 3, 28, 0, 30, tzinfo=UTC)
    assert utc(event.end) == dt.datetime(2027, 3, 28, 2, 30, tzinfo=UTC)
    assert utc(event.end) - utc(event.start) == dt.timedelta(
        hours=2
    )  # elapsed (Python subtracts wall clocks in one zone)
    # CO-110 (alice) follows at 04:30 CEST for 30 minutes.
    smoke = events_of(parse(calendar_bytes(plan, "alice", owner_events(plan, "DR1", "alice"))))[
        "CO-110.DR1.resa@transition"
    ]
    assert (utc(smoke.start), utc(smoke.end)) == (
        dt.datetime(2027, 3, 28, 2, 30, tzinfo=UTC),
        dt.datetime(2027, 3, 28, 3, 0, tzinfo=UTC),
    )
    assert smoke.start.utcoffset() == dt.timedelta(hours=2)  # CEST
    timezone = parse(raw).timezones[0]
    assert timezone.tz_name == "Europe/Brussels"
    assert {c.name for c in timezone.subcomponents} == {"STANDARD", "DAYLIGHT"}


def test_fall_back_end_in_the_repeated_hour(tmp_path):
    """D-day on the last Sunday of October: 02:00-03:00 happens twice. An end in the second pass
    cannot be local time (iCalendar reads a repeated local time as its first pass): it is in UTC."""
    sheets = base_sheets()
    sheets["DryRuns"][1][1:3] = [dt.date(2027, 10, 31), dt.datetime(2027, 11, 1, 18, 0)]
    sheets["Steps"][3][5:7] = [
        "D+0 01:30",
        "2h",
    ]  # CO-100: 01:30 CEST + 2 h = 02:30 CET (second pass)
    sheets["Steps"][4][6] = "1h"  # CO-110 (alice): 02:30 CET to 03:30 CET
    plan = compiled(tmp_path, sheets)
    raw = calendar_bytes(plan, "carol", owner_events(plan, "DR1", "carol"))
    assert b"DTSTART;TZID=Europe/Brussels:20271031T013000" in raw
    assert b"DTEND:20271031T013000Z" in raw
    event = events_of(parse(raw))["CO-100.DR1.resa@transition"]
    assert utc(event.start) == dt.datetime(2027, 10, 30, 23, 30, tzinfo=UTC)
    assert utc(event.end) == dt.datetime(2027, 10, 31, 1, 30, tzinfo=UTC)
    assert utc(event.end) - utc(event.start) == dt.timedelta(hours=2)
    smoke = events_of(parse(calendar_bytes(plan, "alice", owner_events(plan, "DR1", "alice"))))[
        "CO-110.DR1.resa@transition"
    ]
    assert utc(smoke.start) == dt.datetime(
        2027, 10, 31, 1, 30, tzinfo=UTC
    )  # the second 02:30, in UTC
    assert utc(smoke.end) == dt.datetime(2027, 10, 31, 2, 30, tzinfo=UTC)  # 03:30 CET, local again
    assert smoke["DTEND"].params["TZID"] == "Europe/Brussels"


def test_a_start_in_the_first_pass_of_the_repeated_hour(tmp_path):
    sheets = base_sheets()
    sheets["DryRuns"][1][1:3] = [dt.date(2027, 10, 31), dt.datetime(2027, 11, 1, 18, 0)]
    sheets["Steps"][3][5:7] = ["D+0 02:30", "1h"]  # ambiguous: the first 02:30 (a warning), CEST
    plan = compiled(tmp_path, sheets)
    raw = calendar_bytes(plan, "carol", owner_events(plan, "DR1", "carol"))
    event = events_of(parse(raw))["CO-100.DR1.resa@transition"]
    assert b"DTSTART;TZID=Europe/Brussels:20271031T023000" in raw  # read as the first 02:30: right
    assert utc(event.start) == dt.datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    assert utc(event.end) == dt.datetime(2027, 10, 31, 1, 30, tzinfo=UTC)  # the second 02:30


def test_fingerprint_follows_what_the_calendar_says(tmp_path):
    plan = compiled(tmp_path, base_sheets())
    before = fingerprint(owner_events(plan, "DR1", "alice", run_id=RUN_ID))
    assert before == fingerprint(owner_events(plan, "DR1", "alice", run_id=RUN_ID))
    sheets = base_sheets()
    sheets["Steps"][1][1] = "Freeze all billing runs"
    assert (
        fingerprint(owner_events(compiled(tmp_path, sheets), "DR1", "alice", run_id=RUN_ID))
        != before
    )
    sheets = base_sheets()
    sheets["Steps"][1][5] = "D-2 09:00"
    assert (
        fingerprint(owner_events(compiled(tmp_path, sheets), "DR1", "alice", run_id=RUN_ID))
        != before
    )


# -- the e-mails ------------------------------------------------------------------------------


def attachment(message) -> tuple[str, icalendar.Calendar, str]:
    parts = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in message.iter_attachments()]
    part = parts[0]
    return part.get_param("method"), parse(part.get_payload(decode=True)), part.get_filename()


def test_invitation_message(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][1][1] = "Freeze <b>billing</b> & co"
    sheets["Steps"].append(["PP-030", "Untimed check", "PP", "ALL", "", "", "30m", "alice", "", ""])
    plan = compiled(tmp_path, sheets)
    events = owner_events(plan, "DR1", "alice", run_id=RUN_ID, base_url="http://af")
    message = calendar_mail.calendar_message(
        plan, "DR1", "alice", events, kind="invitation", run_id=RUN_ID, sequence=0
    )
    assert message["Subject"] == "[Transition-DR1] Calendar - Invitation"
    assert message["To"] == "alice@example.com" and message["Cc"] is None
    method, calendar, filename = attachment(message)
    assert (method, filename) == ("REQUEST", "resa_dr1_alice.ics")
    assert str(calendar["METHOD"]) == "REQUEST" and len(events_of(calendar)) == 2
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "Freeze &lt;b&gt;billing&lt;/b&gt; &amp; co" in html and "<b>billing</b>" not in html
    assert "Thu 14 Jan 2027 08:00 – 09:00  PP-010 · Freeze <b>billing</b> & co" in text
    assert "PP-030 · Untimed check" in text and "no planned time" in text


class FakeLedger:
    store: dict[str, dict] = {}

    def __init__(self, key: str) -> None:
        self.key = key

    @classmethod
    def of(cls, context):
        return cls("watch")

    def get(self, what, default=None):
        return self.store.setdefault(self.key, {}).get(what, default)

    def mark(self, what, value):
        import json

        self.store.setdefault(self.key, {})[what] = json.loads(json.dumps(value))  # as stored: JSON


class FakeTI:
    dag_id, run_id, task_id = "resa_dr1", RUN_ID, "_watch"


@pytest.fixture
def outbox(monkeypatch):
    sent, failures = [], []
    FakeLedger.store = {}
    state: dict = {"down": False, "holders": {}}

    def fake_send(message):
        if state["down"]:
            raise calendar_mail.MailError("ConnectionRefusedError: [Errno 111] Connection refused")
        sent.append(message)

    monkeypatch.setattr(calendar_mail, "send", fake_send)
    monkeypatch.setattr(calendar_mail, "SentLedger", FakeLedger)
    # the run's holders Variable, as the api-server writes it on a transfer (step_holder)
    monkeypatch.setattr(calendar_mail, "read_run_holders", lambda context: dict(state["holders"]))
    monkeypatch.setattr(
        calendar_mail,
        "task_recorder",
        lambda ti: lambda mail, to, error, channel=False: failures.append((mail, to)),
    )
    return sent, failures, state


def summary(messages):
    rows = []
    for m in messages:
        method, calendar, _ = attachment(m)
        rows.append(
            (
                m["To"],
                str(m["Subject"]).rsplit(" - ", 1)[1],
                method,
                sorted(str(e["UID"]).split(".")[0] for e in calendar.walk("VEVENT")),
                {int(e["SEQUENCE"]) for e in calendar.walk("VEVENT")},
            )
        )
    return rows


def test_invitations_then_updates_then_cancellation(tmp_path, outbox):
    sent, failures, smtp = outbox
    context = {"ti": FakeTI()}
    plan = compiled(tmp_path, base_sheets())
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 4
    assert summary(sent) == [
        ("alice@example.com", "Invitation", "REQUEST", ["CO-110", "PP-010"], {0}),
        ("bob@example.com", "Invitation", "REQUEST", ["PP-020"], {0}),
        ("carol@example.com", "Invitation", "REQUEST", ["CO-100"], {0}),
        ("dave@example.com", "Invitation", "REQUEST", ["HO-010"], {0}),
    ]
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 0  # nothing changed, nothing sent

    sent.clear()
    sheets = base_sheets()
    sheets["Steps"][1][5] = "D-2 09:00"  # alice's PP-010 an hour later: bob's PP-020 moves too
    sheets["Steps"][4][7] = "bob"  # CO-110 goes from alice to bob
    plan = compiled(tmp_path, sheets)
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 3
    assert summary(sent) == [
        ("alice@example.com", "Update", "REQUEST", ["PP-010"], {1}),
        ("alice@example.com", "Removed steps", "CANCEL", ["CO-110"], {1}),
        ("bob@example.com", "Update", "REQUEST", ["CO-110", "PP-020"], {1}),
    ]
    update = events_of(attachment(sent[0])[1])[f"PP-010.DR1.resa.{run_key(RUN_ID)}@transition"]
    assert update.start == dt.datetime(2027, 1, 14, 9, 0, tzinfo=BRUSSELS)
    removed = events_of(attachment(sent[1])[1])[f"CO-110.DR1.resa.{run_key(RUN_ID)}@transition"]
    assert str(removed["STATUS"]) == "CANCELLED"

    # E-mail fails: recorded once per owner, tried again on the next wakes, sent when it works.
    sent.clear()
    sheets["Steps"][3][1] = "Switch the market gateway"
    plan = compiled(tmp_path, sheets)
    smtp["down"] = True
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 0
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 0
    # carol's CO-100 and bob's CO-110 (its description says what it waits for) changed
    assert failures == [("calendar", "bob@example.com"), ("calendar", "carol@example.com")]
    smtp["down"] = False
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 2
    assert summary(sent) == [
        ("bob@example.com", "Update", "REQUEST", ["CO-110", "PP-020"], {2}),
        ("carol@example.com", "Update", "REQUEST", ["CO-100"], {2}),
    ]
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 0

    # The run is cancelled: every owner invited gets a cancellation of what they have.
    sent.clear()
    count, kept = calendar_mail.cancel_calendar(
        plan, "DR1", RUN_ID, FakeLedger.store["watch"]["calendar"]
    )
    assert count == 4
    assert summary(sent) == [
        ("alice@example.com", "Cancelled", "CANCEL", ["PP-010"], {3}),
        ("bob@example.com", "Cancelled", "CANCEL", ["CO-110", "PP-020"], {3}),
        ("carol@example.com", "Cancelled", "CANCEL", ["CO-100"], {3}),
        ("dave@example.com", "Cancelled", "CANCEL", ["HO-010"], {3}),
    ]
    assert "was cancelled" in sent[0].get_body(("plain",)).get_content()
    # Brought back to life (tasks cleared), the run invites everyone again, above the cancellation.
    FakeLedger.store["watch"]["calendar"] = kept
    sent.clear()
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 4
    assert summary(sent)[0] == ("alice@example.com", "Invitation", "REQUEST", ["PP-010"], {4})


def test_a_message_that_cannot_be_built_is_a_failure_not_a_delivery(tmp_path, outbox, monkeypatch):
    """One owner's e-mail failing to build (as a line break in a header did) is recorded as failed for that
    owner, never as delivered, and the other owners still get theirs; it is built again at the next wake."""
    sent, failures, _smtp = outbox
    plan = compiled(tmp_path, base_sheets())
    build = calendar_mail.calendar_message

    def carol_fails(plan, dry_run, owner, *args, **kwargs):
        if owner == "carol":
            raise ValueError("Header values may not contain linefeed or carriage return characters")
        return build(plan, dry_run, owner, *args, **kwargs)

    monkeypatch.setattr(calendar_mail, "calendar_message", carol_fails)
    assert calendar_mail.sync_calendar(plan, "DR1", {"ti": FakeTI()}) == 3
    assert [m["To"] for m in sent] == ["alice@example.com", "bob@example.com", "dave@example.com"]
    assert failures == [("calendar", "carol@example.com")]
    state = FakeLedger.store["watch"]["calendar"]
    assert "carol" not in state["owners"] and "carol" in state["failed"]
    monkeypatch.setattr(calendar_mail, "calendar_message", build)
    sent.clear()
    assert calendar_mail.sync_calendar(plan, "DR1", {"ti": FakeTI()}) == 1
    assert summary(sent) == [("carol@example.com", "Invitation", "REQUEST", ["CO-100"], {0})]


def test_hooks_never_raise(tmp_path, outbox, monkeypatch):
    plan = compiled(tmp_path, base_sheets())
    monkeypatch.setattr(calendar_mail, "run_events", lambda *a, **k: 1 / 0)
    calendar_mail.announce_calendar(plan, "DR1", {"ti": FakeTI()})
    calendar_mail.update_calendar(plan, "DR1", {"ti": FakeTI()})


# -- the calendar follows the holder --------------------------------------------------------


def test_a_substitute_gets_the_absent_persons_events_and_they_get_them_removed(tmp_path, outbox):
    """alice is away: a cutover manager hands her steps to bob. At the next sync bob's calendar gets
    her events (same UIDs, bob as the attendee, her untimed step in his list) and alice's loses them;
    once each. A step handed back goes back."""
    sent, _failures, state = outbox
    context = {"ti": FakeTI()}
    sheets = base_sheets()
    sheets["Steps"].append(["PP-030", "Untimed check", "PP", "ALL", "", "", "30m", "alice", "", ""])
    plan = compiled(tmp_path, sheets)
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 4
    sent.clear()

    state["holders"] = {"PP-010": "bob", "CO-110": "bob", "PP-030": "bob"}
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 2
    assert summary(sent) == [
        ("bob@example.com", "Update", "REQUEST", ["CO-110", "PP-010", "PP-020"], {1}),
        ("alice@example.com", "Removed steps", "CANCEL", ["CO-110", "PP-010"], {1}),
    ]
    by_to = {m["To"]: m for m in sent}
    _method, calendar, filename = attachment(by_to["bob@example.com"])
    assert filename == "resa_dr1_bob.ics"
    uids = {f"{s}.DR1.resa.{run_key(RUN_ID)}@transition" for s in ("PP-010", "CO-110")}
    bobs = events_of(calendar)
    assert uids <= set(bobs)  # the same events as alice had: calendars replace, never duplicate
    assert {str(bobs[u]["ATTENDEE"]) for u in uids} == {"mailto:bob@example.com"}
    assert "PP-030 · Untimed check" in by_to["bob@example.com"].get_body(("plain",)).get_content()
    _method, calendar, _ = attachment(by_to["alice@example.com"])
    assert set(events_of(calendar)) == uids
    assert {str(e["STATUS"]) for e in calendar.walk("VEVENT")} == {"CANCELLED"}
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 0  # told once
    owners = FakeLedger.store["watch"]["calendar"]["owners"]
    assert "alice" not in owners and owners["bob"]["steps"] == ["PP-010", "PP-020", "CO-110"]

    # CO-110 is handed back to alice: a new invitation for her (she has no event left), an update for bob.
    sent.clear()
    state["holders"] = {"PP-010": "bob", "CO-110": "alice"}
    assert calendar_mail.sync_calendar(plan, "DR1", context) == 3
    assert sorted(summary(sent)) == [
        ("alice@example.com", "Invitation", "REQUEST", ["CO-110"], {2}),
        ("bob@example.com", "Removed steps", "CANCEL", ["CO-110"], {2}),
        ("bob@example.com", "Update", "REQUEST", ["PP-010", "PP-020"], {2}),
    ]
    # The run is cancelled: each gets the cancellation of what they hold.
    sent.clear()
    count, _kept = calendar_mail.cancel_calendar(
        plan, "DR1", RUN_ID, FakeLedger.store["watch"]["calendar"]
    )
    assert count == 4 and sorted(summary(sent)) == [
        ("alice@example.com", "Cancelled", "CANCEL", ["CO-110"], {3}),
        ("bob@example.com", "Cancelled", "CANCEL", ["PP-010", "PP-020"], {3}),
        ("carol@example.com", "Cancelled", "CANCEL", ["CO-100"], {3}),
        ("dave@example.com", "Cancelled", "CANCEL", ["HO-010"], {3}),
    ]


def test_events_are_written_in_the_holders_language(tmp_path):
    result = compile_sheets(tmp_path, base_sheets(), cutover_managers=["dave"])
    plan = result.plan
    assert plan is not None and plan.actors["alice"].language == "fr"
    assert plan.actors["bob"].language == "en"

    def description(events, owner, step):
        return next(e.description for e in events[owner] if e.step_id == step)

    french = description(run_events(plan, "DR1"), "alice", "PP-010")
    english = description(run_events(plan, "DR1", holders={"PP-010": "bob"}), "bob", "PP-010")
    assert french.startswith("Étape PP-010") and english.startswith("Step PP-010"), (
        french,
        english,
    )


def test_holders_group_the_events_and_unknown_ones_are_ignored(tmp_path):
    plan = compiled(tmp_path, base_sheets())
    owners = {o: [e.step_id for e in es] for o, es in run_events(plan, "DR1").items()}
    assert owners == {
        "alice": ["PP-010", "CO-110"],
        "bob": ["PP-020"],
        "carol": ["CO-100"],
        "dave": ["HO-010"],
    }
    held = run_events(plan, "DR1", holders={"PP-010": "carol", "HO-010": "zed", "XX-999": "bob"})
    assert {o: [e.step_id for e in es] for o, es in held.items()} == {
        "carol": ["PP-010", "CO-100"],
        "bob": ["PP-020"],
        "alice": ["CO-110"],
        "dave": ["HO-010"],  # zed is no actor (any more): the owner keeps it
    }


def test_the_runs_holders_variable_is_read_for_its_run_instance_only():
    run_after = dt.datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
    value = json.dumps({"run_after": run_after.isoformat(), "steps": {"A": "bob", "B": 3, "C": ""}})
    assert holders_of(value, run_after) == {"A": "bob"}
    assert holders_of(value, run_after + dt.timedelta(seconds=1)) == {}  # triggered again
    assert holders_of(None, run_after) == {} and holders_of("", run_after) == {}
    assert holders_of("{not json", run_after) == {} and holders_of("[1]", run_after) == {}
    assert holders_of(json.dumps({"run_after": "x", "steps": {}}), run_after) == {}
    key = run_holders_key("resa_dr1", RUN_ID)
    assert key.startswith(step_holder.run_prefix("resa_dr1", RUN_ID))  # deleted with the run's
    assert key.startswith("transition.")  # only the cutover managers may write it through the API
    long = run_holders_key("d" * 200, "r" * 250)
    assert len(long) <= 250 and long.startswith("transition.holders/")


# -- transition calendar ----------------------------------------------------------------------


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    assert TRANSITION, "the transition console script is not installed in this venv"
    return subprocess.run([TRANSITION, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture
def plan_config(tmp_path) -> Path:
    write_xlsx(tmp_path / "plan.xlsx", base_sheets())
    return write_config(tmp_path / "config.yaml", "plan.xlsx", cutover_managers=["dave"])


def test_cli_writes_the_owners_file(plan_config, tmp_path):
    done = run("calendar", str(plan_config), "--dry-run", "dr1", "--owner", "alice", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip()
        == "Wrote resa_dr1_alice.ics (2 events of alice in dry run DR1, times in Europe/Brussels)"
    )
    calendar = parse((tmp_path / "resa_dr1_alice.ics").read_bytes())
    assert set(events_of(calendar)) == {"PP-010.DR1.resa@transition", "CO-110.DR1.resa@transition"}

    out = tmp_path / "run.ics"
    done = run(
        "calendar",
        str(plan_config),
        "--dry-run",
        "DR1",
        "--owner",
        "alice",
        "--out",
        str(out),
        "--run",
        RUN_ID,
    )
    assert done.returncode == 0, done.stderr
    event = events_of(parse(out.read_bytes()))[f"PP-010.DR1.resa.{run_key(RUN_ID)}@transition"]
    assert "/transition/steps/resa_dr1/" in str(event["URL"])
    assert "/tasks/PP-010/required_actions" in str(event["DESCRIPTION"])

    done = run("calendar", str(plan_config), "--dry-run", "DR1", "--owner", "carol", "--out", "-")
    assert done.returncode == 0 and done.stdout.startswith("BEGIN:VCALENDAR")


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--dry-run", "DR9", "--owner", "alice"],
            "transition: unknown dry run 'DR9' (dry runs: DR1, LIVE)",
        ),
        (
            ["--dry-run", "DR1", "--owner", "zoe"],
            "transition: unknown owner 'zoe': no such actor in the Actors sheet",
        ),
        (["--dry-run", "LIVE", "--owner", "bob"], None),  # bob has PP-020 in LIVE: fine
    ],
)
def test_cli_errors(plan_config, tmp_path, args, message):
    done = run("calendar", str(plan_config), *args, cwd=tmp_path)
    if message is None:
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 2 and done.stderr.strip() == message
    assert "Traceback" not in done.stderr + done.stdout


def test_cli_owner_without_timed_steps(tmp_path):
    sheets = base_sheets()
    sheets["Steps"].append(["PP-030", "Untimed check", "PP", "DR1", "", "", "30m", "frank", "", ""])
    sheets["Actors"].append(["frank", "Frank Smet", "frank@example.com", "Billing", "", "", "en"])
    write_xlsx(tmp_path / "plan.xlsx", sheets)
    config = write_config(tmp_path / "config.yaml", "plan.xlsx")
    done = run("calendar", str(config), "--dry-run", "DR1", "--owner", "frank", cwd=tmp_path)
    assert done.returncode == 2
    assert "none of the 1 steps of frank in dry run DR1 has a planned time" in done.stderr
    done = run("calendar", str(config), "--dry-run", "LIVE", "--owner", "frank", cwd=tmp_path)
    assert done.returncode == 2 and "frank owns no step in dry run LIVE" in done.stderr
    assert not list(tmp_path.glob("*.ics"))


def test_cli_holders_needs_a_run_a_user_and_airflow(plan_config, tmp_path):
    """``--holders`` reads the run's holders from Airflow: without ``--run`` or a user it says what
    is missing (exit 2); with Airflow not answering it says so (exit 1); never a file, never a
    traceback. (Read from a real Airflow in tests/e2e/test_e2e_calendar.py.)"""
    base = ["calendar", str(plan_config), "--dry-run", "DR1", "--owner", "alice", "--holders"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSITION_API_")}
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    cases = [
        ([], 2, "transition: --holders needs --run RUN_ID: whose steps are held in which run"),
        (["--run", RUN_ID], 2, "an Airflow user is needed to read the run: give --user"),
        (
            [
                "--run",
                RUN_ID,
                "--user",
                "dave",
                "--password",
                "pw",
                "--url",
                f"http://127.0.0.1:{port}",
            ],
            1,
            f"cannot reach Airflow at http://127.0.0.1:{port}",
        ),
    ]
    for extra, code, message in cases:
        done = subprocess.run(
            [TRANSITION, *base, *extra],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=env,
        )
        assert done.returncode == code and message in done.stderr, (extra, done)
        assert "Traceback" not in done.stderr + done.stdout
    assert not list(tmp_path.glob("*.ics"))
