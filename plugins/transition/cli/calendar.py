"""``transition calendar``: the calendar invitation (.ics) of one person in one dry run.

Without ``--holders``, from the plan alone: the steps the Steps sheet gives ``--owner``. With
``--holders --run RUN_ID``: the steps ``--owner`` holds in that run, as its watch sends them (a step
transferred, or handed over by a cutover manager's substitute, is in its holder's calendar and no
longer in its owner's), read through Airflow's REST API (``--url/--user/--password`` as ``transition
report``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from transition.cli.exit_codes import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from transition.cli.report import add_api_arguments
from transition.errors import ApiError, ApiRefused, NotFound, PlanInvalid, UsageError
from transition.i18n import _, ngettext
from transition.notifications.calendar_ics import (
    calendar_bytes,
    holder_of,
    ics_filename,
    owner_events,
)
from transition.plan.compiler import compile_plan
from transition.plan.config import load_config
from transition.plan.model import Plan
from transition.results.api_client import ApiClient, Credentials
from transition.results.run_holders import run_holders
from transition.vocabulary import DEFAULT_BASE_URL


def add_calendar_parser(commands: argparse._SubParsersAction) -> None:
    """``transition calendar [PLAN] --dry-run DR1 --owner ID [--out FILE] [--run RUN_ID
    [--holders --url URL --user USER --password PW]]``."""
    calendar = commands.add_parser(
        "calendar", help="the calendar invitation (.ics) of one person in one dry run"
    )
    calendar.add_argument("plan", nargs="?")
    calendar.add_argument("--dry-run", required=True, help="dry-run name, e.g. DR1")
    calendar.add_argument(
        "--owner", required=True, help="actor ID of the steps' owner (with --holders: holder)"
    )
    calendar.add_argument(
        "--out",
        help="the .ics file to write (default: <dag id>_<owner>.ics; '-' for standard output)",
    )
    calendar.add_argument(
        "--run", help="an Airflow run id of the dry run: the same UIDs and links as its e-mail"
    )
    calendar.add_argument(
        "--holders",
        action="store_true",
        help="the steps --owner holds in --run (transfers, substitutes), read from Airflow's REST API",
    )
    add_api_arguments(calendar)


def calendar_command(args: argparse.Namespace) -> int:
    result = compile_plan(load_config(args.plan))
    if result.plan is None:
        raise PlanInvalid(result.problems)
    plan = result.plan
    dry_run = {name.casefold(): name for name in plan.schedules}.get(args.dry_run.casefold())
    if dry_run is None:
        raise UsageError(
            _("unknown dry run '{name}' (dry runs: {names})").format(
                name=args.dry_run, names=", ".join(plan.schedules)
            )
        )
    owner = (
        args.owner
        if args.owner in plan.actors
        else {a.casefold(): a for a in plan.actors}.get(args.owner.casefold())
    )
    if owner is None:
        raise UsageError(
            _("unknown owner '{owner}': no such actor in the Actors sheet").format(owner=args.owner)
        )
    try:
        holders = _holders(args, plan, dry_run) if args.holders else None
    except ApiError as exc:  # as transition report: a run or user Airflow refuses is a usage error
        print(f"transition: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, (NotFound, ApiRefused)) else EXIT_PROBLEMS
    events = owner_events(
        plan,
        dry_run,
        owner,
        run_id=args.run,
        base_url=os.environ.get("AIRFLOW__API__BASE_URL") or DEFAULT_BASE_URL,
        holders=holders,
    )
    if not events:
        raise UsageError(
            _("nothing to put in a calendar: {why}").format(
                why=_why_empty(plan, dry_run, owner, holders, args.run)
            )
        )
    data = calendar_bytes(plan, owner, events)
    if args.out == "-":
        sys.stdout.buffer.write(data)
        return EXIT_OK
    path = Path(args.out or ics_filename(plan, dry_run, owner))
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(
            _("cannot write '{path}': {reason}").format(path=path, reason=exc.strerror or exc)
        ) from None
    print(
        ngettext(
            "Wrote {path} ({count} event of {owner} in dry run {dry_run}, times in {timezone})",
            "Wrote {path} ({count} events of {owner} in dry run {dry_run}, times in {timezone})",
            len(events),
        ).format(path=path, count=len(events), owner=owner, dry_run=dry_run, timezone=plan.timezone)
    )
    return EXIT_OK


def _holders(args: argparse.Namespace, plan: Plan, dry_run: str) -> dict[str, str]:
    """The run's holders (step -> actor), from Airflow: UsageError when called the wrong way,
    ApiError when Airflow does not give them."""
    if not args.run:
        raise UsageError(_("--holders needs --run RUN_ID: whose steps are held in which run"))
    try:
        credentials = Credentials.from_options(args.url, args.user, args.password)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with ApiClient(credentials) as client:
        return run_holders(client, plan.dag_id(dry_run), args.run)


def _why_empty(
    plan: Plan, dry_run: str, owner: str, holders: dict[str, str] | None, run_id: str | None
) -> str:
    held = [s for s in plan.schedules[dry_run].steps if holder_of(plan, s, holders) == owner]
    if held:
        return _(
            "none of the {count} steps of {owner} in dry run {dry_run} has a planned time (they start when their "
            "prerequisites are closed)"
        ).format(count=len(held), owner=owner, dry_run=dry_run)
    if holders is not None:
        return _("{owner} holds no step of run {run} of dry run {dry_run}").format(
            owner=owner, run=run_id, dry_run=dry_run
        )
    return _("{owner} owns no step in dry run {dry_run}").format(owner=owner, dry_run=dry_run)
