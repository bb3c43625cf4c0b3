"""Airflow settings for running a plan, and ``transition standalone`` (what ``make run`` starts).

:func:`airflow_environment` is the one place that says how Airflow is configured for a plan; the
end-to-end tests start Airflow with it too, so what is tested is what users run.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from transition import settings
from transition.errors import TransitionError
from transition.local.demo_database import DEMO_CONNECTION, prepare_demo_database
from transition.local.embedded_database import SUPERUSER, EmbeddedPostgres
from transition.local.keep_running import STOP_SIGNALS, interrupt, keep_running
from transition.local.reaper import start_reaper
from transition.local.run_mark import RUN_MARK, end_marked, mail_mark, new_mark
from transition.local.sample_dates import plan_to_run, sample_dates_notice
from transition.local.secret_files import write_secret
from transition.locations import REPO_ROOT
from transition.plan.config import load_config, resolve_config_path
from transition.plan.model import Plan
from transition.results.api_client import REPORT_USER, connection_json
from transition.store.plan_store import LoadedPlan, load_plan

ADMIN = "admin"
# transition.runner.executor, named as Airflow loads it (a literal: the CLI does not import Airflow's core)
EXECUTOR = "transition.runner.executor.ResumeSafeLocalExecutor"


# Settings for people waiting on each other; docker-compose.yaml has the same (tests/local/test_compose.py).
TUNING = {
    # The supervisor notices a parked task's exit within a second (default 5 s), which narrows the
    # window in which a quick answer races the executor's report (see step_operator).
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
    # New DAG files are seen within 10 s (default 5 min). The plan's two files are parsed again
    # every 30 s (Airflow's default): a workbook edit shows within half a minute, or at once with
    # "Reparse Dag" on the DAG's page. Each parse of a 500-step plan costs about a second of CPU;
    # every 5 s, that was a sixth of a core taken from the steps (BENCHMARKS.md).
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
    # A parse writes the DAG only if the last write is 1 s old (default 30 s): with Airflow's 30 s a
    # "Reparse Dag" within half a minute of the last change of the DAG was parsed and thrown away,
    # and a workbook edit showed only at the next periodic parse. The api-server and the scheduler
    # check their cached DAG against the database as often (one small query).
    "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1",
    # After a loop that changed nothing the scheduler sleeps this long (default 1 s) before looking
    # again. A handover (a step closed, its dependent asking) waits for two of its loops: with a
    # 0.25 s sleep the median handover on a 500-step plan went from 4.0 s to 2.7 s, at the price of
    # the scheduler's CPU while a run is open (40% to 68% of a core with nobody answering: each
    # loop re-checks every waiting task of the run). BENCHMARKS.md, bench/handover.py.
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
    # A try left "running" with no process (its worker lost the api-server in an outage: a start
    # that timed out on the worker's side but reached the api-server as it came back) is failed
    # after this long without a heartbeat, and its next try goes on from the answers (default 300 s:
    # a step answered just before the outage waited five minutes; tests/e2e/test_e2e_faults.py).
    # A task that runs heartbeats every few seconds; a step runs for a second or two.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
    # A task's calls to the api-server wait 30 s, not 5: on a loaded machine (three runs triggered
    # while another Airflow starts) a start that took over 5 s timed out in the worker although the
    # api-server had taken it; Airflow's retry of it then met "already running" and the try failed
    # (recovered by its next try, seconds later: tests/e2e/test_e2e_answer_once.py, 2026-12-07).
    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
}


def compile_bytecode() -> None:
    """Write the bytecode of the plan's code (``plugins/``, ``dags/``) where it is missing or stale.

    Every task Airflow runs is a new process that imports this code; with no bytecode cached (e.g.
    ``PYTHONDONTWRITEBYTECODE`` set, as on some machines and images) each of them compiled it from
    source again: a fifth of a Start's or a Close's time in the worker (bench/handover.py)."""
    for folder in (REPO_ROOT / "plugins", REPO_ROOT / "dags"):
        compileall.compile_dir(folder, quiet=2, workers=1)


def sqlite_path(home: Path) -> Path:
    """The embedded default's database (SQLite), in Airflow's home."""
    return home / "airflow.db"


def prepare_sqlite(home: Path) -> None:
    """Put the embedded default's database in write-ahead-log mode (kept in the file once set).

    With SQLite's default (rollback journal), one writer locks out every reader: the scheduler,
    the dag-processor, the triggerer and the api-server then refuse each other with "database is
    locked". In WAL mode readers and the one writer go on side by side. Call it before Airflow starts.
    """
    path = sqlite_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=30) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def airflow_users(plan: Plan | None) -> dict[str, str]:
    """Airflow users (Simple auth manager) from the Actors sheet: login -> role."""
    users = {ADMIN: "admin"}
    if plan is not None:
        for actor_id in plan.actors:
            users.setdefault(actor_id, "user")
        for manager in plan.cutover_managers:
            users[manager] = "admin"
    return users


def ensure_passwords(path: Path, users: dict[str, str]) -> dict[str, str]:
    """Keep existing passwords, generate one for each new user; the file Airflow reads, written 0600
    from its first byte and replaced atomically (:func:`transition.local.secret_files.write_secret`)."""
    try:
        passwords: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        passwords = {}
    for user in users:
        passwords.setdefault(user, secrets.token_urlsafe(9))
    write_secret(path, json.dumps(passwords, indent=2))
    return passwords


def parallelism(database_url: str) -> int:
    """How many tasks LocalExecutor runs at once: 8 on SQLite (one writer at a time: more only
    queue on its lock), else four per core, at least 8 and at most 32 (a Start or a Close is a
    short task; people waiting hold no slot)."""
    if database_url.startswith("sqlite"):
        return 8
    return max(8, min(32, 4 * (os.cpu_count() or 2)))


def airflow_environment(
    home: Path,
    port: int,
    config_path: Path,
    *,
    users: dict[str, str],
    database_url: str | None = None,
    log_server_ports: tuple[int, int] = (8793, 8794),
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Airflow's settings for a plan. ``database_url``: Airflow's metadata database (the embedded
    PostgreSQL's, see :mod:`embedded_database`); None: SQLite in ``home`` (``--sqlite``)."""
    base_url = f"http://127.0.0.1:{port}"
    database_url = database_url or f"sqlite:///{sqlite_path(home)}"
    env = {
        "AIRFLOW_HOME": str(home),
        settings.CONFIG: str(config_path),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # SQLite (--sqlite) is put in WAL mode (see prepare_sqlite). Its busy timeout stays
        # pysqlite's 5 s: a longer wait outlasts the workers' own timeout on the Execution API
        # (`[workers] execution_api_timeout`, 5 s), and a task whose report timed out while the
        # api-server still wrote it fails its try (measured: with 30 s, a 500-step dry run crawled,
        # its tasks' reports timing out).
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__CORE__PARALLELISM": str(parallelism(database_url)),
        # Airflow's LocalExecutor, less the race that failed a step answered right after it asked.
        "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in users.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        # The validator's words, not a traceback, as the problems file's import error.
        "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_server_ports[0]),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(log_server_ports[1]),
        **TUNING,
    }
    env.update(extra or {})
    return env


