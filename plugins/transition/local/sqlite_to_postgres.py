"""A SQLite history copied into PostgreSQL: ``transition restore old.db`` with PostgreSQL configured.

``make run`` kept Airflow's database in SQLite before it moved to an embedded PostgreSQL; a
``pg_restore`` cannot read a SQLite file, so its rows are copied table by table into a PostgreSQL
database that already holds Airflow's schema of the same version (``airflow db migrate`` was run on
it: ``transition standalone`` does it when Airflow starts).

* Airflow's schema revisions (``alembic_version``, and those of the providers' tables such as
  ``alembic_version_fab``) must be the same on both sides: the columns then match.
* Every table is copied: Airflow's (its models, with the providers' database managers, as
  ``airflow db migrate`` knows them), the plugin's (:mod:`transition.runs.records_schema`, brought
  to the latest version on both sides first), and any other table the target also has (read
  as stored). A table the target lacks is reported, never dropped in silence.
* Values are read through Airflow's column types (SQLite's text timestamps, 0/1 booleans, hex
  UUIDs become Python values). JSON and pickled columns are carried as stored, cast by PostgreSQL
  to the column's type: read through their types, a SQL NULL would come back as JSON ``null``,
  and a pickle would be unpickled (code run) for nothing.
* One transaction on the target: its tables are emptied (not the schema revisions), filled in the
  order of its foreign keys, in batches, then every sequence is set past the largest id. Any
  failure rolls it all back and names the table (and the row when it is known).
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from transition.errors import Problem, format_problems
from transition.i18n import _
from transition.local.database_urls import BackupError, mask_url, server_name
from transition.runs import records_schema

BATCH_ROWS = 1000  # rows per INSERT (executemany): one savepoint each
AIRFLOW_VERSION_TABLE = "alembic_version"
PLUGIN_VERSION_TABLE = records_schema.schema_version.name
PLUGIN_PREFIX = "transition_"


def _fail(where: str, message: str) -> BackupError:
    return BackupError([Problem(where, message)])


def _reason(exc: BaseException) -> str:
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


def _revisions(conn: Connection, table: str) -> list[str]:
    found: Sequence[object] = (
        conn.execute(sa.text(f'SELECT version_num FROM "{table}"')).scalars().all()
    )
    return sorted(str(value) for value in found)


def _airflow_heads() -> tuple[str, list[str], set[str]]:
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


def _check_airflow_revisions(source: Path, src: Connection, dst: Connection, where: str) -> None:
    theirs, ours = _revisions(src, AIRFLOW_VERSION_TABLE), _revisions(dst, AIRFLOW_VERSION_TABLE)
    if theirs == ours:
        return
    shown_source, shown_target = ", ".join(theirs) or "-", ", ".join(ours) or "-"
    migrate_source = _(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///{path} airflow db migrate"
    ).format(path=source.resolve())
    try:
        version, heads, known = _airflow_heads()
    except Exception:  # the hint without the versions
        version, heads, known = "?", [], set()
    if heads and ours != sorted(heads):
        message = _(
            "the PostgreSQL database holds Airflow's schema at revision {target}, not the one of "
            "this Airflow {version} ({head}): run `airflow db migrate` on it (or start Airflow "
            "once on it), then restore again"
        ).format(target=shown_target, version=version, head=", ".join(heads))
        raise _fail(where, message)
    if known and not set(theirs) <= known:
        message = _(
            "this file holds Airflow's schema at revision {revision}, unknown to this Airflow "
            "{version}: a newer Airflow made it. Restore it with that version"
        ).format(revision=shown_source, version=version)
        raise _fail(str(source), message)
    message = _(
        "this file holds Airflow's schema at revision {revision}, the PostgreSQL database at "
        "{target} (this Airflow {version}'s): their tables differ. Bring the file to this "
        "schema first with this Airflow: `{command}` (it changes the file: keep a copy), then "
        "restore again"
    ).format(revision=shown_source, target=shown_target, version=version, command=migrate_source)
    raise _fail(str(source), message)


def _check_other_revisions(
    src: Connection, dst: Connection, both: set[str], known: KnownTables, where: str
) -> None:
    """The providers' schema revisions (``alembic_version_fab``…): equal where both have them."""
    for table in sorted(
        (known.version_tables & both) - {AIRFLOW_VERSION_TABLE, PLUGIN_VERSION_TABLE}
    ):
        theirs, ours = _revisions(src, table), _revisions(dst, table)
        if theirs != ours:
            raise _fail(
                where,
                _(
                    "{table}: the SQLite file is at revision {source}, the PostgreSQL database at "
                    "{target} (a provider of another version made them): run `airflow db "
                    "migrate` on both with the same Airflow and providers"
                ).format(table=table, source=", ".join(theirs) or "-", target=", ".join(ours)),
            )


