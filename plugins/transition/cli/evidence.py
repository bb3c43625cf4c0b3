"""``transition evidence --run DAG_ID/RUN_ID --out pack.zip``: a run's evidence pack; ``transition
evidence verify pack.zip``: whether it holds (:mod:`transition.results.evidence`).

Reads through Airflow's REST API as ``transition report`` does (``--url/--user/--password``). The
key is ``--key``, else ``$TRANSITION_EVIDENCE_KEY``, else the password of the Airflow connection
``transition_evidence``. Exit codes: 0 written or verified; 2 called the wrong way, or the pack does
not hold (the sentence names the file, entry or signature); 1 Airflow could not be asked, or the
pack could not be written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from transition import settings
from transition.cli.exit_codes import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from transition.cli.report import add_api_arguments, cannot_write
from transition.errors import ApiError, ApiRefused, EvidenceInvalid, NotFound, UsageError
from transition.i18n import _
from transition.results.api_client import ApiClient, Credentials
from transition.results.data import RunResults, compare_dry_runs, run_results, split_run
from transition.results.evidence import FACTS, JOURNAL, build_pack, facts_file, verify_pack
from transition.results.evidence_against import differences
from transition.results.evidence_facts import RunEvidence, journal_facts, read_evidence
from transition.runs.journal import KEY_CONNECTION, deployment_key

Read = TypeVar("Read")


def add_evidence_parser(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "evidence",
        help="a run's evidence pack (facts, plan of record, results, review; signed), or verify one",
    )
    command.add_argument("--plan", help="config.yaml or a bare .xlsx, for the review")
    command.add_argument("--run", metavar="DAG_ID/RUN_ID", help="the run, e.g. resa_dr1/manual__1")
    command.add_argument("--out", help="the .zip file to write")
    _key_argument(command)
    add_api_arguments(command)
    actions = command.add_subparsers(dest="evidence_action", parser_class=type(command))
    verify = actions.add_parser("verify", help="check a pack's hashes, journal and signature")
    verify.add_argument("pack", help="the evidence pack (.zip)")
    verify.add_argument(
        "--against-airflow",
        action="store_true",
        help="also compare the journal with what Airflow's database holds now (--url, --user)",
    )
    _key_argument(verify)
    add_api_arguments(verify)


def _key_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--key",
        default=argparse.SUPPRESS,
        help="the signing key (default: $TRANSITION_EVIDENCE_KEY, else the password of "
        "the Airflow connection transition_evidence)",
    )


def evidence_key(option: str | None) -> bytes:
    """The key: the option, the setting, the Airflow connection; UsageError in words without one."""
    key = option.encode() if option else deployment_key()
    if not key:
        raise UsageError(
            _(
                "no key to sign or verify the pack: give --key, set ${name}, or give the Airflow "
                "connection {connection} a password"
            ).format(name=settings.EVIDENCE_KEY, connection=KEY_CONNECTION)
        )
    return key


def evidence_command(args: argparse.Namespace) -> int:
    if args.evidence_action == "verify":
        return _verify(args)
    if not args.run or not args.out:
        raise UsageError(_("give --run DAG_ID/RUN_ID and --out pack.zip (or: evidence verify)"))
    if Path(args.out).suffix.lower() != ".zip":
        raise UsageError(_("'{path}': the output must be a .zip file").format(path=args.out))
    key = evidence_key(getattr(args, "key", None))

    def read(client: ApiClient, dag_id: str, run_id: str) -> tuple[RunEvidence, dict[str, bytes]]:
        results = run_results(client, dag_id, run_id)
        evidence = read_evidence(client, dag_id, run_id)
        return evidence, _files(args, client, results, evidence)

    found = _read(args, args.run, read)
    if found is None:
        return EXIT_PROBLEMS
    evidence, files = found
    facts = journal_facts(evidence)
    files[FACTS] = facts_file(facts)
    made_at = dt.datetime.now(dt.UTC)
    pack = build_pack(args.run, evidence.journal, evidence.signed, files, key, made_at)
    try:
        Path(args.out).write_bytes(pack)
    except OSError as exc:
        return cannot_write(args.out, exc)
    print(
        _(
            "Wrote {path}: run {run}, {entries} journal entries ({signed}), files {files}; signed"
        ).format(
            path=args.out,
            run=args.run,
            entries=len(evidence.journal),
            signed=_signed(evidence.signed),
            files=", ".join(sorted(files)),
        )
    )
    return EXIT_OK


def _read(
    args: argparse.Namespace, run: str, read: Callable[[ApiClient, str, str], Read]
) -> Read | None:
    """What ``read`` reads of the run through the REST API; None when Airflow could not be asked
    (said); UsageError for a run or a user it refuses."""
    try:
        dag_id, run_id = split_run(run)
        credentials = Credentials.from_options(args.url, args.user, args.password)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        with ApiClient(credentials) as client:
            return read(client, dag_id, run_id)
    except (NotFound, ApiRefused) as exc:
        raise UsageError(str(exc)) from None
    except ApiError as exc:
        print(f"transition: {exc}", file=sys.stderr)
        return None


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _files(
    args: argparse.Namespace, client: ApiClient, results: RunResults, evidence: RunEvidence
) -> dict[str, bytes]:
    """The pack's files besides the journal: the recap, the plan of record with the workbook
    and configuration as they were (``plan/<name>``, when kept), the results workbook and the
    review (when the plan given, or the configured one, is the run's)."""
    from transition.results.plan_record import plan_files
    from transition.results.workbook import write_results

    comparison = compare_dry_runs(client, results)
    files = {
        "recap.json": _json(evidence.recap),
        "plan_of_record.json": _json(evidence.plan_of_record),
        **plan_files(client, results.dag_id, results.run_id),
    }
    with tempfile.TemporaryDirectory() as folder:
        workbook = Path(folder) / "results.xlsx"
        write_results(workbook, results, comparison)
        files["results.xlsx"] = workbook.read_bytes()
    review = _review(args, client, results, evidence, comparison)
    if review is not None:
        files["review.html"] = review.encode()
    return files


def _review(
    args: argparse.Namespace,
    client: ApiClient,
    results: RunResults,
    evidence: RunEvidence,
    comparison: list,
) -> str | None:
    """The run's review page; None when the plan here is not the run's (or has problems)."""
    from transition.cli.review import rehearsals
    from transition.errors import TransitionError
    from transition.plan.compiler import compile_plan
    from transition.plan.config import load_config

    try:
        plan = compile_plan(load_config(args.plan)).plan
    except TransitionError:
        plan = None
    if plan is None or plan.name != results.plan or results.dry_run not in plan.schedules:
        print(
            "transition: " + _("no review in the pack: the plan here is not the run's"),
            file=sys.stderr,
        )
        return None
    # deferred: numpy and the page's templates, for the review only
    from transition.results.confidence import DRAWS, confidence
    from transition.results.review import SEED, review_page

    found = confidence(plan, results.dry_run, rehearsals(client, plan), DRAWS, SEED)
    now = dt.datetime.now(dt.UTC)
    lang = args.lang or plan.language
    return review_page(plan, evidence.recap, results, comparison, found, now, lang)


def _signed(signed: bool) -> str:
    return (
        _("each entry signed by the api-server") if signed else _("entries not signed one by one")
    )


def _verify(args: argparse.Namespace) -> int:
    key = evidence_key(getattr(args, "key", None))
    try:
        data = Path(args.pack).read_bytes()
    except OSError as exc:
        raise UsageError(
            _("cannot read '{path}': {reason}").format(path=args.pack, reason=exc.strerror or exc)
        ) from None
    try:
        verified = verify_pack(data, key)
    except EvidenceInvalid as exc:
        return _does_not_hold(args.pack, [str(exc)])
    print(
        _(
            "{path} holds: run {run}, made {made_at}; {files} files and {entries} journal entries "
            "as signed ({signed})"
        ).format(
            path=args.pack,
            run=verified.run,
            made_at=verified.made_at,
            files=verified.files,
            entries=verified.entries,
            signed=_signed(verified.signed),
        )
    )
    if not args.against_airflow:
        return EXIT_OK
    return _against_airflow(args, data, verified.run)


def _does_not_hold(path: str, why: list[str]) -> int:
    for reason in why:
        print(
            "transition: " + _("{path} does not hold: {why}").format(path=path, why=reason),
            file=sys.stderr,
        )
    return EXIT_USAGE


def _against_airflow(args: argparse.Namespace, data: bytes, run: str) -> int:
    """The pack's journal against Airflow's database now: each difference named (exit 2)."""
    with zipfile.ZipFile(io.BytesIO(data)) as pack:
        lines = pack.read(JOURNAL).decode().splitlines()
    live = _read(args, run, read_evidence)
    if live is None:
        return EXIT_PROBLEMS
    found = differences(lines, live)
    if found:
        return _does_not_hold(args.pack, found)
    print(
        _("Airflow's database holds what the journal says: {entries} entries").format(
            entries=len(lines)
        )
    )
    return EXIT_OK
