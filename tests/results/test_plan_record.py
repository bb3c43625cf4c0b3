"""The evidence pack's copy of the workbook and configuration as a run started with them
(transition.results.plan_record.plan_files), from the plugin's ``…/plan-of-record?files=true``:
each under ``plan/<its name>``, byte for byte; none from an older plugin or record; a name that
would leave the folder kept in it. The pack itself on a real Airflow: tests/e2e/test_e2e_evidence.py.
"""

from __future__ import annotations

import base64
from typing import Any

from transition.errors import NotFound
from transition.results.plan_record import plan_files

WORKBOOK = b"PK\x03\x04 the workbook's bytes \x00\xff"
CONFIG = b"name: resa\nworkbook: plan.xlsx\n"


class _Client:
    """ApiClient.get as the plugin answers it (``answer`` None: an older plugin, 404)."""

    def __init__(self, answer: dict[str, Any] | None) -> None:
        self.answer, self.asked = answer, []

    def get(self, path: str, params: dict | None = None) -> dict[str, Any]:
        self.asked.append((path, params))
        if self.answer is None:
            raise NotFound(path)
        return self.answer


def kept(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "content_base64": base64.b64encode(data).decode()}


def test_the_files_as_they_were_under_plan() -> None:
    client = _Client(
        {"files": {"workbook": kept("plan.xlsx", WORKBOOK), "config": kept("c.yaml", CONFIG)}}
    )
    assert plan_files(client, "resa_dr1", "manual__2027-01-14T08:00:00+00:00") == {
        "plan/plan.xlsx": WORKBOOK,
        "plan/c.yaml": CONFIG,
    }
    assert client.asked == [
        (
            "/transition/api/dags/resa_dr1/runs/manual__2027-01-14T08%3A00%3A00%2B00%3A00"
            "/plan-of-record",
            {"files": "true"},
        )
    ]


def test_none_from_an_older_plugin_or_record_and_names_stay_in_the_folder() -> None:
    assert plan_files(_Client(None), "d", "r") == {}
    assert plan_files(_Client({"recorded": False, "record": None}), "d", "r") == {}
    odd = {
        "files": {
            "workbook": kept("../../etc/plan.xlsx", WORKBOOK),
            "config": kept("..", CONFIG),
        }
    }
    assert plan_files(_Client(odd), "d", "r") == {
        "plan/plan.xlsx": WORKBOOK,
        "plan/config": CONFIG,
    }
    broken = {"files": {"workbook": {"name": "plan.xlsx", "content_base64": "not base64!"}}}
    assert plan_files(_Client(broken), "d", "r") == {}
