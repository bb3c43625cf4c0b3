"""``transition forecast [PLAN] --dry-run LIVE [--run DAG_ID/RUN_ID ...] [--simulations N]``: how
likely a dry run ends by its End, from the plan's rehearsals (issue 29).

Each step's durations measured in the ``--run`` runs (read as ``transition calibrate`` reads them,
through Airflow's REST API; none: every step takes its planned Duration with the spread the docs
state) give its law; ``N`` draws of the whole dry run (:mod:`transition.results.confidence`) give
the end by which it is done in 50, 80 and 95% of them, how often it ends by its End, and the steps
most often on the critical path; with every gate taken Go, and separately No-go.

Exit codes as ``calibrate``: 0 said; 2 called the wrong way; 1 the plan has problems, or Airflow
could not be asked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import zoneinfo
from typing import TYPE_CHECKING

from transition.cli.exit_codes import EXIT_OK, EXIT_PROBLEMS
from transition.cli.report import add_api_arguments, add_plan_argument
from transition.errors import ApiError, ApiRefused, NotFound, PlanInvalid, UsageError, errors_only
from transition.i18n import _, format_moment, ngettext
from transition.plan.compiler import compile_plan
from transition.plan.config import load_config
from transition.results.api_client import ApiClient, Credentials
from transition.results.data import RunResults, run_results, split_run
from transition.workbook.cells import format_duration

if TYPE_CHECKING:  # numpy: imported by the command that draws, not by every command
    from transition.results.confidence import Confidence

DRAWS = 10_000
PERCENTS = (50, 80, 95)
SIMULATIONS = (100, 1_000_000)  # the draws one may ask for
SHOWN_CRITICAL = 8  # the steps named as most often on the critical path


def add_forecast_parser(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "forecast",
        help="how likely a dry run ends by its End, from the durations its rehearsals measured",
    )
    add_plan_argument(command)
    command.add_argument("--dry-run", required=True, help="the dry run to forecast, e.g. LIVE")
    command.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="DAG_ID/RUN_ID",
        help="a rehearsal whose measured durations to use (several: all of them); none: the "
        "planned Durations",
    )
    command.add_argument(
        "--simulations", type=int, default=DRAWS, help=f"draws of the dry run (default {DRAWS})"
    )
    command.add_argument("--seed", type=int, help="the draws' seed (the same seed, the same draws)")
    add_api_arguments(command)


def forecast_command(args: argparse.Namespace) -> int:
    config = load_config(args.plan)
    result = compile_plan(config)
    if result.plan is None:
        raise PlanInvalid(errors_only(result.problems))
    plan = result.plan
    if args.dry_run not in plan.schedules:
        raise UsageError(
            _("unknown dry run '{name}' (dry runs: {names})").format(
                name=args.dry_run, names=", ".join(plan.schedules)
            )
        )
    if not SIMULATIONS[0] <= args.simulations <= SIMULATIONS[1]:
        raise UsageError(
            _("--simulations: from {low} to {high}").format(low=SIMULATIONS[0], high=SIMULATIONS[1])
        )
    from transition.results.confidence import confidence

    try:
        runs = _runs(args)
        found = confidence(plan, args.dry_run, runs, args.simulations, args.seed)
    except ApiError as exc:
        print(f"transition: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except ValueError as exc:  # a run of another plan
        raise UsageError(str(exc)) from None
    print("\n".join(said(found, plan.name, zoneinfo.ZoneInfo(plan.timezone))))
    return EXIT_OK


def _runs(args: argparse.Namespace) -> list[RunResults]:
    if not args.run:
        return []
    try:
        runs = [split_run(text) for text in args.run]
        credentials = Credentials.from_options(args.url, args.user, args.password)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        with ApiClient(credentials) as client:
            return [run_results(client, d, r, records=False) for d, r in runs]
    except (NotFound, ApiRefused) as exc:
        raise UsageError(str(exc)) from None


def said(found: Confidence, plan: str, zone: dt.tzinfo) -> list[str]:
    """The forecast in lines, in the language of use."""
    measured = sum(1 for m in found.models.values() if m.measured)
    first = found.scenarios[0].simulation
    lines = [
        _(
            "Dry run {dry_run} of plan {plan}: {draws} draws; {measured} of its {steps} steps "
            "measured in {runs} runs, the others take their planned Duration."
        ).format(
            dry_run=found.dry_run,
            plan=plan,
            draws=first.draws,
            measured=measured,
            steps=len(found.models),
            runs=found.runs,
        )
    ]
    for scenario in found.scenarios:
        simulation = scenario.simulation
        ends = " · ".join(
            f"P{p} {format_moment(simulation.end_at(p).astimezone(zone), 'short')}"
            for p in PERCENTS
        )
        line = {
            "go": _("Every gate Go: {ends}"),
            "no-go": _("Every gate No-go: {ends}"),
        }.get(scenario.name, "{ends}").format(ends=ends)
        if found.must_end_by is not None:
            line += " · " + _("ends by its End ({end}) in {share:.0%} of the draws").format(
                end=format_moment(found.must_end_by.astimezone(zone), "short"),
                share=simulation.chance_by(found.must_end_by),
            )
        lines.append(line)
        critical = sorted(simulation.criticality.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = [f"{s} {share:.0%}" for s, share in critical[:SHOWN_CRITICAL] if share >= 0.005]
        lines.append(
            "  " + _("Most often on the critical path: {steps}").format(steps=", ".join(shown))
        )
    for safety in found.gates:
        line = _("Gate {gate}: after a No-go the run goes on up to {after} (P95)").format(
            gate=safety.gate, after=format_duration(safety.fallback_p95)
        )
        if safety.latest_safe is not None:
            line += "; " + _("decide by {moment} at the latest").format(
                moment=format_moment(safety.latest_safe.astimezone(zone), "short")
            )
        lines.append(line)
    left_out = {s: m.outliers for s, m in found.models.items() if m.outliers}
    if left_out:
        lines.append(
            ngettext(
                "Left out as an outlier: {measures}",
                "Left out as outliers: {measures}",
                sum(len(v) for v in left_out.values()),
            ).format(
                measures=", ".join(
                    f"{s} ({dt.timedelta(seconds=round(o))})"
                    for s, v in left_out.items()
                    for o in v
                )
            )
        )
    return lines
