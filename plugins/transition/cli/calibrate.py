"""``transition calibrate --run DAG_ID/RUN_ID [--run ...] --out NEXT.xlsx``: the plan's workbook for
the next dry run, each step's Duration proposed from what the runs measured.

Reads the runs as ``transition report`` does (Airflow's REST API, the same ``--url/--user/--password``
options and variables), proposes the Durations (:mod:`transition.results.calibration`), writes a copy
of the configured workbook (:mod:`transition.results.calibration_workbook`) and checks the copy with
the validator. The source is never overwritten: ``--out`` may not be the plan's workbook, nor a file
that exists unless ``--force``.

Exit codes as the other commands: 0 written (and valid); 2 called the wrong way (as ``report``, and
an ``--out`` refused, a run of another plan, a run given twice); 1 the plan has problems, Airflow
could not be asked, or the copy could not be written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from transition.cli.exit_codes import EXIT_OK, EXIT_PROBLEMS
from transition.cli.report import add_api_arguments, add_plan_argument, cannot_write
from transition.errors import (
    ApiError,
    ApiRefused,
    NotFound,
    PlanInvalid,
    UsageError,
    errors_only,
)
from transition.i18n import _
from transition.plan.compiler import compile_plan
from transition.plan.config import PlanConfig, load_config
from transition.plan.model import Plan
from transition.results.api_client import ApiClient, Credentials
from transition.results.calibration import calibrate
from transition.results.calibration_workbook import summary, write_calibrated
from transition.results.data import run_results, split_run
from transition.workbook.reader import read_workbook
from transition.workbook.sheets import sheet_specs


def add_calibrate_parser(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "calibrate",
        help="a copy of the plan's workbook with each step's Duration measured in dry runs",
    )
    add_plan_argument(command)
    command.add_argument(
        "--run",
        required=True,
        action="append",
        metavar="DAG_ID/RUN_ID",
        help="a run whose Start → Close times to use (several: the median); e.g. "
        "resa_dr1/manual__2027-01-16T08:00:00+00:00",
    )
    command.add_argument("--out", required=True, help="the .xlsx file to write")
    command.add_argument("--force", action="store_true", help="replace --out if it exists")
    add_api_arguments(command)


def calibrate_command(args: argparse.Namespace) -> int:
    config = load_config(args.plan)
    out = Path(args.out)
    _check_out(out, config, force=args.force)
    try:
        runs = [split_run(text) for text in args.run]
        credentials = Credentials.from_options(args.url, args.user, args.password)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    twice = sorted({f"{d}/{r}" for d, r in runs if runs.count((d, r)) > 1})
    if twice:
        raise UsageError(_("run given twice: {runs}").format(runs=", ".join(twice)))
    plan = _valid(config)
    try:
        with ApiClient(credentials) as client:
            results = [run_results(client, d, r, records=False) for d, r in runs]
    except (NotFound, ApiRefused) as exc:
        raise UsageError(str(exc)) from None
    except ApiError as exc:
        print(f"transition: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        calibration = calibrate(plan, results)
    except ValueError as exc:  # a run of another plan
        raise UsageError(f"{exc} ({config.source or config.workbook_path})") from None
    raw, _problems = read_workbook(config.workbook_path, sheet_specs(config.sheets))
    try:
        write_calibrated(config.workbook_path, out, raw.sheets["steps"], calibration)
    except OSError as exc:
        return cannot_write(args.out, exc)
    # What the next dry run reads: checked as `transition validate` would.
    _valid(
        config.model_copy(update={"workbook": out.resolve()}),
        _("The calibrated copy {path} has problems:").format(path=out),
    )
    print(
        _("Wrote {path} from {workbook}: {summary}. The plan in it is valid.").format(
            path=out, workbook=config.workbook_path.name, summary=summary(calibration)
        )
    )
    return EXIT_OK


def _check_out(out: Path, config: PlanConfig, *, force: bool) -> None:
    if out.suffix.lower() != ".xlsx":
        raise UsageError(_("'{path}': the output must be an .xlsx file").format(path=out))
    if out.resolve() == config.workbook_path:
        raise UsageError(
            _("'{path}' is the plan's workbook: write the calibrated copy to another file").format(
                path=out
            )
        )
    if out.exists() and not force:
        raise UsageError(
            _("'{path}' exists: choose another file, or give --force to replace it").format(
                path=out
            )
        )


def _valid(config: PlanConfig, headline: str | None = None) -> Plan:
    """The compiled plan, or PlanInvalid (main prints the problems and exits 1)."""
    result = compile_plan(config)
    if result.plan is None:
        raise PlanInvalid(errors_only(result.problems), headline)
    return result.plan