# -- the plugin's tables: both at the latest version ------------------------------------------------


def _plugin_version(engine: Engine) -> int | None:
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
def _readable(source: Path) -> Iterator[Engine]:
    """``source`` read-only, or a migrated copy when the plugin's tables in it are older."""
    engine = _read_only(source)
    try:
        version = _plugin_version(engine)
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
        raise _fail(
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
        engine = _read_only(copy)
        try:
            yield engine
        finally:
            engine.dispose()


def _read_only(path: Path) -> Engine:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return sa.create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool
    )


# -- how each table is copied --------------------------------------------------------------------


@dataclass
class TablePlan:
    """One table: the columns read from SQLite (typed, or as stored) and the INSERT on PostgreSQL."""

    name: str
    read: sa.Select[Any]
    insert: sa.Insert
    keys: list[str]  # the INSERT's parameter names, in the order of the SELECT's columns
    primary_key: list[int]  # positions of the key's columns in a row (shown on error)


def _carried_as_stored(column_type: sa.types.TypeEngine[Any]) -> bool:
    """JSON and pickles: carried as SQLite stored them (see the module's documentation)."""
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        implementation = column_type.dialect_impl(dialect)
        if isinstance(implementation, sa.TypeDecorator):
            implementation = implementation.impl_instance
        if isinstance(implementation, sa.JSON | sa.PickleType):
            return True
    return isinstance(column_type, sa.JSON | sa.PickleType)


def _plan(
    name: str,
    source_columns: list[str],
    target_columns: dict[str, sa.types.TypeEngine[Any]],
    target_key: list[str],
    known: sa.Table | None,
) -> TablePlan:
    read_columns, values, keys = [], {}, []
    for position, column in enumerate(c for c in source_columns if c in target_columns):
        typed = known is not None and column in known.c
        if typed and known is not None and not _carried_as_stored(known.c[column].type):
            column_type: sa.types.TypeEngine[Any] = known.c[column].type
            read_columns.append(sa.column(column, column_type))
            value: sa.ColumnElement[Any] = sa.bindparam(f"p{position}", type_=column_type)
        else:  # as stored: PostgreSQL casts the text, number or bytes to the column's type
            read_columns.append(sa.column(column))
            value = sa.cast(sa.bindparam(f"p{position}"), target_columns[column])
        values[column] = value
        keys.append(f"p{position}")
    source = sa.table(name, *read_columns)
    target = sa.table(name, *(sa.column(c) for c in values))
    names = list(values)
    return TablePlan(
        name=name,
        read=sa.select(*source.c),
        insert=sa.insert(target).values(values),
        keys=keys,
        primary_key=[names.index(c) for c in target_key if c in names],
    )


def _foreign_key_order(names: Sequence[str], depends_on: dict[str, set[str]]) -> list[str]:
    """``names`` with every table after those it refers to (ties and cycles: by name)."""
    waiting = {
        name: {d for d in depends_on.get(name, set()) if d in names and d != name} for name in names
    }
    ordered: list[str] = []
    while waiting:
        ready = sorted(name for name, deps in waiting.items() if not deps) or [min(waiting)]
        for name in ready:
            waiting.pop(name)
            ordered.append(name)
        for deps in waiting.values():
            deps.difference_update(ready)
    return ordered


