"""A root middleware of Airflow's api-server that applies the plan's rules on every route into it.

For each request that could change something (POST, PUT, PATCH, DELETE) it finds the route the way
Airflow will (Starlette's own matching, under any root path, percent-decoding included), reads the
body the way Airflow will, and asks :mod:`transition.web.route_rules` whether the request touches the
plan and, if so, whether this user may make it. The user is resolved by Airflow's own ``get_user``
(first ``Authorization`` header, then the session cookie). What cannot be decided is refused:
an unknown user, a body that is not JSON on a plan route, a failure of the guard itself.

Left to others: the worker's Execution API (``/execution``: task tokens only), logins (``/auth``),
the plugin's own endpoints (``/transition``: they check the same rules), and reads.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs

import anyio
from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
from fastapi import HTTPException
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.routing import Mount

from transition.i18n import N_, _, use_language
from transition.notifications.addressing import airflow_base_url
from transition.web import guard_facts
from transition.web.answer_record import RECHECK, Blocked, Recheck
from transition.web.route_matching import declared_params, matched_route
from transition.web.route_rules import (
    CHANGING,
    SELECTING,
    Call,
    Rule,
    Verdict,
    Who,
    blocked,
    decide,
    parse_json,
    touches_plan,
)
from transition.web.same_site import from_another_site
from transition.web.session_slots import GUARD_THREADS

log = logging.getLogger(__name__)
T = TypeVar("T")
CROSS_SITE = N_(
    "A change to the transition plan's DAGs is made from Airflow's own pages, not another site."
)
PASS_THROUGH = ("/execution", "/auth", "/transition", "/static")
REASK = re.compile(
    r"^/execution/hitlDetails/([0-9a-fA-F-]{32,36})/?$"
)  # a task writing its request


def resolve(app: Any, scope: dict) -> tuple[str, dict[str, Any], Any] | None:
    """The route Airflow's app will run for ``scope``: its declared path (with mount prefixes), its
    path parameters as the endpoint receives them (parsed with the types the route declares), and
    the route itself; None when no route matches the path and method (Airflow answers 404 or 405)."""
    found = matched_route(app, scope, stop_at=PASS_THROUGH)
    if found is None:
        return None
    route, path, params = found
    if isinstance(route, Mount):
        return path + "/{path}", params, route
    typed = declared_params(route, {k: str(v) for k, v in params.items()})
    return path, typed, route


def resolve_route(app: Any, scope: dict) -> tuple[str, dict[str, Any]] | None:
    """:func:`resolve` without the route object."""
    found = resolve(app, scope)
    return None if found is None else (found[0], found[1])


class StepGuard:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._threads: anyio.CapacityLimiter | None = None  # made in the event loop

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` in one of the guard's own worker threads: never more than
        GUARD_THREADS at once, each with at most one database session (see session_slots)."""
        if self._threads is None:
            self._threads = anyio.CapacityLimiter(GUARD_THREADS)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._threads)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method", "").upper() not in CHANGING:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        recheck: Recheck | None = None
        try:
            verdict, after, recheck = await self._judge(scope, body)
        except _Refusal as refusal:
            verdict, after = Verdict(refusal.status, refusal.detail), None
        except Exception:  # fail closed: a request the guard could not judge does not reach Airflow
            log.exception(
                "The transition step guard failed on %s %s; refusing",
                scope.get("method"),
                scope.get("path"),
            )
            verdict, after = (
                Verdict(
                    503,
                    "The transition plan's guard could not check this request; nothing was "
                    "changed. Try again, or ask the administrator to read the api-server log.",
                ),
                None,
            )
        if verdict.status is not None:
            await _respond(send, verdict.status, verdict.message)
            return
        if after is None and recheck is None:
            await self.app(scope, _replay(body, receive), send)
            return
        status: list[int] = []
        # The answer waits for the recheck (a request that closes a step) and for what records
        # the change (a forced close, the note of an answer): once it says 200, the recap shows it.
        held: list[dict] = []

        async def watch(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            held.append(message)

        token = RECHECK.set(recheck)
        try:
            await self.app(scope, _replay(body, receive), watch)
        except Blocked:
            # Raised in Airflow's flush, which rolled the transaction back: nothing was taken. Its
            # response was held, so the person is told why here.
            if recheck is None or not recheck.blocking:
                raise
        finally:
            RECHECK.reset(token)
        if recheck is not None and recheck.blocking:  # a defect came in between: nothing was taken
            with use_language(recheck.language):
                await _respond(send, 409, blocked(recheck.step_id, recheck.blocking))
            return
        if after is not None and status and 200 <= status[0] < 300:
            try:
                await self._in_thread(after)
            except Exception:
                log.exception("Recording what the transition step guard let through failed")
        for message in held:
            await send(message)

    async def _judge(
        self, scope: dict, body: bytes
    ) -> tuple[Verdict, Callable[[], None] | None, Recheck | None]:
        app = scope.get("app")
        found = resolve(app, scope) if app is not None else None
        if found is None:
            return Verdict(None), None, None  # Airflow answers 404 or 405: nothing changes
        route, params, route_object = found
        if route.startswith(PASS_THROUGH):
            asked = (
                REASK.match(get_route_path(scope)) if scope["method"].upper() == "POST" else None
            )
            if asked is None:
                return Verdict(None), None, None
            # A step asks again (a new try): once Airflow has the request, the people it was
            # transferred to are added back to it, so they keep the right to answer.
            return (
                Verdict(None),
                functools.partial(guard_facts.add_transferees, asked.group(1)),
                None,
            )
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        facts = guard_facts.DatabaseFacts()
        selected = None
        if (scope["method"].upper(), route) in SELECTING:  # the DAGs Airflow's own filters pick
            selected = await self._in_thread(
                facts.dags_selected, route_object, Request(scope).query_params
            )
        call = Call(scope["method"].upper(), route, params, query, parse_json(body), selected)
        if not await self._in_thread(touches_plan, call, facts):
            return Verdict(None), None, None
        user = await _user(scope)
        who = Who(guard_facts.actor_id(user), await self._in_thread(facts.is_manager, user))
        request = Request(scope)
        language = facts.language_of(who.actor)
        if from_another_site(request.headers, (str(request.base_url), airflow_base_url())):
            with use_language(language):  # a logged-in user's cookie, sent by another site
                return Verdict(403, _(CROSS_SITE)), None, None
        verdict = await self._in_thread(_decide_in_language, call, who, facts)
        after = None
        if verdict.status is None and verdict.add_assignee:
            await self._in_thread(guard_facts.add_assignee, call, user)
        if verdict.status is None and verdict.forced_close is not None:
            after = await self._in_thread(
                guard_facts.forced_close_recorder, call, who, verdict.forced_close, facts
            )
        if verdict.status is None and verdict.noted:
            after = functools.partial(guard_facts.note_answer, call, user)
        recheck = None
        if verdict.status is None and verdict.recheck:
            recheck = Recheck(
                str(params["dag_id"]), str(params["dag_run_id"]), str(params["task_id"]), language
            )
        return verdict, after, recheck


def _decide_in_language(call: Call, who: Who, facts: Any) -> Verdict:
    with use_language(facts.language_of(who.actor)):  # the refusals, in the user's language
        return decide(call, who, facts, guard_facts.parse_with_airflow_model)


class _Refusal(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


async def _user(scope: dict) -> Any:
    """The user exactly as Airflow resolves it for its routes (``get_user``), or a refusal."""

    request = Request(scope)
    try:
        return await get_user(request, None, await bearer_scheme(request))
    except HTTPException as exc:
        raise _Refusal(exc.status_code, str(exc.detail)) from None


async def _read_body(receive: Callable[[], Awaitable[dict]]) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _respond(send: Any, status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


__all__ = ["StepGuard", "resolve_route", "Rule"]
