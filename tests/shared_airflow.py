"""One Airflow per flavour, shared by the end-to-end files whose tests need no fresh one (issue 26).

A shared server serves one plan (``sec``) with a dry run per use, so each test has DAGs of its own:

- ``DR1``, ``DR2`` and ``RACE``: the attacks (tests/security/test_attacks.py);
- ``FUZZ``: the plugin's API fuzzed (tests/security/test_api_fuzz.py, standalone only);
- ``GATES``: a plan with a go / no-go gate (tests/e2e/test_e2e_gates.py);
- ``OPS``: who may act, transfers and defects (tests/e2e/test_e2e_operations.py, standalone only);
- ``EDIT``: the workbook edited during a run (tests/e2e/test_e2e_plan_edits.py, standalone only);
- ``DRY``: a whole dry run played by its owners (tests/e2e/test_e2e_dry_run.py);
- ``CAL``: calendar invitations (tests/e2e/test_e2e_calendar.py, standalone only);
- ``AUTO``: automated steps and checks, and people taking over (tests/e2e/test_e2e_automation.py);
- ``NOW``, ``SOON``, ``ANY`` and ``KILL``: each answer once (tests/e2e/test_e2e_answer_once.py,
  whose third flavour, Airflow's stock executor, starts a server of its own with this plan).

The people are the security tests' (``people.ACTORS``, mia the one cutover manager) and oscar, an
outsider who reads English; eve and oscar hold no step in any dry run, so every refusal of an
outsider stays meaningful whichever DAG it is tried on. The standalone flavour is served under a
root path (``/airflow``), as behind a reverse proxy; e-mails go to one SMTP server per shared server.

The tests of a shared server (``SHARED_FILES``) run on one pytest-xdist worker, one after the other
(``work_unit``, the scheduler in ``tests/conftest.py``), and the server stops once its last test is
done.
Each test writes the plan again right before it triggers (:meth:`Shared.prepare`: the dates are
counted from that moment, never from the server's start) and leaves no run of its DAGs running.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import zoneinfo
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from airflow_server import FLAVOURS, AirflowServer, airflow_with_mail
from conftest import write_config, write_xlsx
from people import ACTORS
from smtp_server import SmtpServer
from throwaway_postgres import throwaway_database
from transition.runs import plan_of_record
from transition.runs.plan_of_record import record_key
from transition.store.plan_store import load_plan
from webhook_receiver import WebhookReceiver

if TYPE_CHECKING:
    from ssh_server import SshServer  # asyncssh: imported by the servers that use it

ZONE = zoneinfo.ZoneInfo("Europe/Brussels")
NAME = "sec"
ROOT_PATH = "/airflow"  # the standalone flavour's [api] base_url path
OUTSIDER = ["oscar", "Oscar Outsider", "oscar@example.com", "Other", "", "", "en"]
RACES = 8  # the attacks' race steps (R1..R8)
RUNNING = ("queued", "running")  # the states of a run not ended
DRY_RUNS = (
    "DR1",
    "DR2",
    "RACE",
    "FUZZ",
    "GATES",
    "OPS",
    "EDIT",
    "DRY",
    "NOW",
    "SOON",
    "ANY",
    "KILL",
    "CAL",
    "AUTO",
)
# Step rows of the DRY dry run: ID -> prerequisites; owners in turn, a minute each.
DRY_STEPS = {
    "S01": "",
    "S02": "",
    "S03": "S02",
    "S04": "S02",
    "S05": "S03",
    "S06": "S04",
    "S07": "S05, S06",
    "S08": "S01, S07",
    "S09": "S07",
    "S10": "S08",
    "S11": "S09",
    "S12": "S10, S11",
    "S13": "S12",
    "S14": "S12",
    "S15": "S13",
    "S16": "S14",
    "S17": "S15, S16",
    "S18": "S17",
    "S19": "S17",
    "S20": "S18, S19",
}
DRY_OWNERS = ("alice", "bob", "carol")
# Steps of NOW, SOON and ANY (answered at once, a little later, whenever): ID -> (prerequisites,
# owner, phase, kind, approvals). M waits for A1 and A2, Q is a gate (two Go: alice, then her team
# leader carol), Z for C1 and C2, F the fallback skipped on Go.
ONCE_STEPS = {
    "A1": ("", "alice", "CO", "", ""),
    "A2": ("", "bob", "CO", "", ""),
    "M": ("A1, A2", "carol", "CO", "", ""),
    "Q": ("M", "alice", "CO", "gate", 2),
    "C1": ("Q", "bob", "CO", "", ""),
    "C2": ("Q", "alice", "CO", "", ""),
    "Z": ("C1, C2", "carol", "DC", "", ""),
    "F": ("Q", "bob", "FB-RB", "", ""),
}
KILL_STEPS = {"K1": ("", "alice"), "K2": ("K1", "bob")}  # KILL: a step's process killed
HEADER = ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner", "Start", "Duration"]
HEADER += ["Kind", "Approvals", "Description", "Action", "Expect"]
# AUTO's steps (X: automated, V: checks, GX a gate resting on them, W and WB a person's), run by
# the actions of CATALOGUE: X1 runs, X2 fails until the test writes its flag file, X3 always fails,
# X4 sleeps while its flag file exists (its process is killed), V1 measures 1200 (>= 1000: it
# passes), V2 1190 (not within 0.5% of V1: it fails); X5 inserts a row in the shared server's
# database (on the machine's PostgreSQL), V3 counts it, X6 tells the server's HTTP receiver, X8
# runs a command on the server's SSH server; X7 waits for its holder's Start (Approvals before),
# then runs.
AUTO_STEPS = [
    ["X1", "Export the register", "CO", "AUTO", "", "alice", "", "", "auto", "", ""]
    + ["export(region=LIEGE)"],
    ["X2", "Load the register", "CO", "AUTO", "X1", "bob", "", "", "auto", "", ""] + ["needs_flag"],
    ["X3", "Call the market hub", "CO", "AUTO", "X1", "alice", "", "", "auto", "", ""]
    + ["refused"],
    ["V1", "Count the EANs", "CO", "AUTO", "X1", "alice", "", "", "check", "", ""]
    + ["count(table=ean)", ">= 1000"],
    ["V2", "Count the billed EANs", "CO", "AUTO", "V1", "bob", "", "", "check", "", ""]
    + ["count(table=billing)", "between 99.5% and 100.5% of V1"],
    ["X4", "Reindex the register", "CO", "AUTO", "X1", "carol", "", "", "auto", "", ""] + ["slow"],
    ["X5", "Load the EANs", "CO", "AUTO", "X1", "bob", "", "", "auto", "", ""]
    + ["load_ean(region=LIEGE)"],
    ["V3", "Count the loaded EANs", "CO", "AUTO", "X5", "bob", "", "", "check", "", ""]
    + ["count_ean(region=LIEGE)", "between 1 and 1"],
    ["X6", "Tell the market hub", "CO", "AUTO", "V3", "alice", "", "", "auto", "", ""]
    + ['notify_hub(phase="Counts checked, go")'],
    ["X8", "Archive the EANs", "CO", "AUTO", "V3", "bob", "", "", "auto", "", ""]
    + ["archive(region=LIEGE)"],
    ["X7", "Export the Namur register", "CO", "AUTO", "X1", "alice", "", "", "auto", "before"]
    + ["", "export(region=NAMUR)"],
    ["GX", "Go / no-go: the counts", "CO", "AUTO", "V2", "alice", "", "", "gate"],
    ["W", "Open the market", "DC", "AUTO", "X2, X3, X4, X6, X7, X8, GX", "carol"],
    ["WB", "Restore the register", "FB-RB", "AUTO", "GX", "bob"],
]
AUTO_FLAG = "flag.txt"  # X2's action fails while this file is missing from the plan's folder
# X4's action, while SLOW_FLAG is in the plan's folder, writes SLOW_STARTED and sleeps (to be killed).
SLOW_FLAG, SLOW_STARTED = "slow.txt", "slow-started.txt"
CATALOGUE = """
actions:
  export:
    kind: bash
    command: echo "exported $TRANSITION_ARG_REGION"
    parameters:
      region: {type: choice, choices: [LIEGE, NAMUR]}
  needs_flag:
    kind: bash
    command: 'test -f flag.txt || { echo "flag.txt is missing"; exit 3; }; echo "found the flag"'
  refused:
    kind: bash
    command: 'echo "the hub refused the call"; exit 1'
  slow:
    kind: bash
    command: 'if test -f slow.txt; then echo started > slow-started.txt; sleep 300; fi; echo reindexed'
  load_ean:
    kind: sql
    connection: auto_db
    sql: INSERT INTO ean (region) VALUES (%(region)s)
    parameters:
      region: {type: text}
  count_ean:
    kind: sql
    connection: auto_db
    sql: SELECT count(*) FROM ean WHERE region = %(region)s
    parameters:
      region: {type: text}
  notify_hub:
    kind: http
    connection: auto_hub
    endpoint: /api/notify
    parameters:
      phase: {type: text}
  archive:
    kind: ssh
    connection: auto_remote
    command: echo "archived $TRANSITION_ARG_REGION in $PWD"
    parameters:
      region: {type: text}
  count:
    kind: python
    callable: "counts:count"
    parameters:
      table: {type: text}
