"""A real SSH server on 127.0.0.1 (asyncssh, which the SSH provider brings) standing in for the
machine an ``ssh`` action runs its command on: public-key login only, with its own host key (the
connection names it, so the client checks it); each command runs as OpenSSH runs it, ``bash -c``
in the server's home folder, with none of the client's environment requests accepted. It keeps
the commands it received, to show what reached the other machine."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

import asyncssh

KEPT_VARIABLES = ("PATH", "LANG")  # of this process's environment, for the commands


class SshServer:
    def __init__(self, home: Path, user: str = "cutover") -> None:
        self.home = home
        self.user = user
        self.commands: list[str] = []  # as received, in order
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.key_file = home / "client_key"
        client_key.write_private_key(str(self.key_file))
        os.chmod(self.key_file, 0o600)
        self._authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self.port = 0

    def connection(self, check_host_key: bool = True) -> str:
        """An ``AIRFLOW_CONN_...`` value: an SSH connection here with the client's key file and,
        by default, this server's host key (so a server standing in for it is refused)."""
        extra: dict[str, str] = {"key_file": str(self.key_file)}
        if check_host_key:
            extra["host_key"] = self._host_key.export_public_key().decode().strip()
        else:
            extra["no_host_key_check"] = "true"
        return json.dumps(
            {
                "conn_type": "ssh",
                "host": "127.0.0.1",
                "port": self.port,
                "login": self.user,
                "extra": extra,
            }
        )

    async def _run(self, process: asyncssh.SSHServerProcess) -> None:
        command = process.command or ""
        self.commands.append(command)
        env = {k: os.environ[k] for k in KEPT_VARIABLES if k in os.environ}
        env["HOME"] = str(self.home)
        child = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            command,
            cwd=self.home,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await child.communicate()
        process.stdout.write(out.decode("utf-8", "replace"))
        process.stderr.write(err.decode("utf-8", "replace"))
        process.exit(child.returncode or 0)

    async def _listen(self) -> asyncssh.SSHAcceptor:
        return await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[self._host_key],
            authorized_client_keys=self._authorized,
            process_factory=self._run,
            password_auth=False,
            kbdint_auth=False,
        )

    def __enter__(self) -> SshServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self._acceptor = future.result(timeout=30)
        self.port = self._acceptor.get_port()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            closed = asyncio.run_coroutine_threadsafe(self._acceptor.wait_closed(), self._loop)
            closed.result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
