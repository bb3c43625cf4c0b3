"""Each person's time zone (the Actors sheet's Time zone): e-mails, calendar events and the phone
pages show the person's time beside the plan's when their clocks read otherwise."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from conftest import base_sheets, compile_sheets
from transition.i18n import their_moment, use_language, with_their_time
from transition.notifications.calendar_ics import run_events
from transition.notifications.notices import transfer_notice
from transition.notifications.ready_mail import ready_message
from transition.runs.step_page import page_moment, viewer_zone

BRUSSELS = zoneinfo.ZoneInfo("Europe/Brussels")
NIGHT = dt.datetime(2026, 12, 7, 2, 10, tzinfo=BRUSSELS)  # Sun 06 Dec 20:10 in New York


def zoned_plan(tmp_path, zones):
    """The base plan, each actor of ``zones`` in that time zone."""
    sheets = base_sheets()
    sheets["Actors"][0].append("Time zone")
    for row in sheets["Actors"][1:]:
        row.append(zones.get(row[0], ""))
    result = compile_sheets(tmp_path, sheets)
    assert result.plan is not None, result.problems
    return result.plan


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_the_persons_time_beside_the_plans_only_when_it_differs():
    assert with_their_time(NIGHT, "America/New_York", "short") == (
        "Mon 07 Dec 02:10 (Europe/Brussels) · Sun 06 Dec 20:10 your time (America/New_York)"
    )
    same_day = NIGHT.replace(hour=9)
    assert their_moment(same_day, "America/New_York") == "03:10"  # the date only when it differs
    for zone in ("", None, "Europe/Paris", "Europe/Brussels", "Nowhere/Else"):
        assert with_their_time(NIGHT, zone, "short") == "Mon 07 Dec 02:10"  # the same clocks
    with use_language("fr"):
        assert with_their_time(NIGHT, "America/New_York", "short") == (
            "lun. 07 déc. 02:10 (Europe/Brussels) · dim. 06 déc. 20:10 chez vous (America/New_York)"
        )


def test_the_ready_e_mail_gives_its_reader_their_time(tmp_path):
    plan = zoned_plan(tmp_path, {"carol": "America/New_York", "alice": "Europe/Paris"})
    where = {"dag_id": "resa_dr1", "run_id": "r1", "base_url": "http://x", "closed": []}
    carol = ready_message(plan, "DR1", plan.schedules["DR1"].steps["CO-100"], **where)
    assert carol["To"] == "carol@example.com"  # CO-100 is carol's; DR1 D-day is Sat 16 Jan 2027
    assert (
        "Sat 16 Jan 2027 22:00 (Europe/Brussels) · 16:00 your time (America/New_York)"
        in text_of(carol)
    )
    alice = ready_message(plan, "DR1", plan.schedules["DR1"].steps["PP-010"], **where)
    assert "your time" not in text_of(alice) and "chez vous" not in text_of(alice)  # Paris


def test_a_notice_gives_its_first_reader_their_time(tmp_path):
    plan = zoned_plan(tmp_path, {"bob": "Asia/Tokyo"})
    message = transfer_notice(
        plan,
        "DR1",
        "CO-100",
        giver_id="carol",
        target=plan.actors["bob"],
        text="",
        dag_id="resa_dr1",
        run_id="r1",
        base_url="http://x",
    )
    assert (
        "Sat 16 Jan 2027 22:00 (Europe/Brussels) · Sun 17 Jan 06:00 your time (Asia/Tokyo)"
        in text_of(message)
    )


def test_the_calendar_event_says_the_holders_time(tmp_path):
    plan = zoned_plan(tmp_path, {"carol": "America/New_York"})
    events = run_events(plan, "DR1", run_id="r1", base_url="http://x")
    co_100 = next(e for e in events["carol"] if e.step_id == "CO-100")
    assert (
        "Your time (America/New_York): Sat 16 Jan 2027 16:00 to Sat 16 Jan 2027 16:45"
        in co_100.description
    ), co_100.description
    assert all("Your time" not in e.description for e in events["alice"])


def test_the_pages_show_the_readers_time(tmp_path):
    plan = zoned_plan(tmp_path, {"carol": "America/New_York", "alice": "Europe/Brussels"})
    assert viewer_zone(plan, "carol") == "America/New_York"
    assert viewer_zone(plan, "alice") == viewer_zone(plan, "bob") == ""  # the plan's, or none
    assert viewer_zone(plan, "someone") == ""
    value = NIGHT.isoformat()
    assert page_moment(value, "America/New_York") == "Mon 07 Dec 02:10 · Sun 06 Dec 20:10 your time"
    assert page_moment(value) == "Mon 07 Dec 02:10" and page_moment(None) == "—"
