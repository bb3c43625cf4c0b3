"""The ``transition`` command: validate, graph, template, sample.

Exit codes: 0 fine, 1 the plan has problems, 2 the command was called the wrong way.
A bad workbook never shows a Python traceback. Messages are in ``--lang``, else in the plan's
default language (its configuration's ``language``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from transition.cli.calendar import add_calendar_parser, calendar_command
from transition.cli.calibrate import add_calibrate_parser, calibrate_command
from transition.cli.evidence import add_evidence_parser, evidence_command
from transition.cli.exit_codes import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from transition.cli.forecast import add_forecast_parser, forecast_command
from transition.cli.report import add_plan_argument, add_report_parser, report_command
from transition.cli.review import add_review_parser, review_command
from transition.errors import PlanInvalid, ProblemsError, UsageError, errors_only, warnings_only
from transition.i18n import _, languages, ngettext, set_language
from transition.local.backup import backup, is_sqlite_file, restore
from transition.local.home_database import home_database, migrate_schema
from transition.local.standalone import airflow_users
from transition.local.standalone import main as standalone_main
from transition.plan.compiler import compile_plan
from transition.plan.config import config_language, load_config
from transition.plan.model import Plan
from transition.plan.summary import dry_run_document, summary
from transition.plan.template import write_template
from transition.workbook.sample import write_sample


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 on usage errors; keep its words
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="transition", description="Run transition (cutover) plans on Airflow.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    validate = commands.add_parser("validate", help="check a plan and summarise it")
    add_plan_argument(validate)

    graph = commands.add_parser(
        "graph", help="the steps and edges of one dry run, after projection"
    )
    graph.add_argument("plan", nargs="?")
    graph.add_argument("--dry-run", required=True, help="dry-run name, e.g. DR1")
    graph.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_calendar_parser(commands)

    template = commands.add_parser("template", help="write a blank workbook in the contract")
    template.add_argument("out", help="the .xlsx file to write")

    sample = commands.add_parser("sample", help="write a realistic synthetic plan")
    sample.add_argument("out", help="the .xlsx file to write")
    sample.add_argument("--steps", type=int, required=True, help="number of step-actions")
    sample.add_argument("--seed", type=int, default=1)

    backup = commands.add_parser(
        "backup", help="copy Airflow's metadata database (every dry run's history)"
    )
    backup.add_argument("out", help="the backup file to write")
    _home_arguments(backup)
    restore = commands.add_parser(
        "restore", help="put a backup back into Airflow's metadata database (Airflow stopped)"
    )
    restore.add_argument("source", help="the backup file to read")
    restore.add_argument(
        "--force",
        action="store_true",
        help="restore even though Airflow seems to run on the database (recent heartbeats)",
    )
    _home_arguments(restore)

    users = commands.add_parser(
        "users", help="the Airflow users of the plan's actors (Simple auth manager setting)"
    )
    users.add_argument("plan", nargs="?")

    add_report_parser(commands)
    add_calibrate_parser(commands)
    add_forecast_parser(commands)
    add_review_parser(commands)
    add_evidence_parser(commands)
    for command in commands.choices.values():  # every command speaks the reader's language
        if not any("--lang" in action.option_strings for action in command._actions):
            command.add_argument(
                "--lang",
                choices=languages(),
                help="language of the messages (default: the plan's, its configuration's `language`)",
            )
    commands.add_parser(
        "standalone",
        help="start Airflow (embedded PostgreSQL, or --sqlite) with the configured plan",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `transition validate | head` ends quietly
    for stream in (
        sys.stdout,
        sys.stderr,
    ):  # file names that are not UTF-8 must not crash a message
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["standalone"]:
        return standalone_main(arguments[1:])
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    set_language(args.lang or config_language(getattr(args, "plan", None)))
    try:
        handler = {
            "validate": _validate,
            "graph": _graph,
            "template": _template,
            "sample": _sample,
            "calendar": calendar_command,
            "users": _users,
            "backup": _backup,
            "restore": _restore,
            "report": report_command,
            "calibrate": calibrate_command,
            "forecast": forecast_command,
            "review": review_command,
            "evidence": evidence_command,
        }[args.command]
        return handler(args)
    except UsageError as exc:
        print(f"transition: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ProblemsError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_PROBLEMS


def _compile(argument: str | None) -> tuple[Plan | None, list, float]:
    started = time.perf_counter()
    result = compile_plan(load_config(argument))
    return result.plan, result.problems, time.perf_counter() - started


def _valid_plan(argument: str | None) -> Plan:
    """The compiled plan, or PlanInvalid (main prints the problems and exits 1)."""
    plan, problems, _seconds = _compile(argument)
    if plan is None:
        raise PlanInvalid(problems)
    return plan


def _validate(args: argparse.Namespace) -> int:
    plan, problems, seconds = _compile(args.plan)
    errors, warnings = errors_only(problems), warnings_only(problems)
    if errors:
        count = ngettext("{count} problem", "{count} problems", len(errors)).format(
            count=len(errors)
        )
        if warnings:
            also = ngettext("{count} warning", "{count} warnings", len(warnings)).format(
                count=len(warnings)
            )
            print(
                _("The plan has {problems} and {warnings}:").format(problems=count, warnings=also),
                file=sys.stderr,
            )
        else:
            print(_("The plan has {problems}:").format(problems=count), file=sys.stderr)
        for problem in errors + warnings:
            print(problem, file=sys.stderr)
        return EXIT_PROBLEMS
    assert plan is not None
    print(summary(plan, seconds))
    for problem in warnings:
        print(problem)
    return EXIT_OK


def _graph(args: argparse.Namespace) -> int:
    plan = _valid_plan(args.plan)
    by_key = {name.casefold(): name for name in plan.schedules}
    name = by_key.get(args.dry_run.casefold())
    if name is None:
        raise UsageError(
            _("unknown dry run '{name}' (dry runs: {names})").format(
                name=args.dry_run, names=", ".join(plan.schedules)
            )
        )
    schedule = plan.schedules[name]
    if args.json:
        print(json.dumps(dry_run_document(plan, name), indent=2, ensure_ascii=False))
        return EXIT_OK
    print(
        _("{dag}: {steps} steps, {edges} edges").format(
            dag=plan.dag_id(name), steps=len(schedule.steps), edges=len(schedule.edges())
        )
    )
    for s in schedule.steps.values():
        after = " " + _("after {steps}").format(steps=", ".join(s.upstream)) if s.upstream else ""
        when = (
            " " + _("at {time}").format(time=f"{s.planned_start:%Y-%m-%d %H:%M}")
            if s.planned_start
            else ""
        )
        print(f"  {s.step_id}{when}{after}")
    return EXIT_OK


def _home_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--home",
        help="the database of `make run` in this folder (e.g. .airflow): its embedded PostgreSQL, "
        "started for the command if Airflow is stopped (default: Airflow's configured database)",
    )
    command.add_argument(
        "--sqlite", action="store_true", help="with --home: its SQLite database (make run --sqlite)"
    )


def _backup(args: argparse.Namespace) -> int:
    if args.home is None:
        print(backup(Path(args.out)))
        return EXIT_OK
    with home_database(Path(args.home), sqlite=args.sqlite) as url:
        print(backup(Path(args.out), url))
    return EXIT_OK


def _restore(args: argparse.Namespace) -> int:
    source = Path(args.source)
    if args.home is None:
        print(restore(source, force=args.force))
        return EXIT_OK
    with home_database(Path(args.home), sqlite=args.sqlite, create=True) as url:
        if not args.sqlite and is_sqlite_file(source):  # a SQLite history into the PostgreSQL
            migrate_schema(url, Path(args.home))
        print(restore(source, url, force=args.force))
    return EXIT_OK


def _users(args: argparse.Namespace) -> int:
    users = airflow_users(_valid_plan(args.plan))
    print(
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=" + ",".join(f"{u}:{r}" for u, r in users.items())
    )
    return EXIT_OK


def _template(args: argparse.Namespace) -> int:
    path = write_template(_out_path(args.out))
    print(_("Wrote {path}").format(path=path))
    return EXIT_OK


def _sample(args: argparse.Namespace) -> int:
    if args.steps < 1:
        raise UsageError(_("--steps must be at least 1"))
    path = write_sample(_out_path(args.out), args.steps, args.seed)
    print(
        _("Wrote {path} ({steps} step-actions, seed {seed})").format(
            path=path, steps=args.steps, seed=args.seed
        )
    )
    return EXIT_OK


def _out_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() != ".xlsx":
        raise UsageError(_("'{path}': the output must be an .xlsx file").format(path=text))
    return path


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