"""
COUNTS = 'def count(table):\n    return {"ean": 1200, "billing": 1190}[table]\n'


def _acts() -> tuple[str, ...]:
    """What the subject of an e-mail telling a person's act holds, in each language."""
    from transition.i18n import _, use_language

    parts: list[str] = []
    for language in ("en", "fr"):
        with use_language(language):
            parts += [f" - {_('Transfer')}"]
            parts += [
                _(text).partition("{")[0]
                for text in (
                    "Blocking defect: {title}",
                    "Blocking defect on the run: {title}",
                    "Substitute: {absent} → {substitute}",
                )
            ]
    return tuple(parts)


ACTS = _acts()


def dag_id(dry_run: str) -> str:
    return f"{NAME}_{dry_run.lower()}"


def relative(moment: dt.datetime, d_day: dt.date) -> str:
    return f"D{(moment.date() - d_day).days:+d} {moment:%H:%M:%S}"


def calendar_steps(edited: bool) -> list[list[Any]]:
    """CAL's steps: CA and CC timed (CA across the clocks' change of CAL's D-day), CB after CA,
    CN untimed. Edited during the run: CC an hour later, CB handed from bob to alice."""
    c_start, b_owner = ("D+0 10:00", "alice") if edited else ("D+0 09:00", "bob")
    return [
        ["CA", "Stop <billing> & co", "AC", "CAL", "", "alice", "D+0 01:30", "2h"]
        + ["", "", "Run **stop.sh**."],
        ["CB", "Export EAN register", "CO", "CAL", "CA", b_owner, "", "1h"],
        ["CC", "Switch gateway", "CO", "CAL", "CB", "alice", c_start, "30m"],
        ["CN", "Notify the market", "CO", "CAL", "", "carol", "", "15m"],  # no planned time
    ]


