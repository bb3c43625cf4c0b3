"""Airflow's database as messages name it, and the error of a backup or a restore (shared by
:mod:`transition.local.backup` and :mod:`transition.local.sqlite_to_postgres`)."""

from __future__ import annotations

import re

from sqlalchemy.engine import URL

from transition.errors import ProblemsError


class BackupError(ProblemsError):
    """A backup or restore could not be made."""


_PASSWORD_IN_URL = re.compile(r"(://[^/@:]*:)[^/]*@")  # up to the last "@": a password may hold one
_PASSWORD_IN_QUERY = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL as it may be shown: ``postgresql://user:***@host/db`` (also when it does not parse)."""
    return _PASSWORD_IN_QUERY.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1***@", url))


def server_name(parsed: URL) -> str:
    """Where the server is, for messages: its host, or the folder of its Unix socket."""
    host = parsed.host or parsed.query.get("host")
    if isinstance(host, tuple):
        host = ",".join(host)
    return host or "localhost"
