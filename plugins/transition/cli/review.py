"""``transition review [PLAN] --run DAG_ID/RUN_ID --out review.html [--pdf review.pdf]``: the review
after a run (issue 29), one HTML page in the plan's language (:mod:`transition.results.review`),
printed to PDF by Chromium when asked (:mod:`transition.results.review_pdf`).

Reads through Airflow's REST API as ``transition report`` does (``--url/--user/--password``): the
run and its records, the latest run of the plan's other dry runs (the trend) and the plan's finished
runs (the forecast's measures, as ``transition forecast`` takes them). Exit codes as ``report``: 0
written; 2 called the wrong way (no Chromium for ``--pdf`` too); 1 the plan has problems, Airflow
could not be asked, or the files could not be written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from urllib.parse import quote

from transition.cli.exit_codes import EXIT_OK, EXIT_PROBLEMS
from transition.cli.report import add_api_arguments, add_plan_argument, cannot_write
from transition.errors import ApiError, ApiRefused, NotFound, PlanInvalid, UsageError, errors_only
from transition.i18n import _
from transition.plan.compiler import compile_plan
from transition.plan.config import load_config
from transition.plan.model import Plan
from transition.results.api_client import ApiClient, Credentials
from transition.results.data import RunResults, dry_run_dags, run_results, split_run


def add_review_parser(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "review",
        help="the review after a run (HTML, and PDF with --pdf), from Airflow's REST API",
    )
    add_plan_argument(command)
    command.add_argument(
        "--run",
        required=True,
        metavar="DAG_ID/RUN_ID",
        help="the run, e.g. resa_dr1/manual__2027-01-16T08:00:00+00:00",
    )
    command.add_argument("--out", required=True, help="the .html file to write")
    command.add_argument("--pdf", help="also print it to this .pdf file (Chromium)")
    add_api_arguments(command)


def _checked(args: argparse.Namespace) -> tuple[Plan, str, str, Credentials]:
    """The plan, the run and the login; UsageError in words before anything is read."""
    if Path(args.out).suffix.lower() not in (".html", ".htm"):
        raise UsageError(_("'{path}': the output must be an .html file").format(path=args.out))
    if args.pdf is not None:
        from transition.results.review_pdf import chromium

        if Path(args.pdf).suffix.lower() != ".pdf":
            raise UsageError(_("'{path}': the PDF must be a .pdf file").format(path=args.pdf))
        if chromium() is None:
            raise UsageError(_("no Chromium to print the PDF: install chromium or omit --pdf"))
    result = compile_plan(load_config(args.plan))
    if result.plan is None:
        raise PlanInvalid(errors_only(result.problems))
    try:
        dag_id, run_id = split_run(args.run)
        credentials = Credentials.from_options(args.url, args.user, args.password)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return result.plan, dag_id, run_id, credentials


def rehearsals(client: ApiClient, plan: Plan) -> list[RunResults]:
    """The newest finished runs of each dry run of the plan (:data:`REHEARSALS` each)."""
    from transition.results.confidence import FINISHED, REHEARSALS

    found = []
    for dag_id in dry_run_dags(client, plan.name):
        runs = client.get(
            f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns",
            {"state": list(FINISHED), "order_by": "-run_after", "limit": REHEARSALS},
        )
        found += [
            run_results(client, dag_id, r["dag_run_id"], records=False)
            for r in runs.get("dag_runs", [])
        ]
    return found


def review_command(args: argparse.Namespace) -> int:
    plan, dag_id, run_id, credentials = _checked(args)
    # deferred: numpy and the page's templates, for this command only
    from transition.results.confidence import DRAWS, confidence
    from transition.results.data import compare_dry_runs
    from transition.results.review import SEED, review_page

    try:
        with ApiClient(credentials) as client:
            results = run_results(client, dag_id, run_id)
            if results.plan != plan.name or results.dry_run not in plan.schedules:
                raise UsageError(
                    _("{run} is a run of plan '{other}', not of '{plan}'").format(
                        run=args.run, other=results.plan, plan=plan.name
                    )
                )
            base = f"/transition/api/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
            view = client.get(f"{base}/steps")  # the run view: the timeline's drawing
            comparison = compare_dry_runs(client, results)
            measured = rehearsals(client, plan)
    except (NotFound, ApiRefused) as exc:
        raise UsageError(str(exc)) from None
    except ApiError as exc:
        print(f"transition: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    found = confidence(plan, results.dry_run, measured, DRAWS, SEED)
    now = dt.datetime.now(dt.UTC)
    page = review_page(plan, view, results, comparison, found, now, args.lang or plan.language)
    try:
        Path(args.out).write_text(page, encoding="utf-8")
    except OSError as exc:
        return cannot_write(args.out, exc)
    return _printed(args, results)


def _printed(args: argparse.Namespace, results: RunResults) -> int:
    written = [args.out]
    if args.pdf is not None:
        from transition.results.review_pdf import PdfError, print_pdf

        try:
            pages = print_pdf(Path(args.out), Path(args.pdf))
        except PdfError as exc:
            print(f"transition: {exc}", file=sys.stderr)
            return EXIT_PROBLEMS
        written.append(f"{args.pdf} ({pages} pages)")
    print(
        _("Wrote {paths}: review of dry run {dry_run}, run {run} ({state}), {steps} steps").format(
            paths=", ".join(written),
            dry_run=results.dry_run,
            run=results.run_id,
            state=results.run_state,
            steps=len(results.steps),
        )
    )
    return EXIT_OK