def next_dst_change(today: dt.date) -> dt.date:
    """The next day clocks change in Europe (last Sunday of March or October), at least 3 days
    ahead: CAL's D-day."""

    def last_sunday(year: int, month: int) -> dt.date:
        day = dt.date(year, month, 31)
        return day - dt.timedelta(days=(day.weekday() - 6) % 7)

    days = sorted(last_sunday(y, m) for y in (today.year, today.year + 1) for m in (3, 10))
    return next(d for d in days if d >= today + dt.timedelta(days=3))


def steps(
    d_day: dt.date, dry_starts: dict[str, dt.datetime], calendar_edited: bool = False
) -> list[list[Any]]:
    """Every dry run's steps; a step in several dry runs is one row (its ``Dry runs`` lists them)."""
    rows: list[list[Any]] = [HEADER]
    rows += [
        ["A", "Stop the market gateway", "AC", "DR1, DR2, FUZZ, GATES, OPS", "", "alice", "", "2h"],
        ["B", "Back up the databases", "AC", "DR1, DR2, FUZZ, OPS", "A", "bob", "", "2h"],
        ["C", "Drain the queues", "AC", "DR1, DR2", "", "bob", "", "2h"],
        ["D", "Export the register", "AC", "DR1, DR2", "", "alice", "", "2h"],
        ["E", "Announce the stop", "AC", "DR1, DR2", "", "alice", "", "2h"],
    ]
    rows += [
        [f"R{n}", f"Race {n}", "CO", "RACE", "", "alice", "", "2h"] for n in range(1, RACES + 1)
    ]
    rows += [
        ["G", "Go / no-go: point of no return", "CO", "GATES", "A", "alice", "", "", "gate", 2],
        ["F1", "Switch DNS", "CO", "GATES", "G", "bob"],
        ["F2", "Open the gates", "CO", "GATES", "F1", "bob"],
        ["B1", "Restore the old system", "FB-RB", "GATES", "G", "frank"],
        ["B2", "Tell the market", "FB-RB", "GATES", "B1", "frank"],
        ["J", "Smoke tests", "DC", "GATES", "F2, B2", "alice"],
    ]
    rows += [
        ["EA", "Freeze billing", "AC", "EDIT", "", "alice"],
        ["EB", "Migrate EAN register", "CO", "EDIT", "EA", "bob"],
    ]
    rows += [
        [step, f"Step {step}", phase, "NOW, SOON, ANY", pre, owner, "", "", kind, approvals]
        for step, (pre, owner, phase, kind, approvals) in ONCE_STEPS.items()
    ]
    rows += [[s, f"Step {s}", "CO", "KILL", pre, owner] for s, (pre, owner) in KILL_STEPS.items()]
    rows += calendar_steps(calendar_edited)
    rows += AUTO_STEPS
    for number, (step, prerequisites) in enumerate(DRY_STEPS.items()):
        start = relative(dry_starts[step], d_day) if step in dry_starts else ""
        owner = DRY_OWNERS[number % 3]
        rows.append([step, f"Step {step}", "CO", "DRY", prerequisites, owner, start, "1m"])
    return rows


