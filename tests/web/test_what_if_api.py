"""The what-if endpoint's query (an end or a slip, refused in words otherwise) and its OpenAPI entry.

Its answers on a real run, and the recap page's form, are in tests/e2e/test_e2e_recap_browser.py.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from fastapi import HTTPException

from transition.i18n import use_language
from transition.web.run_api import end_or_slip
from transition.web.step_api import app

NOW = dt.datetime(2027, 1, 16, 8, 0, tzinfo=dt.UTC)
ZONE = "Europe/Brussels"


def test_an_end_without_offset_is_in_the_plan_time_zone():
    moment, slip = end_or_slip("2027-01-16T14:30", None, ZONE, NOW)
    assert slip is None
    assert moment == dt.datetime(2027, 1, 16, 14, 30, tzinfo=zoneinfo.ZoneInfo(ZONE))
    assert moment.utcoffset() == dt.timedelta(hours=1)
    with_offset, _ = end_or_slip("2027-01-16T14:30Z", None, ZONE, NOW)
    assert with_offset == dt.datetime(2027, 1, 16, 14, 30, tzinfo=dt.UTC)


def test_a_slip_is_whole_minutes_either_way():
    assert end_or_slip(None, "45", ZONE, NOW) == (None, dt.timedelta(minutes=45))
    assert end_or_slip(None, "-15", ZONE, NOW) == (None, dt.timedelta(minutes=-15))


@pytest.mark.parametrize(
    ("ends_at", "slip", "words"),
    [
        (None, None, "ends_at"),
        ("2027-01-16T14:30", "30", "not both"),
        (None, "half an hour", "slip: 'half an hour' is not a whole number of minutes"),
        (None, "1.5", "slip: '1.5'"),
        (None, "٣٠", "slip:"),  # digits, but not ASCII
        (None, "600000", "more than a year"),
        ("tomorrow", None, "ends_at: 'tomorrow' is not a date and time"),
        ("2027-13-01T10:00", None, "ends_at: '2027-13-01T10:00'"),
        ("2029-01-16T10:00", None, "more than a year from now"),
        ("2027-01-16T10:00\udc80", None, "\\udc80"),  # not Unicode: escaped, not echoed
    ],
)
def test_a_bad_end_or_slip_is_refused_saying_which_and_why(ends_at, slip, words):
    with pytest.raises(HTTPException) as refused:
        end_or_slip(ends_at, slip, ZONE, NOW)
    assert refused.value.status_code == 400
    assert words in refused.value.detail
    refused.value.detail.encode("utf-8")  # fit to answer


def test_refusals_are_in_the_user_language():
    with use_language("fr"), pytest.raises(HTTPException) as refused:
        end_or_slip(None, "soon", ZONE, NOW)
    assert "minutes" in refused.value.detail and "is not" not in refused.value.detail


def test_the_openapi_declares_the_query_and_the_refusals():
    operation = app.openapi()["paths"]["/api/dags/{dag_id}/runs/{run_id}/what-if"]["get"]
    assert {p["name"]: p["in"] for p in operation["parameters"]} == {
        "dag_id": "path",
        "run_id": "path",
        "step": "query",
        "ends_at": "query",
        "slip": "query",
    }
    assert {"200", "400", "401", "403", "404", "409"} <= set(operation["responses"])
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/WhatIfView"}
