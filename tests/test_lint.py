"""Style and types, as `make lint` checks them: ruff (lint and format, line length 100) and mypy on
the package. Run as tests so that `make test` checks them beside the others (two files at once)
instead of before them; a failure prints what the tool said."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from transition.locations import REPO_ROOT

TOOLS = Path(sys.executable).parent
SOURCES = ["plugins", "tests", "bench", "dags", "plan"]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(TOOLS / command[0]), *command[1:]],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_ruff_finds_nothing():
    done = run("ruff", "check", *SOURCES)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]


def test_the_code_is_formatted():
    done = run("ruff", "format", "--check", *SOURCES)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]


def test_mypy_finds_nothing():
    done = run("mypy")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
