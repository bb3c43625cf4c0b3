"""A task instance's note, the line the plugin adds to it (Airflow shows it on the task's page).

What the plugin writes there: transfers, defects and their resolution, and each answer to a step's
request (who started, closed, said Go or No-go, when), since Airflow keeps only the last answer of a
request and a step that parks again for Close clears it.
"""

from __future__ import annotations

from typing import Any

NOTE_LIMIT = 1000  # Airflow's task-instance note length


def append_note(ti: Any, line: str, user_id: str) -> None:
    """Add ``line`` to the note of ``ti`` (an ORM task instance; the caller's session commits).
    The oldest text goes first when the note would be longer than Airflow keeps."""
    old = ti.note or ""
    text = (old + "\n" + line).strip() if old else line
    if len(text) > NOTE_LIMIT:
        text = "…" + text[-(NOTE_LIMIT - 1) :]
    if ti.task_instance_note is None:
        ti.note = (text, user_id)
    else:
        ti.task_instance_note.content = text
        ti.task_instance_note.user_id = user_id
