"""A small client of Airflow's REST API, logged in as one user (``transition report``, the weekly report).

``POST /auth/token`` gives the token; a refused login is :class:`ApiRefused`, no answer
:class:`ApiUnreachable`, an unknown DAG or run :class:`NotFound` (all in ``transition.errors``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from transition import settings
from transition.errors import ApiError, ApiRefused, ApiUnreachable, NotFound

DEFAULT_API_URL = "http://127.0.0.1:8080"  # what `make run` serves
API_CONN_ID = "transition_api"  # the Airflow connection the weekly report logs in with
REPORT_USER = (
    "transition_report"  # the service user `transition standalone` makes for it (role viewer)
)
PAGE = 100
MAX_PAGES = 50  # 5,000 DAGs or runs: far more than a plan has


@dataclass(frozen=True)
class Credentials:
    url: str
    user: str
    password: str = field(repr=False)

    @classmethod
    def from_options(
        cls,
        url: str | None,
        user: str | None,
        password: str | None,
        environ: Mapping[str, str] | None = None,
    ) -> Credentials:
        """Options first, then ``TRANSITION_API_URL/_USER/_PASSWORD``; ValueError says what is missing."""
        url = url or settings.text(settings.API_URL, environ) or DEFAULT_API_URL
        user = user or settings.text(settings.API_USER, environ)
        password = (
            password if password is not None else settings.text(settings.API_PASSWORD, environ)
        )
        missing = [
            what
            for what, value in (
                ("--user or $" + settings.API_USER, user),
                ("--password or $" + settings.API_PASSWORD, password),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                f"an Airflow user is needed to read the run: give {' and '.join(missing)}"
            )
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"'{url}' is not an http(s) URL (e.g. {DEFAULT_API_URL})")
        return cls(url.rstrip("/"), str(user), str(password))

    @classmethod
    def from_connection(cls, connection: Any) -> Credentials:
        """From an Airflow connection (type http): host (or a full URL), port, schema (http/https), login, password."""
        host = (connection.host or "").strip().rstrip("/")
        if not host or not connection.login:
            raise ValueError(f"the connection '{API_CONN_ID}' needs a host, a login and a password")
        if "://" in host:
            # deferred: only when the REST API is called (the CLI's other commands start faster)
            from urllib.parse import urlsplit

            url = (
                host if not connection.port or urlsplit(host).port else f"{host}:{connection.port}"
            )
        else:
            url = f"{connection.schema or 'http'}://{host}:{connection.port or 8080}"
        return cls(url, connection.login, connection.password or "")


def connection_json(url: str, user: str, password: str) -> str:
    """``AIRFLOW_CONN_TRANSITION_API`` for an api-server at ``url`` (what ``transition standalone`` sets)."""
    # deferred: only when the REST API is called (the CLI's other commands start faster)
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    # under a root path (behind a reverse proxy): the whole address as the host, port included
    path = parts.path.rstrip("/")
    return json.dumps(
        {
            "conn_type": "http",
            "host": f"{parts.scheme}://{parts.hostname}:{port}{path}" if path else parts.hostname,
            "port": port,
            "schema": parts.scheme,
            "login": user,
            "password": password,
        }
    )


class ApiClient:
    """GET JSON from Airflow's api-server as one user (a token from ``POST /auth/token``)."""

    def __init__(self, credentials: Credentials, timeout: float = 30) -> None:
        # deferred: only when the REST API is called (the CLI's other commands start faster)
        import httpx

        self.credentials = credentials
        self._http = httpx.Client(base_url=credentials.url, timeout=timeout)
        self._token: str | None = None

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        # deferred: only when the REST API is called (the CLI's other commands start faster)
        import httpx

        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ApiUnreachable(
                f"cannot reach Airflow at {self.credentials.url} ({reason}); is it running, "
                f"and is that its address (--url or ${settings.API_URL})?"
            ) from None

    def login(self) -> str:
        answer = self._send(
            "POST",
            "/auth/token",
            json={"username": self.credentials.user, "password": self.credentials.password},
        )
        if answer.status_code in (400, 401, 403):
            raise ApiRefused(
                f"Airflow at {self.credentials.url} refused user '{self.credentials.user}': "
                f"wrong user name or password (--user/--password or ${settings.API_USER}/${settings.API_PASSWORD})"
            )
        token = (
            _json(answer, self.credentials.url).get("access_token")
            if answer.status_code < 300
            else None
        )
        if not token:
            raise ApiError(
                f"{self.credentials.url}/auth/token answered {answer.status_code}: is it Airflow's api-server?"
            )
        self._token = token
        return token

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        for attempt in (1, 2):  # a token that expired meanwhile: log in once more
            token = self._token or self.login()
            answer = self._send(
                "GET", path, params=params, headers={"Authorization": f"Bearer {token}"}
            )
            if answer.status_code == 401 and attempt == 1:
                self._token = None
                continue
            break
        if answer.status_code == 404:
            raise NotFound(_detail(answer) or f"{path} not found")
        if answer.status_code in (401, 403):
            raise ApiRefused(
                f"user '{self.credentials.user}' may not read {path} ({_detail(answer) or answer.status_code})"
            )
        if answer.status_code >= 300:
            raise ApiError(
                f"Airflow answered {answer.status_code} to GET {path}: {_detail(answer) or answer.text[:200]}"
            )
        return _json(answer, self.credentials.url)

    def pages(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        """Every entry of a paged Airflow list (``limit``/``offset``, ``total_entries``)."""
        entries: list[dict] = []
        for page in range(MAX_PAGES):
            answer = self.get(path, {**(params or {}), "limit": PAGE, "offset": page * PAGE})
            batch = answer.get(key) or []
            entries.extend(batch)
            if not batch or len(entries) >= int(answer.get("total_entries") or 0):
                break
        return entries


def _detail(answer: Any) -> str:
    try:
        detail = answer.json().get("detail")
    except ValueError:
        return ""
    return detail if isinstance(detail, str) else json.dumps(detail)[:200] if detail else ""


def _json(answer: Any, url: str) -> Any:
    try:
        return answer.json()
    except ValueError:
        raise ApiError(
            f"{url} answered something that is not JSON: is it Airflow's api-server?"
        ) from None