def write_plan(
    folder: Path,
    dry_starts: dict[str, dt.datetime] | None = None,
    calendar_edited: bool = False,
) -> None:
    """The shared workbook and configuration, dated from now (D-day today; DR2 in a month, CAL on
    the next change of the clocks). Written beside and moved in: Airflow never reads half of it."""
    today = dt.datetime.now(ZONE).date()
    d_days = {"DR2": today + dt.timedelta(days=30), "CAL": next_dst_change(today)}
    # GATES must end within 3h: on No-go its fallback (B1, B2, J: 30m each, drawn) runs after G,
    # so G's latest safe decision is within the hour, and its warning (2h before) due at once.
    ends = {"GATES": (dt.datetime.now(ZONE) + dt.timedelta(hours=3)).replace(tzinfo=None)}
    write_xlsx(
        folder / "plan.tmp.xlsx",
        {
            "Steps": steps(today, dry_starts or {}, calendar_edited),
            "Actors": [*ACTORS, OUTSIDER],
            "DryRuns": [["Name", "D-day", "End"]]
            + [[d, d_days.get(d, today), ends.get(d)] for d in DRY_RUNS],
        },
    )
    os.replace(folder / "plan.tmp.xlsx", folder / "plan.xlsx")
    (folder / "actions.yaml").write_text(CATALOGUE, encoding="utf-8")
    (folder / "counts.py").write_text(COUNTS, encoding="utf-8")
    write_config(
        folder / "config.yaml",
        "plan.xlsx",
        name=NAME,
        cutover_managers=["mia"],
        weekly_report=None,
        actions="actions.yaml",
        escalation={"gate_warning": "2h"},
    )


