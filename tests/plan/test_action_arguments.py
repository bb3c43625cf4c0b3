"""What an automated step's action receives in a dry run (days from D-day as that run's dates, the
values as a command's environment), and a check's measured value read from what it printed."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest

from transition.plan.action_arguments import environment, for_dry_run, measured
from transition.plan.action_cells import bind, parse_action_cell
from transition.plan.actions import parse_catalogue

CATALOGUE = parse_catalogue(
    {
        "actions": {
            "export_ean": {
                "kind": "bash",
                "command": "./export.sh",
                "parameters": {
                    "region": {"type": "choice", "choices": ["LIEGE", "NAMUR"]},
                    "day": {"type": "date", "default": "D-1"},
                    "since": {"type": "date", "default": "2027-01-02"},
                    "full": {"type": "boolean", "default": "no"},
                    "batch": {"type": "integer", "default": "500"},
                    "ratio": {"type": "number", "default": "99,5"},
                    "note": {"type": "text", "default": "a; rm -rf / $(reboot)"},
                },
            }
        }
    },
    "actions.yaml",
)
ACTION = CATALOGUE["export_ean"]


def bound(cell: str) -> dict:
    return bind(parse_action_cell(cell), CATALOGUE)


def test_days_from_d_day_become_the_dry_runs_dates():
    d_day = dt.date(2027, 1, 16)
    assert for_dry_run(bound("export_ean(region=LIEGE)"), ACTION, d_day)["day"] == "2027-01-15"
    for cell, date in (("D", "2027-01-16"), ("J+2", "2027-01-18"), ("d-31", "2026-12-16")):
        arguments = for_dry_run(bound(f"export_ean(region=LIEGE, day={cell})"), ACTION, d_day)
        assert arguments["day"] == date, cell
    # A date written as a date stays; the other values are untouched.
    arguments = for_dry_run(bound("export_ean(region=namur, day=2027-02-01)"), ACTION, d_day)
    assert arguments == {
        "region": "NAMUR",
        "day": "2027-02-01",
        "since": "2027-01-02",
        "full": False,
        "batch": 500,
        "ratio": 99.5,
        "note": "a; rm -rf / $(reboot)",
    }


def test_a_command_gets_the_values_in_its_environment_never_in_its_text(tmp_path):
    arguments = for_dry_run(
        bound('export_ean(region=LIEGE, full=yes, note="x`touch pwned`")'),
        ACTION,
        dt.date(2027, 1, 16),
    )
    env = environment(arguments)
    assert env == {
        "TRANSITION_ARG_REGION": "LIEGE",
        "TRANSITION_ARG_DAY": "2027-01-15",
        "TRANSITION_ARG_SINCE": "2027-01-02",
        "TRANSITION_ARG_FULL": "true",
        "TRANSITION_ARG_BATCH": "500",
        "TRANSITION_ARG_RATIO": "99.5",
        "TRANSITION_ARG_NOTE": "x`touch pwned`",
    }
    # A real shell: the catalogue's fixed command reads the values; none of them is run.
    done = subprocess.run(
        ["bash", "-c", 'echo "$TRANSITION_ARG_NOTE|$TRANSITION_ARG_DAY"'],
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.stdout == "x`touch pwned`|2027-01-15\n"
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("output", "value"),
    [
        ("counting...\n1250000\n", 1_250_000.0),
        ("1 200 000\r\n\r\n", 1_200_000.0),
        ("99,5", 99.5),
        ("-3", -3.0),
        (42, 42.0),
        (0.25, 0.25),
    ],
)
def test_a_check_measures_the_last_line_printed_or_the_number_returned(output, value):
    assert measured(output) == value


@pytest.mark.parametrize(
    ("output", "said"),
    [
        ("rows: 12\nOK\n", "its last line was 'OK'"),
        ("", "it printed nothing"),
        ("\n \n", "it printed nothing"),
        (None, "it returned None"),
        (True, "it returned True"),
        ({"rows": 12}, "it returned {'rows': 12}"),
    ],
)
def test_a_check_that_measured_no_number_says_what_it_got(output, said):
    with pytest.raises(ValueError) as caught:
        measured(output)
    assert str(caught.value) == (
        "the check measured no number: its action must print the value on its last line, or "
        f"return it; {said}"
    )
