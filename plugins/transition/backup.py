"""``transition backup OUT`` and ``transition restore IN``: the whole Airflow metadata database.

That database holds every dry run's history: runs, task states, human-in-the-loop answers, notes,
XCom, and the plugin's transfers and defects. SQLite is copied with SQLite's online backup API;
PostgreSQL with ``pg_dump``/``pg_restore`` (custom format). The database is the one Airflow is
configured with (``[database] sql_alchemy_conn``, so run these with the deployment's environment).
Restore into a stopped Airflow.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from transition.errors import ProblemsError, Problem
from transition.i18n import _


class BackupError(ProblemsError):
    """A backup or restore could not be made."""


def configured_url() -> str:
    from airflow.configuration import conf

    return conf.get("database", "sql_alchemy_conn")


def _fail(where: str, message: str) -> BackupError:
    return BackupError([Problem(where, message)])


def backup(out: Path, url: str | None = None) -> str:
    url = url or configured_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        source = Path(parsed.database or "")
        if not source.is_file():
            raise _fail(str(source), _("no SQLite database there"))
        out.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source) as src, sqlite3.connect(out) as dst:
            src.backup(dst)
        return _("SQLite database {source} copied to {out}").format(source=source, out=out)
    if parsed.get_backend_name() == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={out}", _libpq(url)], "pg_dump")
        return _("PostgreSQL database {database} on {host} dumped to {out}").format(database=parsed.database, host=parsed.host, out=out)
    raise _fail(url, _("backups of {kind} databases are not supported (SQLite, PostgreSQL)").format(kind=parsed.get_backend_name()))


def restore(source: Path, url: str | None = None) -> str:
    if not source.is_file():
        raise _fail(str(source), _("backup file not found"))
    url = url or configured_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = Path(parsed.database or "")
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return _("{source} restored into SQLite database {target}").format(source=source, target=target)
    if parsed.get_backend_name() == "postgresql":
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={_libpq(url)}", str(source)], "pg_restore")
        return _("{source} restored into PostgreSQL database {database} on {host}").format(
            source=source, database=parsed.database, host=parsed.host)
    raise _fail(url, _("restores of {kind} databases are not supported (SQLite, PostgreSQL)").format(kind=parsed.get_backend_name()))


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(command: list[str], tool: str) -> None:
    if shutil.which(tool) is None:
        raise _fail(tool, _("{tool} is not installed (Debian package postgresql-client)").format(tool=tool))
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise _fail(tool, _("failed: {reason}").format(reason=done.stderr.strip()[-500:]))
