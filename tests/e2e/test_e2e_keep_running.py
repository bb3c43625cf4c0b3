"""`transition standalone` (what `make run` starts) starts Airflow again when a component stops.

``airflow standalone`` does not restart a component that exits (on SQLite under load the scheduler,
triggerer and dag-processor can exit with "database is locked": BENCHMARKS.md). Here the real
`transition standalone` runs on a small plan; its dag-processor is killed as a crash would; Airflow
must come back healthy with a new dag-processor, say why on stderr, and stop cleanly on SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from airflow_server import free_port
from conftest import write_config, write_xlsx
from transition.local.keep_running import components_of

pytestmark = pytest.mark.e2e
TRANSITION = shutil.which("transition", path=str(Path(sys.executable).parent))


def healthy(port: int) -> bool:
    try:
        health = httpx.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return False
    return all(
        health.get(part, {}).get("status") == "healthy"
        for part in ("metadatabase", "scheduler", "triggerer")
    )


def standalone_components(supervisor: psutil.Process) -> dict[str, int]:
    """The components of the `airflow standalone` that `transition standalone` runs now."""
    try:
        children = supervisor.children()
    except psutil.Error:
        return {}
    for child in children:
        try:  # the standalone being replaced may be a zombie or gone by now
            if "standalone" in " ".join(child.cmdline()):
                return components_of(child)
        except psutil.Error:
            continue
    return {}


def wait_until(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise AssertionError(
        f"{what} within {timeout:.0f} s; last lines:\n"
        + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    )


def test_a_stopped_component_brings_airflow_back(tmp_path):
    write_xlsx(
        tmp_path / "plan.xlsx",
        {
            "Steps": [
                ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner"],
                ["A", "Freeze billing", "AC", "ALL", "", "alice"],
            ],
            "Actors": [["ID", "Name", "Email"], ["alice", "Alice Martin", "alice@example.com"]],
            "DryRuns": [["Name", "D-day"], ["DR1", "2030-01-07"]],
        },
    )
    write_config(tmp_path / "config.yaml", "plan.xlsx", name="keep")
    port = free_port()
    env = {
        **os.environ,
        "TRANSITION_CONFIG": str(tmp_path / "config.yaml"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }
    log = tmp_path / "standalone.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                TRANSITION,
                "standalone",
                "--home",
                str(tmp_path / "airflow"),
                "--port",
                str(port),
                "--mail-port",
                str(free_port()),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    supervisor = psutil.Process(process.pid)
    try:
        wait_until(
            lambda: healthy(port) and "dag-processor" in standalone_components(supervisor),
            240,
            "Airflow was not healthy",
            log,
        )
        before = standalone_components(supervisor)
        os.kill(before["dag-processor"], signal.SIGKILL)

        def back() -> bool:
            now = standalone_components(supervisor)
            return (
                now.get("dag-processor") not in (None, before["dag-processor"])
                and now.get("scheduler") not in (None, before["scheduler"])
                and healthy(port)
            )

        wait_until(
            back, 300, "Airflow did not come back with a new dag-processor and scheduler", log
        )
        assert "Airflow's dag-processor stopped" in log.read_text(errors="replace")
        assert process.poll() is None

        tree = [supervisor, *supervisor.children(recursive=True)]
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)

        def left() -> list[psutil.Process]:
            alive = []
            for p in tree:
                try:
                    if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                        alive.append(p)
                except psutil.Error:
                    pass
            return alive

        # its reaper (a session of its own) looks twice a second whether it has ended
        deadline = time.monotonic() + 20
        while left() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left(), [" ".join(p.cmdline()) for p in left()]
    finally:  # on a failure: the whole process group it started (Airflow, the mail catcher)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
