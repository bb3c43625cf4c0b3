"""``transition backup OUT`` and ``transition restore IN``: the whole Airflow metadata database.

That database holds every dry run's history: runs, task states, human-in-the-loop answers, notes,
XCom, and the plugin's transfers and defects. SQLite is copied with SQLite's online backup API;
PostgreSQL with ``pg_dump``/``pg_restore`` (custom format). The database is the one Airflow is
configured with (``[database] sql_alchemy_conn``, so run these with the deployment's environment).

Secrets: the password of the database URL never goes on a command line (anyone on the machine sees
those in ``ps``) nor into a message: ``pg_dump``/``pg_restore`` read it from a ``.pgpass`` of their
own (a 0600 file in a 0700 temporary folder, ``PGPASSFILE``, deleted after), and every message
shows the URL as ``postgresql://user:***@host/db``.

Restore refuses while Airflow runs on that database (:mod:`transition.cli.airflow_liveness`), unless forced.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url

from transition.cli.airflow_liveness import LIVE_WITHIN, live_components
from transition.cli.secret_files import write_secret
from transition.errors import Problem, ProblemsError
from transition.i18n import _


class BackupError(ProblemsError):
    """A backup or restore could not be made."""


def configured_url() -> str:
    try:
        # deferred: Airflow's configuration, only for the commands that need the database
        from airflow.configuration import conf

        return conf.get("database", "sql_alchemy_conn")
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(
            "[database] sql_alchemy_conn",
            _("Airflow's configuration could not be read: {reason}").format(
                reason=mask_url(reason)
            ),
        ) from None


def _fail(where: str, message: str) -> BackupError:
    return BackupError([Problem(where, message)])


_PASSWORD_IN_URL = re.compile(r"(://[^/@:]*:)[^/]*@")  # up to the last "@": a password may hold one
_PASSWORD_IN_QUERY = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL as it may be shown: ``postgresql://user:***@host/db`` (also when it does not parse)."""
    return _PASSWORD_IN_QUERY.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1***@", url))


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except Exception:
        raise _fail(mask_url(url), _("this is not a database URL Airflow could use")) from None


def backup(out: Path, url: str | None = None) -> str:
    url = url or configured_url()
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        source = Path(parsed.database or "")
        if not source.is_file():
            raise _fail(str(source), _("no SQLite database there"))
        out.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source) as src, sqlite3.connect(out) as dst:
            src.backup(dst)
        return _("SQLite database {source} copied to {out}").format(source=source, out=out)
    if parsed.get_backend_name() == "postgresql":
        with _libpq(parsed) as (target, env, secret):
            _run(
                ["pg_dump", "--format=custom", "--no-owner", f"--file={out}", f"--dbname={target}"],
                "pg_dump",
                env,
                secret,
            )
        return _("PostgreSQL database {database} on {host} dumped to {out}").format(
            database=parsed.database, host=parsed.host, out=out
        )
    raise _fail(
        mask_url(url),
        _("backups of {kind} databases are not supported (SQLite, PostgreSQL)").format(
            kind=parsed.get_backend_name()
        ),
    )


def restore(source: Path, url: str | None = None, *, force: bool = False) -> str:
    """Put ``source`` back; refused while Airflow runs on the database (``force``: do it anyway)."""
    if not source.is_file():
        raise _fail(str(source), _("backup file not found"))
    url = url or configured_url()
    parsed = _parse(url)
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise _fail(
            mask_url(url),
            _("restores of {kind} databases are not supported (SQLite, PostgreSQL)").format(
                kind=parsed.get_backend_name()
            ),
        )
    if not force:
        _refuse_while_running(url)
    if parsed.get_backend_name() == "sqlite":
        target = Path(parsed.database or "")
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return _("{source} restored into SQLite database {target}").format(
            source=source, target=target
        )
    with _libpq(parsed) as (target_url, env, secret):
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                f"--dbname={target_url}",
                str(source),
            ],
            "pg_restore",
            env,
            secret,
        )
    return _("{source} restored into PostgreSQL database {database} on {host}").format(
        source=source, database=parsed.database, host=parsed.host
    )


def _refuse_while_running(url: str) -> None:
    try:
        live = live_components(url)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(
            mask_url(url),
            _("could not check whether Airflow runs on this database: {reason}").format(
                reason=mask_url(reason)
            ),
        ) from None
    if live:
        components = ", ".join(
            _("{component} on {host} ({seconds} s ago)").format(
                component=c.component, host=c.hostname or "?", seconds=c.seconds_ago
            )
            for c in live
        )
        raise _fail(
            mask_url(url),
            _(
                "Airflow is running on this database: {components} still beat (the `job` table's heartbeats). A restore "
                "under a running Airflow mixes the two histories. Stop every Airflow component (scheduler, dag-processor, "
                "triggerer, api-server, workers) and run it again; after a crash, wait {minutes} minutes for the last "
                "heartbeat to age, or restore with --force."
            ).format(components=components, minutes=int(LIVE_WITHIN.total_seconds() // 60)),
        )


def _pgpass_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@contextmanager
def _libpq(parsed: URL) -> Iterator[tuple[str, dict[str, str], str | None]]:
    """A libpq URL without the password, the environment giving it (a ``PGPASSFILE`` of our own), the password."""
    query = {key: value for key, value in parsed.query.items() if key.lower() != "password"}
    in_query = [value for key, value in parsed.query.items() if key.lower() == "password"]
    password = (
        parsed.password if parsed.password is not None else (in_query[0] if in_query else None)
    )
    if isinstance(password, tuple):
        password = password[0]
    target = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=query,
    ).render_as_string(hide_password=False)  # no password
    env = dict(os.environ)
    if password is None:  # the user's own PGPASSWORD, PGPASSFILE or ~/.pgpass, as libpq finds them
        yield target, env, None
        return
    with tempfile.TemporaryDirectory(prefix="transition-pg-") as folder:  # 0700
        pgpass = write_secret(Path(folder) / "pgpass", f"*:*:*:*:{_pgpass_field(str(password))}\n")
        env.pop("PGPASSWORD", None)  # it would win over the file
        env["PGPASSFILE"] = str(pgpass)
        yield target, env, str(password)


def _run(command: list[str], tool: str, env: dict[str, str], secret: str | None) -> None:
    if shutil.which(tool) is None:
        raise _fail(
            tool, _("{tool} is not installed (Debian package postgresql-client)").format(tool=tool)
        )
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, env=env)
    if done.returncode != 0:
        reason = done.stderr.strip()[-500:]
        if secret:
            reason = reason.replace(secret, "***").replace(quote(secret, safe=""), "***")
        raise _fail(tool, _("failed: {reason}").format(reason=mask_url(reason)))
