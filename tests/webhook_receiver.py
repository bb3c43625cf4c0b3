"""A local HTTP server standing in for a chat webhook (Slack, Teams through Apprise) or a system an
automated step calls: it keeps what is posted to it (and the GETs' paths with their query) and
answers with the status and text it is told to."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Posted:
    path: str
    content_type: str
    body: Any  # the JSON posted


class WebhookReceiver:
    def __init__(self, status: int = 200, answer: str | None = None) -> None:
        self.status = status
        self.answer = answer  # the body of every answer (default: ok, or no for an error)
        self.posted: list[Posted] = []
        self.got: list[str] = []  # the GETs' paths, with their query
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size)
                with receiver._lock:
                    receiver.posted.append(
                        Posted(self.path, self.headers.get("Content-Type", ""), json.loads(raw))
                    )
                self._answer()

            def do_GET(self) -> None:
                with receiver._lock:
                    receiver.got.append(self.path)
                self._answer()

            def _answer(self) -> None:
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                default = "ok" if receiver.status == 200 else "no"
                self.wfile.write((receiver.answer or default).encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def slack_connection(self, path: str = "/services/T0/B0/X0") -> str:
        """An ``AIRFLOW_CONN_...`` value: a Slack webhook connection posting here."""
        return json.dumps({"conn_type": "slackwebhook", "password": self.url + path})

    def http_connection(self) -> str:
        """An ``AIRFLOW_CONN_...`` value: an HTTP connection to this server."""
        return json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": self.port})

    def apprise_connection(self, path: str = "/teams") -> str:
        """An ``AIRFLOW_CONN_...`` value: an Apprise connection whose one URL posts JSON here."""
        return json.dumps(
            {
                "conn_type": "apprise",
                "extra": {"config": {"path": f"json://127.0.0.1:{self.port}{path}"}},
            }
        )

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, text: str, timeout: float = 120, path: str | None = None) -> Posted:
        """The first post (to ``path``, if given) whose JSON holds ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for posted in self.posted:
                    if (path is None or posted.path == path) and text in json.dumps(
                        posted.body, ensure_ascii=False
                    ):
                        return posted
            time.sleep(0.2)
        raise TimeoutError(f"nothing posted with {text!r} in {timeout} s: {self.posted}")
