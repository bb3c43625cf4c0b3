"""Reading a run's record Variable on the api-server, its row locked for the rest of the transaction."""

from __future__ import annotations

from typing import Any


def locked_value(session: Any, key: str, description: str) -> str | None:
    """The Variable's value, its row locked until the session's transaction ends (created empty
    if it was not there: two first writers at once must not both start from nothing). Runs no
    flush, so it may be called while the session flushes (:mod:`transition.web.answer_record`)."""
    # deferred: Airflow's ORM models, on the api-server only
    import sqlalchemy as sa
    from airflow.models.variable import Variable
    from airflow.utils.sqlalchemy import build_upsert_stmt, get_dialect_name

    empty = Variable(key=key, val="", description=description)
    session.execute(  # inserts, or changes nothing, and holds the row either way
        build_upsert_stmt(
            get_dialect_name(session),
            Variable,
            ["key"],
            {
                "key": key,
                "val": empty._val,  # as Airflow stores it (encrypted when a Fernet key is set)
                "description": description,
                "is_encrypted": empty.is_encrypted,
            },
            {"description": description},
        )
    )
    row = session.scalar(
        sa.select(Variable)
        .where(Variable.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return row.val if row is not None else None
