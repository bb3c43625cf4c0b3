"""Files holding secrets (generated passwords, a ``.pgpass``): readable by their owner only, always.

:func:`write_secret` creates a new file next to the target with ``O_CREAT | O_EXCL`` and mode 0600
(so it is never, even for an instant, readable by others: no chmod afterwards), writes it, and
renames it over the target (readers see the old content or the new, never half of it).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_MODE = 0o600


def write_secret(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_CLOEXEC", 0)
    )
    descriptor = os.open(temporary, flags, SECRET_MODE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