def catch_mail(maildir: Path, port: int, env: dict[str, str] | None = None) -> str:
    """Start a local SMTP server that keeps every e-mail in ``maildir``; its Airflow connection.
    It is stopped by its mark (``env``'s :data:`RUN_MARK`)."""
    for part in ("tmp", "new", "cur"):
        (maildir / part).mkdir(parents=True, exist_ok=True)
    subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Mailbox",
            str(maildir),
        ],
        stdin=subprocess.DEVNULL,
        env=env,
    )
    return json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "extra": {
                "disable_ssl": True,
                "disable_tls": True,
                "from_email": "transition@localhost",
            },
        }
    )


OWN_SETTINGS = (
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
)


DEMO_VARIABLE = f"AIRFLOW_CONN_{DEMO_CONNECTION.upper()}"


def choose_database(home: Path, *, sqlite: bool) -> tuple[str | None, EmbeddedPostgres | None]:
    """Airflow's database: the user's own (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``), else SQLite in
    ``home`` with ``--sqlite``, else the embedded PostgreSQL of ``home`` (not started yet)."""
    if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in os.environ:
        return os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], None
    if sqlite:
        return None, None
    return None, EmbeddedPostgres.in_home(home)


def say(text: str) -> None:
    print(f"transition: {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """``transition standalone [--home DIR] [--port N] [--sqlite]``: Airflow with the configured
    plan, on the embedded PostgreSQL (or SQLite, or the database of ``$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``).

    Everything it starts stops with it: on Ctrl-C, SIGTERM or SIGHUP within 15 s; if it is killed
    outright, its reaper (:mod:`transition.local.reaper`) does it."""
    parser = argparse.ArgumentParser(prog="transition standalone")
    parser.add_argument("--home", default=str(REPO_ROOT / ".airflow"))
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--mail-port",
        type=int,
        default=8025,
        help="local mail catcher (when no SMTP connection is set)",
    )
    parser.add_argument(
        "--sqlite",
        action="store_true",
        help="keep Airflow's database in SQLite (HOME/airflow.db) instead of the embedded PostgreSQL",
    )
    args = parser.parse_args(argv)
    previous = {signum: signal.signal(signum, interrupt) for signum in STOP_SIGNALS}
    home = Path(args.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    mark = new_mark()
    own_url, server = choose_database(home, sqlite=args.sqlite)
    demo = None
    try:
        if server is not None:
            first_start = not (server.data_dir / "PG_VERSION").is_file()
            own_url = server.start()
            start_reaper(mark, server)
            where = f" -> {server.real_data_dir}" if server.data_dir.is_symlink() else ""
            print(
                f"Airflow's database: PostgreSQL in {server.data_dir}{where} "
                f"(socket {server.socket_dir})"
            )
            demo = demo_connection(server)
            if first_start and sqlite_path(home).is_file():
                say(
                    f"an earlier SQLite database is in {sqlite_path(home)}: it is kept as it was. "
                    f"Go on with it: make run ARGS=--sqlite. Or move its history here (Airflow "
                    f"stopped): transition restore {sqlite_path(home)} --home {home}"
                )
        else:
            start_reaper(mark, None)
        code = _run_airflow(args, home, own_url, mark, demo)
    except KeyboardInterrupt:
        code = 130
    except TransitionError as error:
        say(str(error))
        code = 1
    finally:
        for signum in STOP_SIGNALS:  # stopping is not interrupted
            signal.signal(signum, signal.SIG_IGN)
        end_marked(mark, grace=1.0)
        end_marked(mail_mark(mark), grace=1.0)
        if server is not None and server.stop():
            print(f"PostgreSQL in {server.data_dir} stopped")
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code


def choose_plan(config_path: Path, home: Path, now: dt.datetime) -> tuple[Path, LoadedPlan]:
    """The configuration Airflow runs, and its plan: the sample's copy dated from ``now``
    (:mod:`transition.local.sample_dates`, said on the terminal), else ``config_path``'s."""
    loaded = load_plan(config_path)
    if loaded.plan is None or loaded.is_stale:
        return config_path, loaded
    dated = plan_to_run(config_path, load_config(config_path).workbook_path, loaded.plan, home, now)
    if dated == config_path:
        return config_path, loaded
    loaded = load_plan(dated)
    if loaded.plan is not None:
        print(sample_dates_notice(loaded.plan, dated.parent))
    return dated, loaded


def demo_connection(server: EmbeddedPostgres) -> str | None:
    """The sample's demo database on the embedded PostgreSQL (its SQL steps' connection), unless
    ``AIRFLOW_CONN_DEMO_DB`` is set; None, said, when it cannot be made (those steps then ask their
    holders to take over)."""
    if DEMO_VARIABLE in os.environ:
        return None
    try:
        return prepare_demo_database(str(server.socket_dir), SUPERUSER)
    except Exception as error:  # the plan still runs; its SQL steps fall back to people
        say(f"the sample's demo database could not be made ({error}); its SQL steps will ask")
        return None


def _uses_demo(loaded: LoadedPlan) -> bool:
    actions = loaded.plan.actions if loaded.plan is not None else {}
    return any(a.connection == DEMO_CONNECTION for a in (actions or {}).values())


def _run_airflow(
    args: argparse.Namespace, home: Path, database_url: str | None, mark: str, demo: str | None
) -> int:
    config_path, loaded = choose_plan(
        resolve_config_path().resolve(), home, dt.datetime.now(dt.UTC)
    )
    users = {
        **airflow_users(loaded.plan),
        REPORT_USER: "viewer",
    }  # the weekly report reads the runs as REPORT_USER
    passwords = ensure_passwords(home / "passwords.json", users)
    # Log server ports of the user's own win over the defaults.
    own = {key: os.environ[key] for key in OWN_SETTINGS if key in os.environ}
    env = airflow_environment(
        home, args.port, config_path, users=users, database_url=database_url, extra=own
    )
    env[RUN_MARK] = mark
    if demo is not None:
        env[DEMO_VARIABLE] = demo
    elif DEMO_VARIABLE not in os.environ and _uses_demo(loaded):
        print(
            f"The plan's SQL steps use the connection {DEMO_CONNECTION}, which make run makes on "
            f"its embedded PostgreSQL only: set {DEMO_VARIABLE}, or their holders are asked to "
            "take over"
        )
    if "AIRFLOW_CONN_TRANSITION_API" not in os.environ:
        env["AIRFLOW_CONN_TRANSITION_API"] = connection_json(
            f"http://127.0.0.1:{args.port}", REPORT_USER, passwords[REPORT_USER]
        )
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    airflow = shutil.which("airflow", path=env["PATH"])
    if airflow is None:
        say("the 'airflow' command is not installed in this environment")
        return 2
    if "AIRFLOW_CONN_SMTP_DEFAULT" not in os.environ:
        env["AIRFLOW_CONN_SMTP_DEFAULT"] = catch_mail(
            home / "mail", args.mail_port, {**os.environ, RUN_MARK: mail_mark(mark)}
        )
        print(
            f"E-mails are caught in {home / 'mail'} (a Maildir: new/ holds one file per e-mail); "
            "set AIRFLOW_CONN_SMTP_DEFAULT to use a real mail server"
        )
    for problem in loaded.problems:
        print(problem, file=sys.stderr)
    print(
        f"Airflow for plan '{loaded.plan.name if loaded.plan else '?'}' at http://127.0.0.1:{args.port}"
    )
    print(
        f"Log in as '{ADMIN}' (password {passwords[ADMIN]}) or as any actor of the workbook, e.g. "
        + ", ".join(f"{u} / {passwords[u]}" for u in list(users)[1:4])
    )
    print(f"All passwords: {home / 'passwords.json'}")
    sys.stdout.flush()
    if env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite"):
        prepare_sqlite(home)
    compile_bytecode()
    return keep_running([airflow, "standalone"], {**os.environ, **env}, mark=mark)