# -- the copy ------------------------------------------------------------------------------------


@dataclass
class Copied:
    rows: int = 0
    tables: int = 0
    warnings: list[Problem] = field(default_factory=list)


def copy_into_postgres(source: Path, url: str) -> str:
    """Copy the Airflow SQLite database ``source`` into the PostgreSQL database of ``url``
    (replacing its rows); the message saying what was done, with warnings."""
    parsed = make_url(url)
    where = mask_url(url)
    known = known_tables()
    target = sa.create_engine(url, poolclass=NullPool)
    try:
        with _readable(source) as reader:
            done = _copy(source, reader, target, known, where)
    except (sa.exc.SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise _fail(where, _("the copy failed: {reason}").format(reason=_reason(exc))) from None
    finally:
        target.dispose()
    message = _(
        "{source} (SQLite) copied into PostgreSQL database {database} on {host}: {rows} rows of "
        "{tables} tables"
    ).format(
        source=source,
        database=parsed.database,
        host=server_name(parsed),
        rows=done.rows,
        tables=done.tables,
    )
    return "\n".join([message, format_problems(done.warnings)]) if done.warnings else message


def _copy(source: Path, reader: Engine, target: Engine, known: KnownTables, where: str) -> Copied:
    source_names = {
        name for name in sa.inspect(reader).get_table_names() if not name.startswith("sqlite_")
    }
    _check_schemas(source, source_names, reader, target, known, where)
    if _plugin_version(reader) is not None:
        records_schema.migrate(target)  # its tables, as the plugin makes them at its first start
    done = Copied()
    plans = _plans(reader, target, source_names, known, done.warnings)
    emptied = sorted(set(sa.inspect(target).get_table_names()) - known.version_tables)
    with reader.connect() as src, target.begin() as dst:
        dst.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))  # text timestamps are UTC
        dst.execute(sa.text("SET LOCAL lock_timeout = '60s'"))  # a session left open: no hang
        quoted = ", ".join(dst.dialect.identifier_preparer.quote(n) for n in emptied)
        if quoted:
            dst.execute(sa.text(f"TRUNCATE TABLE {quoted}"))
        for plan in plans:
            done.rows += _copy_table(src, dst, plan)
            done.tables += 1
        _reset_sequences(dst)
    return done


def _check_schemas(
    source: Path,
    source_names: set[str],
    reader: Engine,
    target: Engine,
    known: KnownTables,
    where: str,
) -> None:
    """Both are Airflow databases of the same schema revisions."""
    if AIRFLOW_VERSION_TABLE not in source_names:
        raise _fail(str(source), _("this SQLite file is no Airflow database (no alembic_version)"))
    target_names = set(sa.inspect(target).get_table_names())
    with target.connect() as dst:
        empty = AIRFLOW_VERSION_TABLE not in target_names or not _revisions(
            dst, AIRFLOW_VERSION_TABLE
        )
    if empty:
        raise _fail(
            where,
            _(
                "the PostgreSQL database holds no Airflow tables: start Airflow once on it "
                "(`make run`), or run `airflow db migrate` with it configured, then restore again"
            ),
        )
    with reader.connect() as src, target.connect() as dst:
        _check_airflow_revisions(source, src, dst, where)
        _check_other_revisions(src, dst, source_names & target_names, known, where)


