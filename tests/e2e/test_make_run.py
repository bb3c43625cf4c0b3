"""``make run``'s default, as users start it: ``transition standalone`` on the embedded PostgreSQL.

One home, in order (one home and one start less than a home per test). The ways it ends: SIGTERM
(a service manager, a closed terminal), ``kill -9`` of ``transition standalone`` itself (its
reaper cleans up), and Ctrl-C; each with a run going, every step asking; after each, no process it
started is left (within 20 s; 15 s for Ctrl-C) and the next start finds its data and is not
blocked by a stale lock. Then, started once more, forty owners answer Start in the same second,
then Close in the same second, on the steps that asked before the three ends: every answer is
accepted (no 5xx), every step ends in success, no Airflow component stops. (Before
transition.web.session_slots, this burst froze the api-server: Airflow's action log waited for a
database connection on the event loop.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from airflow_server import AirflowServer
from conftest import write_config, write_xlsx
from ports import free_port
from transition.local.standalone import airflow_users
from transition.store.plan_store import load_plan

pytestmark = pytest.mark.e2e
OWNERS = [f"o{n:02d}" for n in range(1, 41)]
DAG_ID = "mr_dr1"


def write_plan(folder: Path) -> None:
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Brussels")).date()
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": [
                ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner", "Duration"],
                *[
                    [f"S{n:02d}", f"Check {owner}", "CO", "ALL", "", owner, "1h"]
                    for n, owner in enumerate(OWNERS, 1)
                ],
            ],
            "Actors": [
                ["ID", "Name", "Email", "Team", "Team leader", "Department head"],
                ["lead", "Lea Lead", "lead@example.com", "Ops", "", ""],
                *[
                    [owner, f"Owner {owner}", f"{owner}@example.com", "Ops", "lead", ""]
                    for owner in OWNERS
                ],
            ],
            "DryRuns": [["Name", "D-day"], ["DR1", today]],
        },
    )
    write_config(folder / "config.yaml", "plan.xlsx", name="mr")


class MakeRun:
    """``transition standalone --home HOME`` in a session of its own (as a terminal runs it)."""

    def __init__(self, server: AirflowServer, log: Path):
        self.server, self.log = server, log
        self.process: subprocess.Popen | None = None
        self.groups: set[int] = set()  # the process groups of what it started

    def note_groups(self) -> None:
        """Before it is stopped: its processes' groups (a process that sets its title hides its
        environment, its group still tells)."""
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                self.groups.add(os.getpgid(child.pid))
            except (psutil.Error, OSError):
                pass

    def start(self, timeout: float = 240, *, interrupts_ignored: bool = False) -> MakeRun:
        """``interrupts_ignored``: started as a shell without job control starts a background job
        (SIGINT and SIGQUIT ignored, which a Python program keeps unless it says otherwise)."""
        transition = shutil.which("transition", path=self.server.process_env["PATH"])
        env = {
            **os.environ,
            "TRANSITION_CONFIG": self.server.env["TRANSITION_CONFIG"],
            **{  # free ports, a cache of the test's own, quick run ends: as AirflowServer does
                key: self.server.env[key]
                for key in (
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
                    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
                    "TRANSITION_CACHE_DIR",
                    "TRANSITION_WATCH_RECHECK_SECONDS",
                )
            },
        }
        env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
        # Ignored here while it starts: an ignored signal stays ignored in the programs it starts.
        ignored = (signal.SIGINT, signal.SIGQUIT) if interrupts_ignored else ()
        previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in ignored}
        with self.log.open("ab") as log, _restored(previous):
            self.process = subprocess.Popen(
                [
                    transition,
                    "standalone",
                    "--home",
                    str(self.server.home),
                    "--port",
                    str(self.server.port),
                    "--mail-port",
                    str(free_port()),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"transition standalone exited:\n{self.tail()}"
            try:
                health = httpx.get(f"{self.server.base_url}/api/v2/monitor/health", timeout=5)
                if all(
                    health.json().get(part, {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                ):
                    return self
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1)
        self.kill()
        raise TimeoutError(f"make run did not become healthy in {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def left_behind(self) -> list[str]:
        """Processes of this home still alive: Airflow's (its home in their environment), the
        embedded server's (working in its data folder), the reaper (the data folder in its command)."""
        home = str(self.server.home)
        data_dir = str(self.server.home / "postgres")
        # As root the data folder is a link to the server's own folder (embedded_database).
        data_dirs = {data_dir, os.path.realpath(data_dir)}
        found = []
        for process in psutil.process_iter(["pid", "name", "cmdline"]):
            if process.pid == os.getpid():
                continue
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    continue
                ours = (
                    (
                        os.getpgid(process.pid) in self.groups
                        and "airflow" in " ".join(process.info["cmdline"] or [])
                    )
                    or process.environ().get("AIRFLOW_HOME") == home
                    or process.cwd() in data_dirs
                    or data_dir in (process.info["cmdline"] or [])
                    or home in " ".join(process.info["cmdline"] or [])
                )
            except (psutil.Error, OSError):
                continue
            if ours:
                found.append(f"{process.pid} {' '.join(process.info['cmdline'] or [])[:150]}")
        return found

    def wait_all_gone(self, limit: float) -> float:
        """Seconds until ``transition standalone`` and everything of this home are gone (asserted
        within ``limit``)."""
        started = time.monotonic()
        deadline = started + limit
        assert self.groups, "note_groups() before stopping"
        while time.monotonic() < deadline:
            if (self.process is None or self.process.poll() is not None) and not self.left_behind():
                return time.monotonic() - started
            time.sleep(0.2)
        left = self.left_behind()
        signals = self.signal_state()
        self.kill()
        raise AssertionError(f"after {limit} s still running: {left}\n{signals}\n{self.tail()}")

    def signal_state(self) -> str:
        """How ``transition standalone`` stands towards signals (pending, blocked, ignored, caught:
        /proc's masks) and where its threads wait: why a Ctrl-C went unanswered."""
        if self.process is None:
            return "(not started)"
        lines = []
        for task in sorted(Path(f"/proc/{self.process.pid}/task").glob("*")):
            try:
                status = (task / "status").read_text().splitlines()
                wchan = (task / "wchan").read_text().strip()
            except OSError:
                continue
            wanted = [line for line in status if line.startswith(("State", "Sig", "ShdPnd"))]
            lines.append(f"thread {task.name} (waits in {wchan}): " + "; ".join(wanted))
        return "\n".join(lines) or "(gone)"

    def kill(self) -> None:
        """Test clean-up: SIGKILL to what is left (by process id)."""
        if self.process is not None and self.process.poll() is None:
            self.note_groups()
        for line in self.left_behind():
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def _restored(handlers: dict) -> Iterator[None]:
    """Put ``handlers`` (signal -> handler) back on the way out."""
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def asking(server: AirflowServer, run_id: str) -> set[str]:
    with server.client("admin") as admin:
        details = admin.get(
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails", params={"limit": 100}
        ).json()["hitl_details"]
    return {d["task_instance"]["task_id"] for d in details if not d["response_received"]} & {
        f"S{n:02d}" for n in range(1, 41)
    }