@dataclass
class Shared:
    """A shared server, its SMTP server and the folder of its plan."""

    server: AirflowServer
    smtp: SmtpServer
    folder: Path
    hub: WebhookReceiver  # what AUTO's HTTP actions call (connection auto_hub)
    database: Any  # the engine of AUTO's SQL actions' database (connection auto_db)
    remote: SshServer  # where AUTO's SSH actions run (connection auto_remote)
    # Runs deleted and triggered again under the same ID (dag_id/run_id -> times): each time, its
    # Ready e-mails are owed again (the attack that checks such a run inherits no records).
    rerun: Counter[str] = field(default_factory=Counter)

    def prepare(self, dry_starts: dict[str, dt.datetime] | None = None) -> AirflowServer:
        """Write the plan again (its dates counted from now) and have Airflow parse it before the
        caller triggers: one DAG file holds every dry run, so one reparse does for all."""
        write_plan(self.folder, dry_starts)
        self.server.reparse(dag_id("DR1"))
        return self.server

    @contextmanager
    def use(
        self, dry_starts: dict[str, dt.datetime] | None = None
    ) -> Iterator[tuple[AirflowServer, SmtpServer]]:
        """:meth:`prepare`, then the server and its SMTP server; every run ended after."""
        server = self.prepare(dry_starts)
        try:
            yield server, self.smtp
        finally:
            self.end_runs()

    def end_runs(self) -> None:
        """A cutover manager ends every run still queued or running on the server: a test leaves
        nothing for the next one to meet (each dry run: one run at a time)."""
        with self.server.client("mia") as mia:
            for dry_run in DRY_RUNS:
                dag = dag_id(dry_run)
                runs = mia.get(
                    f"/api/v2/dags/{dag}/dagRuns", params={"state": ["queued", "running"]}
                )
                assert runs.status_code == 200, runs.text
                for run in runs.json()["dag_runs"]:
                    ended = mia.patch(
                        f"/api/v2/dags/{dag}/dagRuns/{run['dag_run_id']}", json={"state": "failed"}
                    )
                    assert ended.status_code == 200, ended.text

    def assert_each_mail_once(self) -> None:
        """Across the whole server, once its tests are done: no e-mail about a run's steps (each
        carries ``X-Transition-Run``: Ready, Late, reminders, decisions, Overdue) went twice to the
        same people under the same subject, whichever test it was for. The e-mails that tell a
        person's act (a transfer, a defect, a substitution) are left out: two alike are two acts."""
        sent = Counter(
            (str(m["X-Transition-Run"]), str(m["Subject"]), str(m["To"]))
            for m in self.smtp.messages
            if m["X-Transition-Run"] is not None and not any(a in str(m["Subject"]) for a in ACTS)
        )
        twice = {key: n for key, n in sent.items() if n > 1 + self.rerun[key[0]]}
        assert not twice, f"e-mails sent more than once (run, subject, to: times): {twice}"
        ready = [key for key in sent if key[1].endswith(" - Execution")]
        assert ready, "no Ready e-mail carried its run: the check above checked nothing"

    def assert_nothing_left(self) -> None:
        """Across the whole server, once its tests are done: no run still queued or running, and
        no record (``transition.*`` Variable) left of a run that ended in success: its watch
        deletes them as the run ends, whichever test the run was for; but each such run keeps its
        plan of record and its files (the evidence)."""
        with self.server.client("admin") as admin:
            ended: list[tuple[str, str]] = []
            for dry_run in DRY_RUNS:
                dag = dag_id(dry_run)
                runs = admin.get(f"/api/v2/dags/{dag}/dagRuns", params={"limit": 100}).json()
                running = [r["dag_run_id"] for r in runs["dag_runs"] if r["state"] in RUNNING]
                assert not running, f"{dag}: runs left running: {running}"
                ended += [
                    (dag, r["dag_run_id"]) for r in runs["dag_runs"] if r["state"] == "success"
                ]
            keys: list[str] = []
            while True:  # a page at a time (Airflow serves at most 100 a request)
                page = admin.get("/api/v2/variables", params={"limit": 100, "offset": len(keys)})
                assert page.status_code == 200, page.text
                keys += [v["key"] for v in page.json()["variables"]]
                if not page.json()["variables"] or len(keys) >= page.json()["total_entries"]:
                    break
        left = [
            key
            for key in keys
            for dag, run in ended
            if key.startswith("transition.")
            # kept on purpose: the evidence (the plan of record, the files as the run started)
            and not key.startswith((plan_of_record.PREFIX, plan_of_record.FILES_PREFIX))
            and (key.endswith(f"/{dag}/{run}") or f"/{dag}/{run}/" in key)
        ]
        assert not left, f"records left of runs that ended: {left}"
        recorded = {(dag, run) for dag, run in ended if record_key(dag, run) in keys}
        assert recorded == set(ended), f"runs without their plan of record: {set(ended) - recorded}"


