"""A real Airflow (``airflow standalone``: api-server, scheduler, dag-processor, triggerer) for tests.

Started with the same settings as ``make run`` (:func:`transition.local.standalone.airflow_environment`),
on free ports of 127.0.0.1, in its own process group; stopped by that group's id. Every wait is
bounded in time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from ports import free_port
from smtp_server import SmtpServer
from throwaway_postgres import psql
from transition.local.embedded_database import EmbeddedPostgres
from transition.local.standalone import (
    airflow_environment,
    airflow_users,
    compile_bytecode,
    ensure_passwords,
    prepare_sqlite,
)
from transition.results.api_client import REPORT_USER, connection_json

POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/7"
FLAVOURS = ("standalone", "postgres-celery")  # make run's default, and production's
ALL_FLAVOURS = (*FLAVOURS, "standalone-sqlite")  # and make run --sqlite
# How long a test's request may take before it fails as hung. Not a timing check (bench/ measures
# times): long enough for a 2-core CI machine running two Airflows at once; a request that fails
# (a pool timeout: 500) still fails the test at once.
REQUEST_TIMEOUT = 60.0
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server", "celery worker")


# What `airflow users create` does for one user (airflow.providers.fab ... user_command.users_create),
# for every user read from stdin, in one process.
CREATE_FAB_USERS = """
import json, sys
from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
with get_application_builder() as appbuilder:
    for user in json.load(sys.stdin):
        role = appbuilder.sm.find_role(user["role"])
        assert role is not None, f"no FAB role {user['role']}"
        login = user["login"]
        made = appbuilder.sm.add_user(
            login, login, "FAB", f"{login}@example.com", role, user["password"]
        )
        assert made, f"FAB user {login} not created"
        print(f"FAB user {login} created with role {user['role']}")
