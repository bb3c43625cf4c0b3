"""The database of a ``make run`` home, for ``transition backup|restore --home DIR [--sqlite]``.

``make run`` keeps Airflow's database in its home (``.airflow``): the embedded PostgreSQL in
``postgres/``, or with ``--sqlite`` the file ``airflow.db``. Its URL is in no configuration file,
and the server only runs while ``make run`` does; this starts it for the command when it is not
running (and stops it after), so a backup or a restore works with Airflow stopped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from transition.errors import Problem, ProblemsError
from transition.i18n import _
from transition.local.embedded_database import EmbeddedPostgres
from transition.local.standalone import sqlite_path


class HomeDatabaseError(ProblemsError):
    """The home holds no database of ``make run``, or it could not be prepared."""


@contextmanager
def home_database(home: Path, *, sqlite: bool, create: bool = False) -> Iterator[str]:
    """The URL of ``home``'s database while the block runs. ``create``: a home with no embedded
    PostgreSQL yet gets one (a restore into a fresh home)."""
    home = home.resolve()
    if sqlite:
        yield f"sqlite:///{sqlite_path(home)}"
        return
    server = EmbeddedPostgres.in_home(home)
    if not (server.data_dir / "PG_VERSION").is_file() and not create:
        raise HomeDatabaseError(
            [
                Problem(
                    str(server.data_dir),
                    _(
                        "no embedded PostgreSQL here: `make run` has not run in {home} yet, or it "
                        "ran with --sqlite (then add --sqlite)"
                    ).format(home=home),
                )
            ]
        )
    running = server.running_pid() is not None
    url = server.url() if running else server.start()
    try:
        yield url
    finally:
        if not running:
            server.stop()


def migrate_schema(url: str, home: Path) -> None:
    """``airflow db migrate`` on ``url`` (Airflow's tables of this version; nothing when they are
    there already): a SQLite history is copied into tables, not a dump that makes them."""
    airflow = shutil.which("airflow", path=str(Path(sys.executable).parent))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    done = subprocess.run(
        [airflow or "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise HomeDatabaseError(
            [
                Problem(
                    "airflow db migrate",
                    _("failed: {reason}").format(reason=done.stderr.strip()[-600:]),
                )
            ]
        )
