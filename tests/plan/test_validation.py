"""Every rule of the workbook contract, on workbooks written by the tests: exact place and words."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from conftest import base_sheets, compile_sheets, write_config
from transition.errors import WorkbookError
from transition.plan.compiler import compile_plan
from transition.plan.config import load_config


def check(tmp_path: Path, workbook_sheets, **settings) -> tuple[list[str], list[str], object]:
    result = compile_sheets(tmp_path, workbook_sheets, **settings)
    errors = [str(p) for p in result.problems if p.severity == "error"]
    warnings = [str(p) for p in result.problems if p.severity == "warning"]
    return errors, warnings, result.plan


def test_base_plan_is_valid(tmp_path):
    errors, warnings, plan = check(tmp_path, base_sheets())
    assert errors == [] and warnings == []
    assert list(plan.steps) == ["PP-010", "PP-020", "CO-100", "CO-110", "HO-010"]
    assert plan.actors["alice"].team_leader == "carol"
    assert plan.actors["carol"].language == "en"  # empty: the plan's default
    assert plan.steps["PP-020"].dry_runs == ("DR1", "LIVE")
    assert plan.steps["CO-100"].dry_runs == ("DR1", "LIVE")  # ALL expanded


def test_missing_sheet_lists_the_sheets_found(tmp_path):
    sheets = base_sheets()
    del sheets["Steps"]
    errors, _, plan = check(tmp_path, sheets)
    assert plan is None
    assert errors == [
        "plan.xlsx: missing sheet 'Steps' (also accepted: 'Etapes'); sheets found: Actors, DryRuns, Environments"
    ]


def test_missing_column_lists_the_headers_found(tmp_path):
    sheets = base_sheets()
    for row in sheets["Steps"]:
        del row[7]  # Owner
    errors, _, _ = check(tmp_path, sheets)
    assert errors == [
        "Steps: missing column 'Owner' (also accepted: Exécutant, Responsable); headers found in row 1: "
        "ID, Label, Phase, Dry runs, Prerequisites, Start, Duration, Environment, Description"
    ]


def test_french_names_accents_case_and_punctuation_are_accepted(tmp_path):
    sheets = base_sheets()
    sheets["Etapes"] = sheets.pop("Steps")
    sheets["Etapes"][0] = [
        "identifiant",
        "LIBELLE",
        "phase",
        "Dry-run",
        "Pré requis",
        "Date d’exécution",
        "durée",
        "Responsable",
        "environnement",
        "Instructions",
        "Ticket Jira",
    ]
    sheets["Etapes"][1].append("JIRA-1")
    sheets["Executants"] = sheets.pop("Actors")
    sheets["Executants"][0] = [
        "ID",
        "Nom",
        "E-mail",
        "Équipe",
        "Chef d'équipe",
        "Chef de département",
        "Langue",
    ]
    sheets["Dates"] = sheets.pop("DryRuns")
    sheets["Dates"][0] = ["Nom", "Jour J", "Fin", "Environnement"]
    sheets["Environnements"] = sheets.pop("Environments")
    errors, _, plan = check(tmp_path, sheets)
    assert errors == []
    assert plan.steps["PP-010"].extra == {"Ticket Jira": "JIRA-1"}
    assert plan.steps["PP-010"].description == "Stop the billing batch."


def test_header_row_is_found_below_a_title_and_empty_rows_are_skipped(tmp_path):
    sheets = base_sheets()
    sheets["Steps"].insert(0, ["Transition plan UMIG 4 → MIG 6"])
    sheets["Steps"].insert(3, [None] * 10)
    errors, _, plan = check(tmp_path, sheets)
    assert errors == []
    assert plan.steps["PP-020"].row == 5


def test_duplicate_id(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][4][0] = "CO-100"
    errors, _, _ = check(tmp_path, sheets)
    assert "Steps!A5: duplicate step ID 'CO-100' (first used in row 4)" in errors


def test_bad_id_characters(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][5][0] = "HO 010"
    errors, _, _ = check(tmp_path, sheets)
    assert errors == ["Steps!A6: step ID 'HO 010' may only hold letters, digits, '-', '_' and '.'"]


def test_reserved_id(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][5][0] = "_watch"
    errors, _, _ = check(tmp_path, sheets)
    assert errors == [
        "Steps!A6: step ID '_watch' is reserved (it names the run's watch task); choose another"
    ]


def test_numeric_id_reads_as_text(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][5][0] = 120
    errors, _, plan = check(tmp_path, sheets)
    assert errors == [] and "120" in plan.steps


def test_unknown_prerequisite_suggests_the_closest_id(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][4][4] = "CO-101"
    errors, _, _ = check(tmp_path, sheets)
    assert errors == ["Steps!E5: unknown prerequisite 'CO-101' (did you mean 'CO-100'?)"]


def test_prerequisite_separators(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][5][4] = "CO-110;PP-010\nCO-100  PP-020,"
    errors, _, plan = check(tmp_path, sheets)
    assert errors == []
    assert plan.steps["HO-010"].prerequisites == ("CO-110", "PP-010", "CO-100", "PP-020")


def test_own_prerequisite(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][4][4] = "CO-100, CO-110"
    errors, _, _ = check(tmp_path, sheets)
    assert errors == ["Steps!E5: step 'CO-110' cannot be its own prerequisite"]


def test_cycle_prints_the_whole_path(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][2][4] = "PP-010, HO-010"  # PP-020 also waits for HO-010
    errors, _, _ = check(tmp_path, sheets)
    assert errors == [
        "Steps!E3: prerequisite cycle: PP-020 → CO-100 → CO-110 → HO-010 → PP-020 (rows 3, 4, 5, 6); "
        "each step waits for the one before it, so none can ever start"
    ]


def test_unknown_owner_environment_dry_run_and_phase(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][1][7] = "alise"
    sheets["Steps"][1][8] = "ACCX"
    sheets["Steps"][2][3] = "DR1, DR9"
    sheets["Steps"][3][2] = "XX"
    errors, _, _ = check(tmp_path, sheets)
    assert errors == [
        "Steps!H2: unknown owner 'alise' (did you mean 'alice'?)",
        "Steps!I2: unknown environment 'ACCX' (did you mean 'ACC'?)",
        "Steps!D3: unknown dry run 'DR9' (did you mean 'DR1'?)",
        "Steps!C4: unknown phase 'XX' (phases: PP, AC, CO, DC, HO, FB-RB)",
    ]


def test_missing_required_values(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][1][1] = None
    sheets["Steps"][2][3] = None
    sheets["Steps"][3][7] = " "
    sheets["Steps"][4][0] = None
    errors, _, _ = check(tmp_path, sheets)
    assert (
        errors
        == [
            "Steps!B2: missing label for step 'PP-010'",
            "Steps!D3: no dry run given (name dry runs from the DryRuns sheet, or ALL)",
            "Steps!H4: missing owner (an actor ID from the Actors sheet)",
            "Steps!A5: missing step ID",
            "Steps!E6: unknown prerequisite 'CO-110' (did you mean 'CO-100'?)",  # the row above lost its ID
        ]
    )


def test_unparseable_start_and_duration(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][1][5] = "tomorrow 8h"
    sheets["Steps"][2][6] = "2 hours"
    sheets["Steps"][3][5] = dt.datetime(2027, 1, 16, 22, 0)
    errors, _, _ = check(tmp_path, sheets)
    assert errors == [
        "Steps!F2: cannot read start 'tomorrow 8h'; write it relative to D-day, like 'D-3 08:00', 'D+0 22:30' or 'D+1'",
        "Steps!G3: cannot read duration '2 hours'; write it like 45m, 2h, 1h30, 1d, 01:30 or a number of minutes",
        "Steps!F4: start '2027-01-16 22:00' is a calendar date; dry runs have different D-days, so write it "
        "relative to D-day, like 'D-3 08:00', 'D+0 22:30' or 'D+1'",
    ]


def test_start_in_the_dst_gap_is_an_error_in_the_dry_run_it_hits(tmp_path):
    sheets = base_sheets()
    sheets["DryRuns"][2][1] = dt.date(2027, 3, 28)  # LIVE on the spring-forward Sunday
    sheets["DryRuns"][2][2] = dt.datetime(2027, 3, 31, 18, 0)
    sheets["Steps"][3][5] = "D+0 02:30"
    errors, _, _ = check(tmp_path, sheets)
    assert errors == [
        "Steps!F4: start 'D+0 02:30' is 2027-03-28 02:30 in dry run LIVE, a time that does not exist in "
        "Europe/Brussels (clocks go forward); choose another time"
    ]


def test_ambiguous_autumn_time_is_a_warning(tmp_path):
    sheets = base_sheets()
    sheets["DryRuns"][2][1] = dt.date(2027, 10, 31)
    sheets["DryRuns"][2][2] = dt.datetime(2027, 11, 3, 18, 0)
    sheets["Steps"][3][5] = "D+0 02:30"
    sheets["Steps"][5][5] = None
    errors, warnings, plan = check(tmp_path, sheets)
    assert errors == []
    assert (
        "Steps!F4: warning: start 'D+0 02:30' is 2027-10-31 02:30 in dry run LIVE, which happens twice"
        in warnings[0]
    )
    assert plan.schedules["LIVE"].steps["CO-100"].not_before.utcoffset() == dt.timedelta(hours=2)


def test_actor_rules(tmp_path):
    sheets = base_sheets()
    sheets["Actors"][1][2] = "alice@"
    sheets["Actors"][2][4] = "karol"
    sheets["Actors"][2][5] = "nobody"
    sheets["Actors"][3][6] = "nl"
    sheets["Actors"].append(["alice", "Alice Again", "a2@example.com", "", "", "", ""])
    errors, _, _ = check(tmp_path, sheets)
    assert errors == [
        "Actors!C2: 'alice@' is not a valid e-mail address",
        "Actors!E3: unknown team leader 'karol' (did you mean 'carol'?); name an actor ID",
        "Actors!F3: unknown department head 'nobody'; name an actor ID",
        "Actors!G4: unknown language 'nl' (use en or fr)",
        "Actors!A6: duplicate actor ID 'alice' (first used in row 2)",
    ]


def test_an_actors_time_zone_and_phone(tmp_path):
    sheets = base_sheets()
    sheets["Actors"][0] += ["Fuseau horaire", "Téléphone"]  # the French headers
    for row in sheets["Actors"][1:]:
        row += [None, None]
    sheets["Actors"][1][-2:] = ["America/New_York", "+32 470 12.34.56"]
    sheets["Actors"][2][-2:] = ["Europe/Bruxelles", "0470123456"]
    sheets["Actors"][3][-2:] = ["", 32470123456]  # a number typed in Excel: no +
    errors, _, _ = check(tmp_path, sheets)
    assert errors == [
        "Actors!H3: unknown time zone 'Europe/Bruxelles' (did you mean 'Europe/Brussels'?); use "
        "an IANA name such as Europe/Brussels",
        "Actors!I3: '0470123456' is not a phone number in international form: '+', the country "
        "code and the number, e.g. +32470123456",
        "Actors!I4: '32470123456' is not a phone number in international form: '+', the country "
        "code and the number, e.g. +32470123456",
    ]
    sheets["Actors"][2][-2:] = ["Europe/Brussels", None]
    sheets["Actors"][3][-2:] = ["UTC", "+1 (212) 555-0100"]
    errors, _, plan = check(tmp_path, sheets)
    assert errors == []
    alice = plan.actors["alice"]
    assert (alice.timezone, alice.phone) == ("America/New_York", "+32470123456")
    assert plan.actors["carol"].phone == "+12125550100" and plan.actors["bob"].phone == ""
    assert plan.actors["bob"].timezone == "Europe/Brussels"
    assert plan.actors["dave"].timezone == ""  # the plan's


def test_dry_run_rules(tmp_path):
    sheets = base_sheets()
    sheets["DryRuns"].append(["dr1", dt.date(2027, 2, 1), None, ""])
    sheets["DryRuns"].append(["DR-2", "31/02/2027", None, "QA"])
    sheets["DryRuns"].append(["DR_2", dt.date(2027, 3, 1), None, ""])
    errors, _, _ = check(tmp_path, sheets)
    assert errors == [
        "DryRuns!A4: duplicate dry run 'dr1' (first used in row 2)",
        "DryRuns!B5: cannot read date '31/02/2027'; use an Excel date or 2027-03-14 or 14/03/2027",
        "DryRuns!D5: unknown environment 'QA' (environments: ACC, PRD)",
        "DryRuns!A6: dry run 'DR_2' gives the same DAG id 'resa_dr_2' as 'DR-2' (row 5); rename one",
    ]


def test_unknown_cutover_manager_points_at_the_config(tmp_path):
    errors, _, _ = check(tmp_path, base_sheets(), cutover_managers=["dave", "erin"])
    assert errors == ["config.yaml: cutover_managers: unknown actor 'erin'"]


def test_every_problem_is_reported_in_one_pass(tmp_path):
    sheets = base_sheets()
    sheets["DryRuns"][2][1] = dt.date(2027, 3, 28)
    sheets["Steps"][3][5] = "D+0 02:30"  # in the DST gap, on a row that has another problem too
    sheets["Steps"][3][7] = "nobody"
    sheets["Steps"][1][7] = "zed"
    sheets["Steps"][2][6] = "forever"
    sheets["Steps"][5][4] = "NOPE"
    sheets["Actors"][4][2] = "not-an-email"
    errors, _, _ = check(tmp_path, sheets)
    assert len(errors) == 6
    assert any(
        e.startswith("Steps!F4: start 'D+0 02:30' is 2027-03-28 02:30 in dry run LIVE")
        for e in errors
    )


def test_start_before_prerequisite_ends_is_a_warning_not_an_error(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][4][5] = "D+0 22:15"  # CO-110 while CO-100 (22:00 + 45m) still runs
    errors, warnings, plan = check(tmp_path, sheets)
    assert errors == [] and plan is not None
    assert warnings == [
        "Steps!F5: warning: step 'CO-110' is planned to start at D+0 22:15, before the step it waits for is "
        "planned to end: 'CO-100'; it will start late"
    ]


def test_late_start_warning_names_the_dry_runs_of_projected_prerequisites(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][2][6] = "2d14h"  # PP-020 (DR1 and LIVE only) now ends after CO-100's start
    sheets["DryRuns"].append(["DR2", dt.date(2027, 3, 13), None, ""])
    _, warnings, _ = check(tmp_path, sheets)
    assert warnings == [
        "Steps!F4: warning: step 'CO-100' is planned to start at D+0 22:00, before the step it waits for is "
        "planned to end: 'PP-020' (in DR1, LIVE); it will start late"
    ]


def test_dry_run_end_too_early_is_a_warning(tmp_path):
    sheets = base_sheets()
    sheets["DryRuns"][1][2] = dt.datetime(2027, 1, 16, 23, 0)
    _, warnings, _ = check(tmp_path, sheets)
    assert warnings == [
        "DryRuns!C2: warning: dry run 'DR1' must end by 2027-01-16 23:00 but step 'HO-010' is planned to end at 2027-01-17 09:15"
    ]


def test_typed_and_text_cells(tmp_path):
    sheets = base_sheets()
    sheets["Steps"][1][6] = 90  # minutes
    sheets["Steps"][2][6] = dt.time(1, 30)
    sheets["Steps"][3][6] = "01:30"
    sheets["Steps"][4][6] = "1h30"
    sheets["DryRuns"][1][1] = "16/01/2027"
    sheets["DryRuns"][1][2] = "2027-01-19 18:00"
    errors, _, plan = check(tmp_path, sheets)
    assert errors == []
    assert {plan.steps[s].duration for s in ("PP-010", "PP-020", "CO-100", "CO-110")} == {
        dt.timedelta(minutes=90)
    }
    assert plan.dry_runs["DR1"].d_day == dt.date(2027, 1, 16)


def test_config_overrides_sheet_name_header_row_and_aliases(tmp_path):
    sheets = base_sheets()
    steps = sheets.pop("Steps")
    steps[0][7] = "Resp."
    sheets["Plan"] = [["(title row)"], ["(notes)"]] + steps
    errors, _, plan = check(
        tmp_path,
        sheets,
        sheets={"steps": {"name": "Plan", "header_row": 3, "columns": {"owner": ["Resp."]}}},
    )
    assert errors == [] and plan.steps["PP-010"].row == 4


def test_not_a_workbook(tmp_path):
    (tmp_path / "plan.xlsx").write_bytes(b"this is not a zip file")
    write_config(tmp_path / "config.yaml", "plan.xlsx")
    with pytest.raises(WorkbookError) as caught:
        compile_plan(load_config(tmp_path / "config.yaml"))
    assert str(caught.value).startswith("plan.xlsx: cannot be opened as an Excel workbook (.xlsx)")
