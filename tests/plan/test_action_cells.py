"""The workbook's Action and Expect cells (issue 28): read, bound to the catalogue's typed
parameters, and refused in words, never run."""

from __future__ import annotations

import pytest

from transition.plan.action_cells import ActionCall, bind, parse_action_cell, parse_expect
from transition.plan.actions import parse_catalogue

CATALOGUE = parse_catalogue(
    {
        "actions": {
            "export_ean": {
                "kind": "sql",
                "connection": "market_db",
                "sql": "SELECT count(*) FROM ean WHERE region = %(region)s AND day = %(day)s"
                " AND batch <= %(batch)s AND ratio < %(ratio)s AND full_run = %(full)s",
                "parameters": {
                    "region": {"type": "choice", "choices": ["LIEGE", "NAMUR"]},
                    "day": "date",
                    "batch": {"type": "integer", "default": 500},
                    "ratio": "number",
                    "full": {"type": "boolean", "default": "no"},
                },
            },
            "notify": {
                "kind": "http",
                "connection": "hub",
                "endpoint": "/notify",
                "parameters": {"text": "text"},
            },
            "count_rows": {"kind": "sql", "connection": "billing", "sql": "SELECT count(*) FROM t"},
        }
    },
    "actions.yaml",
)


@pytest.mark.parametrize(
    ("text", "call"),
    [
        ("count_rows", ActionCall("count_rows")),
        ("count_rows()", ActionCall("count_rows")),
        (
            "export_ean(region=LIEGE, day=D-1)",
            ActionCall("export_ean", {"region": "LIEGE", "day": "D-1"}),
        ),
        (
            'notify(text="Gates, open; \\"now\\"")',
            ActionCall("notify", {"text": 'Gates, open; "now"'}),
        ),
        ("  notify ( text = hello )  ", ActionCall("notify", {"text": "hello"})),
    ],
)
def test_an_action_cell_names_an_action_and_its_arguments(text, call):
    assert parse_action_cell(text) == call


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("DROP TABLE ean; --", "is not an action"),
        ("export_ean(region=LIEGE; DROP TABLE ean)", "cannot read the arguments"),
        ("export_ean(region=LIEGE, region=NAMUR)", "argument 'region' is given twice"),
        ("export_ean(region=LIEGE,)", "missing after the last comma"),
        ("notify(text=$(rm -rf /))", "cannot read the arguments"),
        ("notify(text=`id`)", "cannot read the arguments"),
        ('notify(text="unclosed)', "cannot read the arguments"),
    ],
)
def test_what_is_not_an_action_call_is_refused_in_words(text, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        parse_action_cell(text)


def test_arguments_are_bound_to_their_types_with_the_defaults():
    call = parse_action_cell('export_ean(region=liege, day=J+1, ratio="99,5")')
    assert bind(call, CATALOGUE) == {
        "region": "LIEGE",
        "day": "D+1",
        "ratio": 99.5,
        "batch": 500,
        "full": False,
    }
    call = parse_action_cell(
        'export_ean(region=NAMUR, day=2027-01-16, ratio=1, batch="1 200", full=yes)'
    )
    assert bind(call, CATALOGUE)["batch"] == 1200
    assert bind(call, CATALOGUE)["day"] == "2027-01-16"
    assert bind(call, CATALOGUE)["full"] is True


def test_every_problem_of_a_cell_is_said_at_once():
    call = parse_action_cell("export_ean(region=ANTWERP, day=tomorrow, batch=many, colour=red)")
    with pytest.raises(ValueError) as refused:
        bind(call, CATALOGUE)
    message = str(refused.value)
    assert "region: 'ANTWERP' is not one of LIEGE, NAMUR" in message
    assert "day: 'tomorrow' is not a date" in message
    assert "batch: 'many' is not a whole number" in message
    assert "'export_ean' has no parameter 'colour'" in message
    assert "'export_ean' needs ratio=…" in message


def test_an_unknown_action_names_those_there_are():
    with pytest.raises(
        ValueError,
        match="unknown action 'export' \\(the catalogue has count_rows, export_ean, notify\\)",
    ):
        bind(ActionCall("export"), CATALOGUE)


@pytest.mark.parametrize(
    ("text", "value", "reference", "holds"),
    [
        ("= 0", 0, None, True),
        ("= 0", 1, None, False),
        ("== 0", 0, None, True),
        ("!= 0", 3, None, True),
        ("<> 0", 0, None, False),
        (">= 1200000", 1_200_000, None, True),
        (">= 1 200 000", 1_199_999, None, False),
        ("> 3", 3, None, False),
        ("< 3", 2.5, None, True),
        ("<= 99,5", 99.5, None, True),
        ("between 10 and 20", 10, None, True),
        ("between 20 and 10", 21, None, False),
        ("entre 10 et 20", 15, None, True),
        ("= CO-110", 42, 42, True),
        ("= CO-110", 41, 42, False),
        (">= CO-110", 43, 42, True),
        ("between 99.5% and 100.5% of CO-110", 1000, 1004, True),
        ("between 99.5% and 100.5% of CO-110", 1000, 1006, False),
        ("entre 99,5% et 100,5% de CO-110", 1000, 999, True),
    ],
)
def test_an_expectation_holds_or_not(text, value, reference, holds):
    assert parse_expect(text).holds(value, reference) is holds


def test_an_expectation_on_another_check_needs_its_value():
    expectation = parse_expect("between 99.5% and 100.5% of CO-110")
    assert (expectation.of_step, expectation.percent) == ("CO-110", True)
    with pytest.raises(ValueError, match="CO-110"):
        expectation.holds(1000)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("about 12", "cannot read the expectation 'about 12'"),
        ("= ", "cannot read the expectation"),
        ("between 99.5% and 100.5%", "percent of what?"),
        ("between 99 and 101 of CO-110", "write both bounds in percent"),
        ("between ten and 20", "'ten' in 'between ten and 20' is not a number"),
        ("= 1; DROP TABLE x", "cannot read the expectation"),
    ],
)
def test_what_is_not_an_expectation_is_refused_in_words(text, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace("?", r"\?")):
        parse_expect(text)
