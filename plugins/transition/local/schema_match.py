"""What a SQLite history is checked for before :mod:`transition.local.sqlite_to_postgres` copies it:
the tables Airflow, its providers and the plugin know, the same schema revisions on both sides, and
the plugin's tables at the latest version (a migrated copy of the file when they are older)."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from transition.errors import Problem
from transition.i18n import _
from transition.local.database_urls import BackupError, mask_url
from transition.runs import records_schema

AIRFLOW_VERSION_TABLE = "alembic_version"
PLUGIN_VERSION_TABLE = records_schema.schema_version.name
PLUGIN_PREFIX = "transition_"


def fail(where: str, message: str) -> BackupError:
    return BackupError([Problem(where, message)])


def reason(exc: BaseException) -> str:
    """The first line of a database error (PostgreSQL's DETAIL, which may show a row's values, is
    left out), its password masked."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return mask_url(text.splitlines()[0] if text else type(exc).__name__)


# -- what Airflow's tables are -------------------------------------------------------------------


@dataclass(frozen=True)
class KnownTables:
    """The tables of Airflow's models, the providers' database managers and the plugin, and the
    names of the schema revision tables (never emptied nor copied)."""

    tables: dict[str, sa.Table]
    version_tables: frozenset[str]


def known_tables() -> KnownTables:
    # deferred: Airflow's models register its tables on import (seconds, and its configuration)
    from airflow.models import import_all_models
    from airflow.models.base import Base
    from airflow.utils.db_manager import RunDBManager

    import_all_models()
    tables: dict[str, sa.Table] = dict(Base.metadata.tables)
    versions = {AIRFLOW_VERSION_TABLE, PLUGIN_VERSION_TABLE}
    # The managers `airflow db migrate` runs (FAB's ab_* tables...): its RunDBManager finds them.
    for manager in getattr(RunDBManager(), "_managers", []):
        tables.update(manager.metadata.tables)
        versions.add(manager.version_table_name)
    tables.update(records_schema.METADATA.tables)
    return KnownTables(tables, frozenset(versions))


# -- schema revisions --------------------------------------------------------------------------


def revisions(conn: Connection, table: str) -> list[str]:
    found: Sequence[object] = (
        conn.execute(sa.text(f'SELECT version_num FROM "{table}"')).scalars().all()
    )
    return sorted(str(value) for value in found)


def airflow_heads() -> tuple[str, list[str], set[str]]:
    """This Airflow's version, its schema head revisions, and every revision it knows."""
    # deferred: Alembic and Airflow's migration scripts, only to explain a mismatch
    import airflow
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(airflow.__file__).parent / "migrations"))
    script = ScriptDirectory.from_config(config)
    known = {revision.revision for revision in script.walk_revisions()}
    return str(airflow.__version__), list(script.get_heads()), known


def check_airflow_revisions(source: Path, src: Connection, dst: Connection, where: str) -> None:
    theirs, ours = revisions(src, AIRFLOW_VERSION_TABLE), revisions(dst, AIRFLOW_VERSION_TABLE)
    if theirs == ours:
        return
    shown_source, shown_target = ", ".join(theirs) or "-", ", ".join(ours) or "-"
    migrate_source = _(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///{path} airflow db migrate"
    ).format(path=source.resolve())
    try:
        version, heads, known = airflow_heads()
    except Exception:  # the hint without the versions
        version, heads, known = "?", [], set()
    if heads and ours != sorted(heads):
        message = _(
            "the PostgreSQL database holds Airflow's schema at revision {target}, not the one of "
            "this Airflow {version} ({head}): run `airflow db migrate` on it (or start Airflow "
            "once on it), then restore again"
        ).format(target=shown_target, version=version, head=", ".join(heads))
        raise fail(where, message)
    if known and not set(theirs) <= known:
        message = _(
            "this file holds Airflow's schema at revision {revision}, unknown to this Airflow "
            "{version}: a newer Airflow made it. Restore it with that version"
        ).format(revision=shown_source, version=version)
        raise fail(str(source), message)
    message = _(
        "this file holds Airflow's schema at revision {revision}, the PostgreSQL database at "
        "{target} (this Airflow {version}'s): their tables differ. Bring the file to this "
        "schema first with this Airflow: `{command}` (it changes the file: keep a copy), then "
        "restore again"
    ).format(revision=shown_source, target=shown_target, version=version, command=migrate_source)
    raise fail(str(source), message)


def check_other_revisions(
    src: Connection, dst: Connection, both: set[str], known: KnownTables, where: str
) -> None:
    """The providers' schema revisions (``alembic_version_fab``…): equal where both have them."""
    for table in sorted(
        (known.version_tables & both) - {AIRFLOW_VERSION_TABLE, PLUGIN_VERSION_TABLE}
    ):
        theirs, ours = revisions(src, table), revisions(dst, table)
        if theirs != ours:
            raise fail(
                where,
                _(
                    "{table}: the SQLite file is at revision {source}, the PostgreSQL database at "
                    "{target} (a provider of another version made them): run `airflow db "
                    "migrate` on both with the same Airflow and providers"
                ).format(table=table, source=", ".join(theirs) or "-", target=", ".join(ours)),
            )


# -- the plugin's tables: both at the latest version ------------------------------------------------


def plugin_version(engine: Engine) -> int | None:
    """The version of the plugin's tables (0: tables of the first release without a version table;
    None: no plugin table)."""
    names = set(sa.inspect(engine).get_table_names())
    if PLUGIN_VERSION_TABLE in names:
        with engine.connect() as conn:
            version = conn.scalar(
                sa.text(f"SELECT version FROM {PLUGIN_VERSION_TABLE} WHERE id = 1")
            )
        return int(version or 0)
    return 0 if any(name.startswith(PLUGIN_PREFIX) for name in names) else None


@contextmanager
def readable(source: Path) -> Iterator[Engine]:
    """``source`` read-only, or a migrated copy when the plugin's tables in it are older."""
    engine = read_only(source)
    try:
        version = plugin_version(engine)
    except Exception:
        engine.dispose()
        raise
    if version is None or version == records_schema.LATEST:
        try:
            yield engine
        finally:
            engine.dispose()
        return
    engine.dispose()
    if version > records_schema.LATEST:
        raise fail(
            str(source),
            _(
                "the plugin's tables in it are at version {version}, newer than this plugin's "
                "{latest}: restore it with the newer plugin"
            ).format(version=version, latest=records_schema.LATEST),
        )
    with tempfile.TemporaryDirectory(prefix="transition-restore-") as folder:
        copy = Path(folder) / "history.db"
        with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        writable = sa.create_engine(f"sqlite:///{copy}", poolclass=NullPool)
        try:
            records_schema.migrate(writable)  # as the plugin would at its first start
        finally:
            writable.dispose()
        engine = read_only(copy)
        try:
            yield engine
        finally:
            engine.dispose()


def read_only(path: Path) -> Engine:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return sa.create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool
    )