"""


class AirflowServer:
    """``standalone``: ``airflow standalone`` (LocalExecutor) on the embedded PostgreSQL of its home,
    as ``make run``; ``standalone-sqlite``: the same on SQLite, as ``make run ARGS=--sqlite``.
    ``postgres-celery``: each component on its own, PostgreSQL (a database made for the test and
    dropped after) and the CeleryExecutor on Redis (a queue of the test's own, removed after)."""

    def __init__(
        self,
        home: Path,
        config_path: Path,
        users: dict[str, str],
        extra_env: dict[str, str] | None = None,
        flavour: str = "standalone",
        queue: str | None = None,
        fab_users: dict[str, str] | None = None,
        root_path: str = "",
    ):
        """``root_path`` (``/airflow``, say): Airflow served under that path of its origin, as
        behind a reverse proxy (``base_url`` includes it, ``origin`` does not). ``fab_users`` (login -> FAB role, e.g. ``User``, ``Admin``): with the FAB auth manager
        (``AIRFLOW__CORE__AUTH_MANAGER`` in ``extra_env``; production flavour only, standalone forces
        the Simple one), these users are made with ``airflow users create`` once the database is
        migrated, with passwords kept in ``passwords`` as the Simple auth manager's are."""
        assert flavour in ALL_FLAVOURS
        assert not fab_users or flavour == "postgres-celery", (
            "airflow standalone always uses the Simple auth manager"
        )
        self.flavour = flavour
        self.home = home
        self.port = free_port()
        self.origin, self.root = f"http://127.0.0.1:{self.port}", root_path
        self.base_url = f"{self.origin}{root_path}"
        self.fab_users = dict(fab_users or {})
        self.passwords = ensure_passwords(home / "passwords.json", {**users, **self.fab_users})
        # make run's embedded PostgreSQL, in this home (started with Airflow, stopped with it)
        self.embedded = EmbeddedPostgres.in_home(home) if flavour == "standalone" else None
        self.env = airflow_environment(
            home,
            self.port,
            config_path,
            users=users,
            database_url=self.embedded.url() if self.embedded else None,
            log_server_ports=(free_port(), free_port()),
            extra=extra_env,
        )
        if root_path:
            self.env["AIRFLOW__API__BASE_URL"] = self.base_url
            self.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{self.base_url}/execution/"
        self.env["TRANSITION_CACHE_DIR"] = str(home / "compiled")
        self.env.setdefault(
            "TRANSITION_WATCH_RECHECK_SECONDS", "5"
        )  # runs end soon after their last step
        self.database = self.queue = None
        if flavour == "postgres-celery":
            suffix = f"{os.getpid()}_{free_port()}"
            # A given queue: task instances restored from another deployment keep the queue they had.
            self.database, self.queue = (
                f"transition_test_{suffix}",
                queue or f"transition_test_{suffix}",
            )
            self.env.update(
                {
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{POSTGRES}/{self.database}",
                    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                    "AIRFLOW__CELERY__BROKER_URL": REDIS,
                    "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://postgres@127.0.0.1:5432/{self.database}",
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "8",
                    "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                    "AIRFLOW__API__PORT": str(self.port),
                }
            )
        self.process: subprocess.Popen | None = (
            None  # the scheduler (production) or airflow standalone
        )
        self.components: dict[
            str, subprocess.Popen
        ] = {}  # component -> process (leader of its own group)
        self.log_path = home / "standalone.log"
        self._tokens: dict[str, str] = {}
        self.last_health: Any = (
            None  # what /api/v2/monitor/health last answered, for failure messages
        )

    # -- life cycle ---------------------------------------------------------------------------
    @property
    def process_env(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        return {**os.environ, **self.env, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}

    def run_cli(self, *args: str) -> subprocess.CompletedProcess:
        """``transition ARGS`` with this Airflow's settings (its database)."""
        transition = shutil.which("transition", path=self.process_env["PATH"])
        return subprocess.run(
            [transition, *args], env=self.process_env, capture_output=True, text=True, timeout=600
        )

    def start(self, timeout: float = 240, prepare: Any = None) -> AirflowServer:
        """Start; ``prepare()`` runs once the (empty) database exists, before Airflow touches it."""
        env = self.process_env
        airflow = shutil.which("airflow", path=env["PATH"])
        assert airflow, "airflow is not installed in the test environment"
        self.home.mkdir(parents=True, exist_ok=True)
        compile_bytecode()  # as `transition standalone` does
        if self.flavour.startswith("standalone"):
            if self.embedded is not None:
                self.embedded.start()  # as `transition standalone` does
                self._commit_without_waiting_for_the_disk()
            if prepare is not None:
                prepare()
            if self.embedded is None:
                prepare_sqlite(self.home)  # as `transition standalone --sqlite` does
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [airflow, "standalone"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    stdin=subprocess.DEVNULL,
                )
            self.components = {"standalone": self.process}
        else:
            self._create_database()
            if prepare is not None:
                prepare()
            with self.log_path.open("ab") as log:
                migrated = subprocess.run(
                    [airflow, "db", "migrate"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=300,
                )
            assert migrated.returncode == 0, f"airflow db migrate failed:\n{self.tail()}"
            self._create_fab_users()
            for component in COMPONENTS:
                self.start_component(component)
            self.process = self.components["scheduler"]
        return self.wait_healthy(timeout)

    def _create_fab_users(self) -> None:
        """Each of ``fab_users``, made as ``airflow users create`` makes it (its role found, then
        the FAB security manager's ``add_user``), all in one process: one start of Airflow's CLI
        instead of one per user (the FAB tables come with ``db migrate``)."""
        if not self.fab_users:
            return
        users = [
            {"login": login, "role": role, "password": self.passwords[login]}
            for login, role in self.fab_users.items()
        ]
        with self.log_path.open("ab") as log:
            made = subprocess.run(
                [sys.executable, "-c", CREATE_FAB_USERS],
                input=json.dumps(users).encode(),
                env=self.process_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=120,
            )
        assert made.returncode == 0, f"creating the FAB users failed:\n{self.tail()}"

    def start_component(self, component: str) -> subprocess.Popen:
        """Start one component of the production flavour in a process group of its own."""
        assert self.flavour == "postgres-celery" and component in COMPONENTS
        airflow = shutil.which("airflow", path=self.process_env["PATH"])
        command = [airflow, *component.split()] + (
            ["--queues", self.queue] if component == "celery worker" else []
        )
        with (self.home / f"{component.replace(' ', '-')}.log").open("ab") as log:
            self.components[component] = subprocess.Popen(
                command,
                env=self.process_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                stdin=subprocess.DEVNULL,
            )
        return self.components[component]

    def kill_component(self, component: str) -> None:
        """kill -9 one component and the processes it started (its process group), as a crash does."""
        process = self.components.pop(component)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def wait_healthy(self, timeout: float = 240) -> AirflowServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = [
                name for name, process in self.components.items() if process.poll() is not None
            ]
            if exited:
                self.stop()
                raise RuntimeError(f"airflow {', '.join(exited)} exited early:\n{self.tail()}")
            try:
                health = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
                self.last_health = health
                if all(
                    health.get(part, {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler")
                ):
                    return self
            except (httpx.HTTPError, ValueError) as error:
                self.last_health = f"{type(error).__name__}: {error}"
            time.sleep(1)
        self.stop()
        raise TimeoutError(f"Airflow did not become healthy in {timeout} s:\n{self.tail()}")

    def stop(self, timeout: float = 30) -> None:
        """Stop every component: SIGTERM to each process group, then SIGKILL to what is left."""
        for process in self.components.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for process in self.components.values():
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.components.values():
            try:  # children that outlived their parent are still in its group
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)
        self.components = {}
        if self.embedded is not None:
            self.embedded.stop()

    def cleanup(self) -> None:
        """Drop what the production flavour made: its database and its queue."""
        if self.database:
            psql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if self.queue:
            import redis

            client = redis.Redis.from_url(REDIS)
            for key in client.scan_iter(f"*{self.queue}*"):
                client.delete(key)

    def _create_database(self) -> None:
        done = psql(f'CREATE DATABASE "{self.database}"')
        assert done.returncode == 0, f"PostgreSQL at 127.0.0.1:5432 is needed: {done.stderr}"
        self._commit_without_waiting_for_the_disk()

    @contextmanager
    def sql_connection(self) -> Iterator[Any]:
        """A connection to Airflow's PostgreSQL database (no pool, 5 s to connect)."""
        import sqlalchemy  # deferred: only where a test reads or tunes the database

        engine = sqlalchemy.create_engine(
            self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
            connect_args={"connect_timeout": 5},
            poolclass=sqlalchemy.pool.NullPool,
        )
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()

    def _commit_without_waiting_for_the_disk(self) -> None:
        """The test's database (the machine's PostgreSQL or the embedded one) does not wait for
        the disk on COMMIT. The machine's PostgreSQL is shared by every test at once, on a disk
        shared with the rest: when the disk is busy a COMMIT waits seconds for its WAL flush, and
        under a rush Airflow's api-server pool (15 connections) ran out: 500s after 30 s (the
        fifty owners' test on PostgreSQL + Celery, and the answer-once test's observer on the
        embedded one; 2026-12-06, docs/limitations.md). What the tests check is the product's
        behaviour, not this machine's fsync; ``make run`` itself keeps PostgreSQL's default (an
        answer it accepted survives a power cut)."""
        import sqlalchemy  # deferred: only the PostgreSQL flavours

        with self.sql_connection() as connection:
            name = connection.execute(sqlalchemy.text("SELECT current_database()")).scalar_one()
            quoted = connection.dialect.identifier_preparer.quote(name)
            connection.execute(
                sqlalchemy.text(f"ALTER DATABASE {quoted} SET synchronous_commit = off")
            )
            connection.commit()

    def __enter__(self) -> AirflowServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            self.cleanup()
            raise

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        self.cleanup()

    def tail(self, lines: int = 25) -> str:
        """The end of each component's log: its own file in the production flavour, its lines of
        ``airflow standalone``'s log (``component | …``) otherwise, so a chatty component cannot
        hide what a silent one said last."""
        paths = (
            [self.log_path] + sorted(self.home.glob("*.log"))
            if not self.flavour.startswith("standalone")
            else [self.log_path]
        )
        if self.embedded is not None:
            paths.append(self.embedded.log_path)
        parts = [f"--- last health answer: {self.last_health}"]
        for path in dict.fromkeys(paths):
            try:
                text = path.read_text(errors="replace").splitlines()
            except OSError:
                parts.append(f"--- {path.name}: (no log)")
                continue
            if not self.flavour.startswith("standalone") or path.name == "postgres.log":
                parts.append(f"--- {path.name}\n" + "\n".join(text[-lines:]))
                continue
            by_component: dict[str, list[str]] = {}
            for line in text:
                prefix, bar, _ = line.partition(" | ")
                name = (
                    prefix.strip()
                    if bar and len(prefix.strip()) <= 20 and " " not in prefix.strip()
                    else "(other)"
                )
                by_component.setdefault(name, []).append(line)
            for name, component_lines in by_component.items():
                parts.append(f"--- {path.name}, {name}\n" + "\n".join(component_lines[-lines:]))
        parts.append(self.database_activity())
        return "\n".join(parts)

    def database_activity(self) -> str:
        """What each connection to Airflow's PostgreSQL database does now (``pg_stat_activity``):
        which wait on a lock, which sit idle in a transaction, and for how long; for a failure's
        message, when a request hung."""
        url = self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        if not url.startswith("postgresql"):
            return "--- database activity: (not PostgreSQL)"
        import sqlalchemy  # deferred: only when a test failed

        try:
            with self.sql_connection() as connection:
                rows = connection.execute(
                    sqlalchemy.text(
                        "SELECT pid, application_name, state, wait_event_type, wait_event,"
                        " round(extract(epoch FROM now() - state_change)::numeric, 1),"
                        " left(regexp_replace(query, '\\s+', ' ', 'g'), 160)"
                        " FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid() ORDER BY state_change"
                    )
                ).all()
        except Exception as error:  # the database itself may be what failed
            return f"--- database activity: (could not be read: {error})"
        return f"--- database activity ({len(rows)} connections)\n" + "\n".join(
            " | ".join(str(value) for value in row) for row in rows
        )

    # -- REST -----------------------------------------------------------------------------------
    def token(self, user: str) -> str:
        if user not in self._tokens:
            answer = httpx.post(
                f"{self.base_url}/auth/token",
                json={"username": user, "password": self.passwords[user]},
                timeout=REQUEST_TIMEOUT,
            )
            answer.raise_for_status()
            self._tokens[user] = answer.json()["access_token"]
        return self._tokens[user]

    def read(self, client: httpx.Client, url: str, **kwargs: Any) -> Any:
        """A test's observer reads ``url`` (GET); held to the people's standard: an answer that is
        not 200 fails the test with what the api-server said and the tail of its log."""
        response = client.get(url, **kwargs)
        assert response.status_code == 200, (url, response.status_code, response.text, self.tail())
        return response.json()

    def client(self, user: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token(user)}"},
            timeout=REQUEST_TIMEOUT,
        )

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict:
        with self.client("admin") as admin:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                answer = admin.get(f"/api/v2/dags/{dag_id}")
                if answer.status_code == 200:
                    return answer.json()
                time.sleep(1)
        raise TimeoutError(f"DAG {dag_id} did not appear in {timeout} s:\n{self.tail()}")

    def reparse(self, dag_id: str, timeout: float = 120) -> None:
        """What "Reparse Dag" on the DAG's page does, then wait until the DAG file was parsed
        again: a workbook written just before is what the next run of ``dag_id`` follows. Twice:
        a parse under way when the workbook was written may have read the old one, and still end
        after the first request; the second request's parse starts after it. Airflow answers 409
        to a request for a file whose earlier request still waits to be taken (a parse ending
        between the first request and its being taken): that waiting request's parse starts after
        this moment too, which is all the second request is for."""
        with self.client("admin") as admin:
            deadline = time.monotonic() + timeout
            for _ in range(2):
                before = admin.get(f"/api/v2/dags/{dag_id}/details").json()
                asked = admin.put(f"/api/v2/parseDagFile/{before['file_token']}")
                assert asked.status_code in (201, 409), asked.text
                while (
                    admin.get(f"/api/v2/dags/{dag_id}/details").json().get("last_parsed_time") or ""
                ) <= (before.get("last_parsed_time") or ""):
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"{dag_id} was not parsed again in {timeout} s:\n{self.tail()}"
                        )
                    time.sleep(0.5)

    def answer_when_asked(
        self,
        user: str,
        dag_id: str,
        run_id: str,
        step: str,
        option: str,
        params: dict | None = None,
        delay: float = 0.0,
        timeout: float = 180,
    ) -> httpx.Response:
        """Wait until ``step`` waits for an answer, then answer as ``user`` at once (or ``delay``
        seconds later, where a test is about what happens meanwhile)."""
        run_url = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
        with self.client("admin") as admin, self.client(user) as person:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                # One request a look (the request's details carry its task's state): an observer
                # that asks twice as often costs the api-server's CPU, which the suite shares.
                details = admin.get(f"{run_url}/hitlDetails", params={"task_id": step}).json()[
                    "hitl_details"
                ]
                if (
                    details
                    and details[0]["task_instance"]["state"] == "awaiting_input"
                    and not details[0]["response_received"]
                ):
                    time.sleep(delay)
                    return person.patch(
                        f"{run_url}/taskInstances/{step}/-1/hitlDetails",
                        json={"chosen_options": [option], "params_input": params or {}},
                    )
                time.sleep(0.5)
        raise TimeoutError(f"{step} did not ask for an answer in {timeout} s:\n{self.tail()}")

    def task_log_tail(self, dag_id: str, run_id: str, task_id: str, lines: int = 60) -> str:
        """The end of each try's log of ``task_id`` (from the log files in Airflow's home), and
        the scheduler's last lines: what a test that waited in vain for the task shows."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        parts = []
        for path in sorted(folder.glob("attempt=*.log")):
            text = path.read_text(errors="replace").splitlines()
            parts.append(f"--- {task_id} {path.name}\n" + "\n".join(text[-lines:]))
        return "\n".join(parts or [f"--- no log of {task_id} in {folder}"]) + "\n" + self.tail()

    def asks(self, dag_id: str, run_id: str, step: str, stage: str = "") -> int:
        """How many times Airflow's records say ``step`` asked for an answer (for ``stage``, e.g.
        "start", if given): the "Asking …" lines of the step's task logs, every try. Read from the
        log files in Airflow's home: Airflow's API serves no log for a try that failed before it
        ran (no history row is kept for it)."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={step}"
        logs = [
            p for p in folder.glob("attempt=*.log") if re.fullmatch(r"attempt=\d+\.log", p.name)
        ]
        assert logs, f"no task log in {folder}"
        pattern = re.compile(r'"Asking [^"]* to ' + re.escape(stage) if stage else r'"Asking ')
        return sum(len(pattern.findall(p.read_text(errors="replace"))) for p in logs)

    def wait_until_asked(self, dag_id: str, run_id: str, step: str, timeout: float = 180) -> None:
        """Until ``step``'s request waits for an answer (bounded)."""
        with self.client("admin") as admin:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                details = admin.get(
                    f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/hitlDetails", params={"task_id": step}
                ).json()["hitl_details"]
                if details and not details[0]["response_received"]:
                    return
                time.sleep(0.5)
        raise TimeoutError(f"{step} never asked:\n{self.tail()}")

    def wait_for_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 180
    ) -> None:
        with self.client("admin") as admin:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if (
                    admin.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
                    .json()
                    .get("state")
                    == state
                ):
                    return
                time.sleep(0.5)
        raise TimeoutError(f"{task_id} did not reach {state} in {timeout} s:\n{self.tail()}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        with self.client("admin") as admin:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                state = admin.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
                if state in ("success", "failed"):
                    return state
                time.sleep(1)
        raise TimeoutError(f"run {run_id} did not end in {timeout} s:\n{self.tail()}")

    def trigger(self, dag_id: str, timeout: float = 60) -> str:
        with self.client("admin") as admin:
            # Unpause; a DAG that has just appeared can be refused for a moment (e.g. while the
            # dag-processor writes it again): try again, for a bounded time, and say what came back.
            deadline = time.monotonic() + timeout
            while (
                unpaused := admin.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False})
            ).status_code != 200:
                assert time.monotonic() < deadline, (
                    f"unpausing {dag_id}: {unpaused.status_code} {unpaused.text[:500]}"
                )
                time.sleep(2)
            answer = admin.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None})
            assert answer.status_code == 200, answer.text
            return answer.json()["dag_run_id"]

    def import_errors(self) -> list[dict]:
        with self.client("admin") as admin:
            return admin.get("/api/v2/importErrors").json()["import_errors"]


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)[:4000]


@contextmanager
def airflow_with_mail(
    folder: Path, plan: Any, **options: Any
) -> Iterator[tuple[AirflowServer, SmtpServer]]:
    """A real Airflow for ``folder/config.yaml`` (users from the plan's actors, home in
    ``folder/airflow``) sending its e-mails to a real SMTP server of its own; both stopped after."""
    smtp = SmtpServer().start()
    extra = {"AIRFLOW_CONN_SMTP_DEFAULT": smtp.airflow_connection(), **options.pop("extra_env", {})}
    users = {**airflow_users(plan), REPORT_USER: "viewer"}
    server = AirflowServer(
        folder / "airflow", folder / "config.yaml", users, extra_env=extra, **options
    )
    # As `transition standalone` does: the tasks that read the runs (a gate's latest safe
    # decision, the weekly report) log in as the service user.
    server.env.setdefault(
        "AIRFLOW_CONN_TRANSITION_API",
        connection_json(server.base_url, REPORT_USER, server.passwords[REPORT_USER]),
    )
    try:
        with server:
            yield server, smtp
    finally:
        smtp.stop()
