"""``transition report --run DAG_ID/RUN_ID --out results.xlsx``: a dry run's results, from Airflow's REST API.

Logs in as an Airflow user (``--url/--user/--password``, else ``$TRANSITION_API_URL``,
``$TRANSITION_API_USER``, ``$TRANSITION_API_PASSWORD``; the URL defaults to ``make run``'s), reads the
run, its steps, defects and transfers and the latest run of every other dry run of the plan, and
writes the results workbook (:mod:`transition.results.workbook`).

Exit codes as the other commands: 0 written; 2 called the wrong way (a malformed ``--run``, a run or
DAG Airflow does not have, a user or password Airflow refuses, no user given); 1 Airflow could not
be asked (not reachable, or an error on its side). Never a traceback for these.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from transition.cli.exit_codes import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from transition.errors import ApiError, ApiRefused, NotFound
from transition.i18n import _, ngettext
from transition.results.api_client import ApiClient, Credentials
from transition.results.data import compare_dry_runs, run_results, split_run
from transition.results.workbook import write_results
from transition.runs.states import state_name


def add_report_parser(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="a dry run's results workbook (steps, defects, comparison), from Airflow's REST API",
    )
    report.add_argument(
        "--run",
        required=True,
        metavar="DAG_ID/RUN_ID",
        help="the run, e.g. resa_dr1/manual__2027-01-16T08:00:00+00:00",
    )
    report.add_argument("--out", required=True, help="the .xlsx file to write")
    add_api_arguments(report)


def add_plan_argument(command: argparse.ArgumentParser) -> None:
    """The optional plan a command reads (a configuration or a bare workbook)."""
    command.add_argument(
        "plan",
        nargs="?",
        help="config.yaml or a bare .xlsx (default: $TRANSITION_CONFIG, else plan/config.yaml)",
    )


def add_api_arguments(command: argparse.ArgumentParser) -> None:
    """``--url``, ``--user``, ``--password``: how a command reads Airflow's REST API."""
    command.add_argument(
        "--url",
        help="Airflow's api-server (default: $TRANSITION_API_URL, else http://127.0.0.1:8080)",
    )
    command.add_argument(
        "--user", help="an Airflow user who may read the dry runs (default: $TRANSITION_API_USER)"
    )
    command.add_argument(
        "--password",
        help="its password (default: $TRANSITION_API_PASSWORD, better than the command line)",
    )


def cannot_write(path: str, exc: OSError) -> int:
    """Say that ``path`` could not be written, and why; the exit code (1)."""
    reason = exc.strerror or exc
    print(
        "transition: " + _("cannot write '{path}': {reason}").format(path=path, reason=reason),
        file=sys.stderr,
    )
    return EXIT_PROBLEMS


def report_command(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        if out.suffix.lower() != ".xlsx":
            raise ValueError(_("'{path}': the output must be an .xlsx file").format(path=args.out))
        dag_id, run_id = split_run(args.run)
        credentials = Credentials.from_options(args.url, args.user, args.password)
    except ValueError as exc:
        print(f"transition: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with ApiClient(credentials) as client:
            results = run_results(client, dag_id, run_id)
            comparison = compare_dry_runs(client, results)
    except (NotFound, ApiRefused) as exc:
        print(f"transition: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        print(f"transition: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        write_results(out, results, comparison)
    except OSError as exc:
        return cannot_write(args.out, exc)
    counts = ", ".join(f"{n} {state_name(state)}" for state, n in results.counts.items() if n)
    defects = ngettext("{count} defect", "{count} defects", len(results.defects)).format(
        count=len(results.defects)
    )
    others = ngettext(
        "compared with {count} other dry run",
        "compared with {count} other dry runs",
        len(comparison) - 1,
    ).format(count=len(comparison) - 1)
    print(
        _(
            "Wrote {path}: dry run {dry_run}, run {run} ({state}); {steps} steps ({counts}), {defects}; {others}"
        ).format(
            path=out,
            dry_run=results.dry_run,
            run=results.run_id,
            state=results.run_state,
            steps=len(results.steps),
            counts=counts,
            defects=defects,
            others=others,
        )
    )
    return EXIT_OK
