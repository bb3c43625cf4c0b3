"""A real SMTP server for tests (aiosmtpd), on a free port of 127.0.0.1, keeping what it receives."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from ports import free_port


class _Keep:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        message["X-Received-At"] = str(time.time())  # when it arrived (seconds since the epoch)
        with self.lock:
            self.messages.append(message)
        return "250 OK"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self._keep = _Keep()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(self._keep, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self._keep.lock:
            return list(self._keep.messages)

    def wait_for(self, subject: str, timeout: float = 120, to: str | None = None) -> EmailMessage:
        """The first e-mail with ``subject`` (and sent ``to``, if given), waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if message["Subject"] == subject and (to is None or message["To"] == to):
                    return message
            time.sleep(0.5)
        raise TimeoutError(
            f"no e-mail '{subject}' in {timeout} s; received: {[m['Subject'] for m in self.messages]}"
        )

    def wait_for_subject_part(self, part: str, to: str, timeout: float = 120) -> EmailMessage:
        """The first e-mail sent ``to`` whose subject holds ``part`` (whatever its language)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if part in str(message["Subject"]) and message["To"] == to:
                    return message
            time.sleep(0.5)
        raise TimeoutError(
            f"no e-mail to {to} with '{part}' in {timeout} s; received: "
            f"{[(m['Subject'], m['To']) for m in self.messages]}"
        )

    def airflow_connection(self) -> str:
        """``AIRFLOW_CONN_SMTP_DEFAULT`` for this server: no TLS, no login, a short timeout."""
        return json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": self.port,
                "extra": {
                    "disable_ssl": True,
                    "disable_tls": True,
                    "from_email": "cutover@example.com",
                    "timeout": 5,
                    "retry_limit": 0,
                },
            }
        )
