"""A root middleware of Airflow's api-server that applies the plan's rules to Airflow's own endpoints.

Airflow checks a human-in-the-loop answer against the request's assigned users (kept up to date by
transfers), but lets anyone with DAG edit rights set a task's state or note. For the steps of a
transition plan this guard adds, before Airflow handles the request:

* setting a step's state or note (``PATCH .../taskInstances/{step}``, e.g. "mark success"): only the
  people allowed on the step (owner, whoever it was transferred to, team leader, department head,
  cutover managers); the bulk form only for cutover managers and admins;
* closing a step (HITL answer ``Close``, or state ``success``) while it has an open blocking
  defect: refused with 409 and the defects listed.

Requests it does not concern pass through untouched.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import unquote

import anyio

log = logging.getLogger(__name__)

_PREFIX = r"^/api/v2/dags/(?P<dag>[^/]+)/dagRuns/(?P<run>[^/]+)/taskInstances"
HITL = re.compile(_PREFIX + r"/(?P<task>[^/]+)/(?P<map>-?\d+)/hitlDetails/?$")
ONE_TASK = re.compile(_PREFIX + r"/(?P<task>[^/]+)(?:/(?P<map>-?\d+))?/?$")
BULK = re.compile(_PREFIX + r"/?$")


class StepGuard:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "PATCH":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        match = HITL.match(path) or ONE_TASK.match(path) or BULK.match(path)
        groups = {k: unquote(v) for k, v in match.groupdict().items() if v is not None} if match else {}
        if match is None or groups.get("task") == "dry_run":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        kind = "hitl" if match.re is HITL else "one" if match.re is ONE_TASK else "bulk"
        try:
            verdict = await self._verdict(scope, kind, groups, body)
        except Exception:  # the guard must never take the API down; Airflow's own checks still apply
            log.exception("The transition step guard failed; letting Airflow decide")
            verdict = None
        if verdict is not None:
            await _respond(send, *verdict)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _verdict(self, scope: dict, kind: str, groups: dict[str, str], body: bytes) -> tuple[int, str] | None:
        from transition.permissions import is_plan_dag

        dag_id = groups["dag"]
        if not await anyio.to_thread.run_sync(is_plan_dag, dag_id):
            return None
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return None  # Airflow answers a malformed body itself
        user = await _user(scope)
        if user is None:
            return None  # Airflow answers 401
        return await anyio.to_thread.run_sync(_decide, kind, groups, payload, str(user.get_id()), _is_admin(user))


def _decide(kind: str, groups: dict[str, str], payload: Any, user_id: str, is_admin: bool) -> tuple[int, str] | None:
    from transition.i18n import use_language
    from transition.permissions import current_plan

    plan = current_plan()
    if plan is None:
        return None
    actor = plan.actors.get(user_id)
    with use_language(actor.language if actor is not None else plan.language):  # the refusals, in the user's
        return _rule(kind, groups, payload, user_id, is_admin, plan)


def _rule(kind: str, groups: dict[str, str], payload: Any, user_id: str, is_admin: bool, plan: Any) -> tuple[int, str] | None:
    from airflow.utils.session import create_session

    from transition import records
    from transition.i18n import _
    from transition.permissions import allowed_people, find_step, refusal

    dag_id, run_id = groups["dag"], groups["run"]
    if kind == "bulk":
        if is_admin or user_id in plan.cutover_managers:
            return None
        return 403, _("Changing several steps at once is for the cutover managers; change steps one by one.")
    step_id = groups["task"]
    ref = find_step(dag_id, step_id, plan)
    if ref is None:
        return None  # the run's watch, or a task the plan no longer has: Airflow's rules apply
    closing = (
        kind == "hitl" and "Close" in (payload.get("chosen_options") or [])
    ) or (kind == "one" and payload.get("new_state") == "success")
    with create_session() as session:
        if kind == "one" and not is_admin:
            people = allowed_people(ref, records.transferees(session, dag_id, run_id, step_id))
            if user_id not in people:
                return 403, refusal(ref)
        if closing:
            blocking = records.open_blocking_defects(session, dag_id, run_id, step_id)
            if blocking:
                listed = "; ".join(f"#{d['id']} {d['title']}" for d in blocking)
                return 409, _("Step {step} cannot be closed while it has an open blocking defect: {defects}. Resolve it "
                              "first.").format(step=step_id, defects=listed)
    return None


async def _user(scope: dict) -> Any:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN

    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    token = None
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    elif "cookie" in headers:
        for part in headers["cookie"].split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE_NAME_JWT_TOKEN:
                token = value
    if not token:
        return None
    try:
        return await get_auth_manager().get_user_from_token(token)
    except Exception:
        return None


def _is_admin(user: Any) -> bool:
    return str(getattr(user, "role", "") or "").lower() == "admin"


async def _read_body(receive: Any) -> bytes:
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
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
