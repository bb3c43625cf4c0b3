"""A SQLite history copied into PostgreSQL: ``transition restore old.db`` with PostgreSQL configured.

Rows are copied table by table into a PostgreSQL database that already holds Airflow's schema of
the same version (the schema revisions must match on both sides), in one transaction on the target:
its tables emptied, filled in the order of their foreign keys, sequences set past the largest id.
Any failure rolls it all back and names the table.

How it works: docs/architecture.md, "local/sqlite_to_postgres.py".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from transition.errors import Problem, format_problems
from transition.i18n import _
from transition.local.database_urls import BackupError, mask_url, server_name
from transition.local.schema_match import (
    AIRFLOW_VERSION_TABLE,
    KnownTables,
    check_airflow_revisions,
    check_other_revisions,
    fail,
    known_tables,
    plugin_version,
    readable,
    reason,
    revisions,
)
from transition.runs import records_schema

BATCH_ROWS = 1000  # rows per INSERT (executemany): one savepoint each


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
        with readable(source) as reader:
            done = _copy(source, reader, target, known, where)
    except (sa.exc.SQLAlchemyError, sqlite3.Error, OSError) as exc:
        raise fail(where, _("the copy failed: {reason}").format(reason=reason(exc))) from None
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
    if plugin_version(reader) is not None:
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
        raise fail(str(source), _("this SQLite file is no Airflow database (no alembic_version)"))
    target_names = set(sa.inspect(target).get_table_names())
    with target.connect() as dst:
        empty = AIRFLOW_VERSION_TABLE not in target_names or not revisions(
            dst, AIRFLOW_VERSION_TABLE
        )
    if empty:
        raise fail(
            where,
            _(
                "the PostgreSQL database holds no Airflow tables: start Airflow once on it "
                "(`make run`), or run `airflow db migrate` with it configured, then restore again"
            ),
        )
    with reader.connect() as src, target.connect() as dst:
        check_airflow_revisions(source, src, dst, where)
        check_other_revisions(src, dst, source_names & target_names, known, where)


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
        raise fail(plan.name, _("could not be read: {reason}").format(reason=reason(exc))) from None
    while True:
        try:
            rows = result.fetchmany(BATCH_ROWS)
        except Exception as exc:  # a value Airflow's column type could not read
            raise fail(
                plan.name,
                _("rows {first} to {last} could not be read: {reason}").format(
                    first=copied + 1, last=copied + BATCH_ROWS, reason=reason(exc)
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
            return fail(
                plan.name,
                _("row {number} ({key}) could not be copied: {reason}").format(
                    number=before + index + 1, key=key or "-", reason=reason(exc)
                ),
            )
    return fail(
        plan.name,
        _("rows {first} to {last} could not be copied: {reason}").format(
            first=before + 1, last=before + len(batch), reason=reason(error)
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