def _plans(
    reader: Engine,
    target: Engine,
    source_names: set[str],
    known: KnownTables,
    warnings: list[Problem],
) -> list[TablePlan]:
    """How each table both have is copied, in the order of the target's foreign keys; what the
    target has no room for, in ``warnings``."""
    source_inspector = sa.inspect(reader)
    target_names = set(sa.inspect(target).get_table_names())
    copied = sorted((source_names & target_names) - known.version_tables)
    for name in sorted(source_names - target_names - known.version_tables):
        with reader.connect() as src:
            count = src.scalar(sa.select(sa.func.count()).select_from(sa.table(name)))
        if count:
            warnings.append(
                Problem(
                    name,
                    _("{rows} rows not copied: the PostgreSQL database has no such table").format(
                        rows=count
                    ),
                    "warning",
                )
            )
    target_inspector = sa.inspect(target)
    target_columns = {
        table: {c["name"]: c["type"] for c in columns}
        for (_schema, table), columns in target_inspector.get_multi_columns().items()
    }
    target_keys = {
        table: list(key.get("constrained_columns") or [])
        for (_schema, table), key in target_inspector.get_multi_pk_constraint().items()
    }
    depends_on = {
        table: {fk["referred_table"] for fk in fks}
        for (_schema, table), fks in target_inspector.get_multi_foreign_keys().items()
    }
    plans = []
    for name in _foreign_key_order(copied, depends_on):
        columns = [c["name"] for c in source_inspector.get_columns(name)]
        missing = [c for c in columns if c not in target_columns[name]]
        if missing:
            warnings.append(
                Problem(
                    name,
                    _("columns not copied (the PostgreSQL table has none such): {columns}").format(
                        columns=", ".join(missing)
                    ),
                    "warning",
                )
            )
        plans.append(
            _plan(
                name,
                columns,
                target_columns[name],
                target_keys.get(name, []),
                known.tables.get(name),
            )
        )
    return plans


def _copy_table(src: Connection, dst: Connection, plan: TablePlan) -> int:
    copied = 0
    try:
        result = src.execute(plan.read)
    except sa.exc.SQLAlchemyError as exc:
        raise _fail(
            plan.name, _("could not be read: {reason}").format(reason=_reason(exc))
        ) from None
    while True:
        try:
            rows = result.fetchmany(BATCH_ROWS)
        except Exception as exc:  # a value Airflow's column type could not read
            raise _fail(
                plan.name,
                _("rows {first} to {last} could not be read: {reason}").format(
                    first=copied + 1, last=copied + BATCH_ROWS, reason=_reason(exc)
                ),
            ) from None
        if not rows:
            return copied
        batch = [dict(zip(plan.keys, row, strict=True)) for row in rows]
        try:
            with dst.begin_nested():
                dst.execute(plan.insert, batch)
        except sa.exc.SQLAlchemyError as exc:
            raise _failing_row(dst, plan, batch, rows, copied, exc) from None
        copied += len(rows)


def _failing_row(
    dst: Connection,
    plan: TablePlan,
    batch: list[dict[str, Any]],
    rows: Sequence[sa.Row[Any]],
    before: int,
    error: sa.exc.SQLAlchemyError,
) -> BackupError:
    """The batch's first row PostgreSQL refuses, found inserting them one by one."""
    for index, parameters in enumerate(batch):
        try:
            with dst.begin_nested():
                dst.execute(plan.insert, parameters)
        except sa.exc.SQLAlchemyError as exc:
            key = ", ".join(str(rows[index][i]) for i in plan.primary_key)
            return _fail(
                plan.name,
                _("row {number} ({key}) could not be copied: {reason}").format(
                    number=before + index + 1, key=key or "-", reason=_reason(exc)
                ),
            )
    return _fail(
        plan.name,
        _("rows {first} to {last} could not be copied: {reason}").format(
            first=before + 1, last=before + len(batch), reason=_reason(error)
        ),
    )


def _reset_sequences(dst: Connection) -> None:
    """Every sequence of a column (serial or identity) of the schema: next value past the largest."""
    owned = dst.execute(
        sa.text(
            """
            SELECT c.relname, a.attname, seq
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            CROSS JOIN LATERAL pg_get_serial_sequence(
                quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname
            ) AS seq
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND seq IS NOT NULL
            """
        )
    ).all()
    quote_name = dst.dialect.identifier_preparer.quote
    for table, column, sequence in owned:
        dst.execute(
            sa.text(
                f"SELECT setval(:sequence, COALESCE((SELECT MAX({quote_name(str(column))}) "
                f"FROM {quote_name(str(table))}), 0) + 1, false)"
            ),
            {"sequence": sequence},
        )