def wait_all_asking(server: AirflowServer, run_id: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while len(found := asking(server, run_id)) < len(OWNERS):
        assert time.monotonic() < deadline, f"only {len(found)} steps ask:\n{server.tail()}"
        time.sleep(1)


def answer_all_at_once(server: AirflowServer, run_id: str, option: str) -> list[int]:
    """Every owner answers ``option`` on their step, the forty requests let go together."""
    clients = [server.client(owner) for owner in OWNERS]  # logged in before the start line
    start_line = threading.Barrier(len(OWNERS), timeout=60)
    codes: list[int] = [0] * len(OWNERS)

    def answer(index: int) -> None:
        start_line.wait()
        try:
            codes[index] = (
                clients[index]
                .patch(
                    f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/S{index + 1:02d}/-1/hitlDetails",
                    json={"chosen_options": [option], "params_input": {}},
                    timeout=60,
                )
                .status_code
            )
        except httpx.HTTPError as error:
            codes[index] = -1
            print(f"{OWNERS[index]}: {type(error).__name__}: {error}", file=sys.stderr)

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(len(OWNERS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for client in clients:
        client.close()
    return codes


def make_run_asking(tmp_path: Path) -> tuple[AirflowServer, MakeRun, str]:
    """``make run`` on the forty owners' plan (its embedded PostgreSQL), a dry run triggered and
    every step asking; the caller kills the run."""
    write_plan(tmp_path)
    users = airflow_users(load_plan(tmp_path / "config.yaml").plan)
    server = AirflowServer(tmp_path / "airflow", tmp_path / "config.yaml", users)
    run = MakeRun(server, tmp_path / "make-run.log")
    try:
        run.start()
        assert (server.home / "postgres" / "PG_VERSION").is_file(), "not on the embedded PostgreSQL"
        server.wait_for_dag(DAG_ID)
        run_id = server.trigger(DAG_ID)
        wait_all_asking(server, run_id)
    except BaseException:
        run.kill()
        raise
    return server, run, run_id


def test_make_run_ends_every_way_and_forty_owners_answer_at_once_after(tmp_path):
    """One home, in order: SIGTERM, ``kill -9`` of ``transition standalone`` and Ctrl-C (each
    with the run going, every step asking), then a fourth start on which the forty steps that
    asked before all that are answered at once."""
    server, run, run_id = make_run_asking(tmp_path)
    try:
        # SIGTERM: everything it started is gone within 20 s, the server too
        run.note_groups()
        run.process.send_signal(signal.SIGTERM)
        run.wait_all_gone(20)
        assert run.process.returncode == 130

        # kill -9 of transition standalone itself: its reaper ends Airflow and the server
        run.start()
        with server.client("admin") as admin:  # the data was kept
            assert admin.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"] == (
                "running"
            )
        run.note_groups()
        run.process.kill()
        run.wait_all_gone(20)

        # no stale lock blocks the next start; Ctrl-C (SIGINT to the terminal's process group)
        # gives the prompt back within 15 s, nothing left; also when it was started with SIGINT
        # ignored (this test's own workers were, once: a background job of a non-interactive shell)
        run.start(interrupts_ignored=True)
        run.note_groups()
        os.killpg(run.process.pid, signal.SIGINT)
        run.wait_all_gone(15)

        # Started once more: the forty steps asking since before the three ends are answered.
        since = run.log.stat().st_size
        run.start()
        answer_forty_at_once(server, run_id)
        log = run.log.read_bytes()[since:].decode(errors="replace")
        assert "stopped (its last lines above say why)" not in log, run.tail()  # no restart
        assert "stopped again" not in log
    finally:
        run.kill()


def answer_forty_at_once(server: AirflowServer, run_id: str) -> None:
    """The forty steps (asking after the restarts) get Start in the same second, then Close in
    the same second: every answer accepted, every step ends in success."""
    wait_all_asking(server, run_id)
    started = answer_all_at_once(server, run_id, "Start")
    assert started == [200] * len(OWNERS), started
    wait_all_asking(server, run_id)  # each step asks again, for Close
    closed = answer_all_at_once(server, run_id, "Close")
    assert closed == [200] * len(OWNERS), closed
    with server.client("admin") as admin:
        deadline = time.monotonic() + 300
        while True:
            instances = admin.get(
                f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100}
            ).json()["task_instances"]
            states = {t["task_id"]: t["state"] for t in instances if t["task_id"] != "_watch"}
            if list(states.values()) == ["success"] * len(OWNERS):
                break
            assert time.monotonic() < deadline, states
            time.sleep(2)