class SharedServers:
    """The shared servers of one pytest worker, started on first use, stopped after their last test."""

    def __init__(self, factory: pytest.TempPathFactory):
        self.factory = factory
        self.running: dict[str, tuple[Shared, ExitStack]] = {}
        self.failed: dict[str, str] = {}  # flavour -> why its start failed: not tried again

    def get(self, flavour: str) -> Shared:
        if flavour in self.failed:
            raise RuntimeError(
                f"the shared {flavour} Airflow did not start:\n{self.failed[flavour]}"
            )
        if flavour not in self.running:
            try:
                self.running[flavour] = self._start(flavour)
            except Exception as error:
                self.failed[flavour] = f"{type(error).__name__}: {error}"
                raise
        return self.running[flavour][0]

    def _start(self, flavour: str) -> tuple[Shared, ExitStack]:
        assert flavour in FLAVOURS
        folder = self.factory.mktemp(f"shared-{flavour}")
        write_plan(folder)
        plan = load_plan(folder / "config.yaml").plan
        # The standalone flavour is served under a root path, as behind a reverse proxy.
        root_path = ROOT_PATH if flavour == "standalone" else ""
        with ExitStack() as stack:  # stops what it started when the start fails
            database = stack.enter_context(throwaway_database("shared_auto"))
            with database.begin() as db:
                db.execute(sa.text("CREATE TABLE ean (region text)"))
            hub = stack.enter_context(WebhookReceiver(answer="accepted"))
            from ssh_server import SshServer

            (folder / "remote").mkdir()
            remote = stack.enter_context(SshServer(folder / "remote"))
            url = database.url
            extra = {
                "AIRFLOW_CONN_AUTO_HUB": hub.http_connection(),
                "AIRFLOW_CONN_AUTO_REMOTE": remote.connection(),
                "AIRFLOW_CONN_AUTO_DB": json.dumps(
                    {
                        "conn_type": "postgres",
                        "host": url.host,
                        "port": url.port,
                        "login": url.username,
                        "schema": url.database,
                    }
                ),
            }
            server, smtp = stack.enter_context(
                airflow_with_mail(
                    folder, plan, flavour=flavour, root_path=root_path, extra_env=extra
                )
            )
            for dry_run in DRY_RUNS:
                server.wait_for_dag(dag_id(dry_run))
            return Shared(server, smtp, folder, hub, database, remote), stack.pop_all()
        raise AssertionError("unreachable")  # for mypy: ExitStack may swallow an exception

    def stop(self, flavour: str) -> None:
        shared, stack = self.running.pop(flavour, (None, None))
        if shared is None or stack is None:
            return
        started = time.monotonic()
        with stack:
            shared.assert_nothing_left()
            shared.assert_each_mail_once()
        print(f"shared {flavour} Airflow stopped in {time.monotonic() - started:.1f} s")

    def stop_all(self) -> None:
        for flavour in list(self.running):
            self.stop(flavour)


# The files whose tests use a shared server: file -> its flavour, or None where the flavour is the
# test's parameter (its id: ``[standalone]``, ``[postgres-celery]``).
SHARED_FILES: dict[str, str | None] = {
    "tests/security/test_attacks.py": None,
    "tests/security/test_api_fuzz.py": "standalone",
    "tests/e2e/test_e2e_gates.py": None,
    "tests/e2e/test_e2e_automation.py": None,
    "tests/e2e/test_e2e_operations.py": "standalone",
    "tests/e2e/test_e2e_plan_edits.py": "standalone",
    "tests/e2e/test_e2e_dry_run.py": None,
    "tests/e2e/test_e2e_answer_once.py": None,
    "tests/e2e/test_e2e_calendar.py": "standalone",
}
# Parameters of those files' tests that start a server of their own (their unit: the file).
OWN_SERVER = {"stock-local-executor"}


def shared_flavour(nodeid: str) -> str | None:
    """The flavour of the shared server the test ``nodeid`` uses, None when it uses none."""
    path, _, name = nodeid.partition("::")
    if path not in SHARED_FILES:
        return None
    fixed = SHARED_FILES[path]
    if fixed is not None:
        return fixed
    param = name[name.find("[") + 1 : name.rfind("]")] if "[" in name else ""
    if param in OWN_SERVER:
        return None
    assert param in FLAVOURS, f"{nodeid}: which shared server? (its parameter is {param!r})"
    return param


def work_unit(nodeid: str) -> str:
    """What pytest-xdist sends to one worker with ``nodeid`` (``make test``): its shared server's
    tests, else its file's."""
    flavour = shared_flavour(nodeid)
    return f"shared-{flavour}" if flavour else nodeid.partition("::")[0]
