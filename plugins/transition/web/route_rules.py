"""Who may change what on a plan's DAGs through Airflow's API: the rights table and the verdict.

Deny by default: a request that would change something (POST, PUT, PATCH, DELETE) and touches a
DAG of the plan (by its URL, by ``~`` and the entities in its body, by a pattern, by a backfill of
it) or the plan's own Variables (``transition.*``) is refused unless it is one of the forms below
for a person allowed on it. Cutover managers and Airflow admins may do everything (a close they
force is recorded). The table is in docs/security.md; ``tests/web/test_route_rules.py`` keeps both true.

This module decides; :mod:`transition.web.step_guard` finds the route exactly as Airflow does, the user
exactly as Airflow does, and the facts (task state, transfers, defects) in the database.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from transition.i18n import _, format_moment
from transition.vocabulary import TAKEN_OVER, Option
from transition.web.automation_rules import (
    automated_not_marked,
    go_waits_for_checks,
    missing_comment,
)

TI = "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances"
VARIABLE_PREFIX = "transition."
INVALID = object()  # a body that is not JSON


class Rule(enum.Enum):
    ANSWER = "answer a step's request"
    MARK_STEP = "mark one step success, or write its note"
    CLEAR = "clear (a preview with dry_run true changes nothing)"
    READ_ONLY = "read only (a list or a preview through POST/PATCH)"
    PERSONAL = "the user's own favourites"
    MANAGERS = "anything else"


# (method, route as Airflow declares it) -> rule; a route not named here is MANAGERS when it
# touches the plan.
RULES: dict[tuple[str, str], Rule] = {
    ("PATCH", TI + "/{task_id}/{map_index}/hitlDetails"): Rule.ANSWER,
    ("PATCH", TI + "/{task_id}"): Rule.MARK_STEP,
    ("PATCH", TI + "/{task_id}/{map_index}"): Rule.MARK_STEP,
    ("PATCH", TI + "/{task_id}/dry_run"): Rule.READ_ONLY,
    ("PATCH", TI + "/{task_id}/{map_index}/dry_run"): Rule.READ_ONLY,
    (
        "PATCH",
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskGroupInstances/{group_id}/dry_run",
    ): Rule.READ_ONLY,
    ("POST", TI + "/list"): Rule.READ_ONLY,
    ("POST", "/api/v2/dags/{dag_id}/dagRuns/list"): Rule.READ_ONLY,
    ("POST", "/api/v2/backfills/dry_run"): Rule.READ_ONLY,
    ("POST", "/api/v2/dags/{dag_id}/clearTaskInstances"): Rule.CLEAR,
    ("POST", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/clear"): Rule.CLEAR,
    ("POST", "/api/v2/dags/{dag_id}/clearDagRuns"): Rule.CLEAR,
    ("POST", "/api/v2/dags/{dag_id}/clearPartitions"): Rule.CLEAR,
    ("POST", "/api/v2/dags/{dag_id}/favorite"): Rule.PERSONAL,
    ("POST", "/api/v2/dags/{dag_id}/unfavorite"): Rule.PERSONAL,
}
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Changing routes that select their DAGs by the query's filters (dag_id_pattern and friends): the
# guard asks Airflow's own filters which DAGs they select (Call.selected), never a copy of them.
SELECTING = frozenset({("PATCH", "/api/v2/dags")})
INCLUDE_FLAGS = ("include_upstream", "include_downstream", "include_future", "include_past")
ASKING = "awaiting_input"


@dataclass(frozen=True)
class Call:
    """A request as Airflow routes it: the route's declared path and its parameters, parsed with
    the types the route declares (a backfill id is an integer however it was spelled)."""

    method: str
    route: str
    params: Mapping[str, Any]
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)
    body: Any = None  # the parsed JSON body, None when empty, INVALID when not JSON
    # On a route that selects DAGs by filters (SELECTING): the DAGs Airflow's own filters select,
    # run on its database (None: not such a route).
    selected: frozenset[str] | None = None


@dataclass(frozen=True)
class Who:
    actor: str  # the login (the actor ID)
    manager: bool  # a cutover manager of the plan, or an Airflow admin


class Facts(Protocol):
    """What the verdict needs to know of the plan and the run (read from the database)."""

    def plan_dags(self) -> frozenset[str]: ...
    def backfill_dag(self, backfill_id: Any) -> str | None: ...
    def allowed_people(
        self, dag_id: str, run_id: str, step_id: str
    ) -> list[str] | None: ...  # None: no such step
    def task_state(self, dag_id: str, run_id: str, step_id: str) -> str | None: ...
    def blocking_defects(self, dag_id: str, run_id: str, step_id: str) -> list[dict[str, Any]]: ...
    def is_gate(self, dag_id: str, step_id: str) -> bool: ...  # a go / no-go gate of the plan
    def gate_reached(
        self, dag_id: str, step_ids: Sequence[str], upstream: bool, downstream: bool
    ) -> str | None: ...  # a gate among the steps' relatives in Airflow's DAG, if any
    def started(
        self, dag_id: str, run_id: str, step_id: str
    ) -> Started | None: ...  # this try's Start, if given
    def is_automated(self, dag_id: str, step_id: str) -> bool: ...  # runs an action (auto, check)
    def checks_not_passed(
        self, dag_id: str, run_id: str, gate: str
    ) -> list[str]: ...  # the gate's checks neither passed, accepted nor force-closed


@dataclass(frozen=True)
class Started:
    """Who started a step (their name) and when (in the plan's time zone)."""

    by: str
    at: dt.datetime


@dataclass(frozen=True)
class Verdict:
    status: int | None  # None: let Airflow handle it
    message: str = ""
    forced_close: str | None = None  # a manager's close outside the rules: why it is forced
    add_assignee: bool = False  # an allowed person answering: make sure Airflow lets them
    noted: bool = False  # an answer: once Airflow takes it, it is written in the task's note
    # It closes the step (Close, Go, an owner's "mark success"): the blocking defects are read
    # again inside Airflow's transaction (transition.web.answer_record), where no defect can slip in.
    recheck: bool = False


ALLOW = Verdict(None)


def _strings(value: Any) -> Iterator[tuple[str, str]]:
    """Every (key, string) pair in a JSON value, at any depth (lists keep their parent's key)."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        key, item = stack.pop()
        if isinstance(item, str):
            yield key, item
        elif isinstance(item, dict):
            stack.extend((str(k), v) for k, v in item.items())
            stack.extend(("", k) for k in item if isinstance(k, str))
        elif isinstance(item, list):
            stack.extend((key, v) for v in item)


def touches_plan(call: Call, facts: Facts) -> bool:
    """Whether the request could change a plan DAG, its runs and steps, or the plan's Variables."""
    plan = facts.plan_dags()
    if call.route.startswith("/api/v2/variables"):
        key = call.params.get("variable_key", "")
        return (
            key.startswith(VARIABLE_PREFIX)
            or call.body is INVALID
            or any(s.startswith(VARIABLE_PREFIX) for _k, s in _strings(call.body))
        )
    if not plan:
        return False  # no DAG carries the plan's tags: nothing of a plan to guard
    dag_id = call.params.get("dag_id")
    if dag_id in plan:
        return True
    if call.body is INVALID and (dag_id == "~" or dag_id is None):
        return True
    if any("dag" in key.lower() and value in plan for key, value in _strings(call.body)):
        return True
    if (call.method, call.route) in SELECTING:  # pause/unpause by filters
        return call.selected is None or bool(call.selected & plan)
    if "backfill_id" in call.params:
        return facts.backfill_dag(call.params["backfill_id"]) in plan
    return False


def decide(call: Call, who: Who, facts: Facts, parse: Callable[[Rule, Any], Any]) -> Verdict:
    """The verdict on a request that touches the plan. ``parse(rule, body)`` reads the body with
    Airflow's own model for that route (raising ValueError when Airflow would refuse it)."""
    rule = RULES.get((call.method, call.route), Rule.MANAGERS)
    if rule in (Rule.READ_ONLY, Rule.PERSONAL):
        return ALLOW
    if rule is Rule.CLEAR:
        if who.manager:
            return ALLOW
        try:
            preview = parse(rule, call.body).dry_run is True
        except ValueError:
            preview = False
        return ALLOW if preview else _managers_only()
    if rule is Rule.MANAGERS:
        if not who.manager:
            return _managers_only()
        if gate := _gate_set_to_success(call, facts):
            return _gate_not_marked(gate)
        return ALLOW
    dag_id, run_id, step_id = (
        call.params["dag_id"],
        call.params["dag_run_id"],
        call.params["task_id"],
    )
    people = facts.allowed_people(dag_id, run_id, step_id)
    if people is None:  # the run's watch, or a task the plan no longer has
        return ALLOW if who.manager else _managers_only()
    if rule is Rule.ANSWER:
        return _answer(call, who, people, facts, parse)
    return _mark(call, who, people, facts, parse)


def _answer(
    call: Call, who: Who, people: list[str], facts: Facts, parse: Callable[[Rule, Any], Any]
) -> Verdict:
    dag_id, run_id, step_id = (
        call.params["dag_id"],
        call.params["dag_run_id"],
        call.params["task_id"],
    )
    if who.actor not in people and not who.manager:
        return Verdict(403, not_allowed(step_id))
    try:
        answer = parse(Rule.ANSWER, call.body)
    except ValueError as exc:
        return Verdict(
            422,
            _("The answer is not in the form Airflow reads: {error}").format(
                error=_first_line(exc)
            ),
        )
    chosen = list(answer.chosen_options)
    if refused := missing_comment(chosen, answer.params_input, step_id):
        return Verdict(422, refused)
    if Option.START.value in chosen and (started := facts.started(dag_id, run_id, step_id)):
        return Verdict(
            409,
            _(
                "Step {step} was already started by {person} on {time}: press Close when it is done."
            ).format(step=step_id, person=started.by, time=format_moment(started.at, "short")),
        )
    closing = bool({Option.CLOSE.value, Option.GO.value, *TAKEN_OVER} & set(chosen))
    if Option.GO.value in chosen and (waiting := facts.checks_not_passed(dag_id, run_id, step_id)):
        return Verdict(409, go_waits_for_checks(step_id, waiting))
    if closing and (blocking := facts.blocking_defects(dag_id, run_id, step_id)):
        return Verdict(409, blocked(step_id, blocking))  # No-go stays open: going back is safe
    return Verdict(None, add_assignee=True, noted=True, recheck=closing)


def _mark(
    call: Call, who: Who, people: list[str], facts: Facts, parse: Callable[[Rule, Any], Any]
) -> Verdict:
    dag_id, run_id, step_id = (
        call.params["dag_id"],
        call.params["dag_run_id"],
        call.params["task_id"],
    )
    if who.actor not in people and not who.manager:
        return Verdict(403, not_allowed(step_id))
    try:
        body = parse(Rule.MARK_STEP, call.body)
    except ValueError as exc:
        return Verdict(
            422,
            _("The change is not in the form Airflow reads: {error}").format(
                error=_first_line(exc)
            ),
        )
    new_state = getattr(body.new_state, "value", body.new_state)
    flags = [flag for flag in INCLUDE_FLAGS if getattr(body, flag)]
    if new_state == "success" and facts.is_gate(dag_id, step_id):
        return _gate_not_marked(step_id)
    up, down = bool(body.include_upstream), bool(body.include_downstream)
    # Marked with its relatives, a step would mark a gate among them: not even a manager.
    if new_state == "success" and (up or down):
        gate = facts.gate_reached(dag_id, [step_id], up, down)
        if gate is not None:
            return _gate_not_marked(gate)
    automated = new_state == "success" and facts.is_automated(dag_id, step_id)
    if who.manager:
        return _manager_mark(dag_id, run_id, step_id, new_state, flags, body.note, facts, automated)
    if automated:
        return Verdict(403, automated_not_marked(step_id))
    if flags:
        return Verdict(
            403,
            _(
                "Steps are marked one at a time: {flags} would change other steps too, which is for the "
                "cutover managers."
            ).format(flags=", ".join(flags)),
        )
    if new_state is None:
        return ALLOW  # a note
    if new_state != "success":
        return Verdict(
            403,
            _("Only the cutover managers may set step {step} to '{state}'.").format(
                step=step_id, state=new_state
            ),
        )
    state = facts.task_state(dag_id, run_id, step_id)
    if state != ASKING:
        return Verdict(
            409,
            _(
                "Step {step} can be closed while it is Ready or Open (asking for Start or Close); it is "
                "{state}. A cutover manager may force it, with a reason."
            ).format(step=step_id, state=state or _("not started")),
        )
    if blocking := facts.blocking_defects(dag_id, run_id, step_id):
        return Verdict(409, blocked(step_id, blocking))
    return Verdict(None, recheck=True)


def _manager_mark(
    dag_id: str,
    run_id: str,
    step_id: str,
    new_state: Any,
    flags: list[str],
    note: str | None,
    facts: Facts,
    automated: bool = False,
) -> Verdict:
    """A cutover manager's or admin's mark: any state; success on a step that is not asking, is
    blocked, takes others with it or runs an action (a person's close of it is Done by hand or
    Accept) is a forced close, which needs its reason in the note."""
    if new_state != "success":
        return ALLOW
    state = facts.task_state(dag_id, run_id, step_id)
    blocking = facts.blocking_defects(dag_id, run_id, step_id)
    if state == ASKING and not blocking and not flags and not automated:
        return Verdict(None, recheck=True)  # a defect meanwhile would make it a forced close
    why = []
    if automated:
        why.append(_("it runs its action by itself"))
    if state != ASKING:
        why.append(_("it was {state}, not asking").format(state=state or _("not started")))
    if blocking:
        why.append(blocked(step_id, blocking))
    if flags:
        why.append(_("with {flags}").format(flags=", ".join(flags)))
    if not (note or "").strip():
        return Verdict(
            400,
            _(
                "Closing step {step} now is a forced close ({why}): give the reason in the note."
            ).format(step=step_id, why="; ".join(why)),
        )
    return Verdict(None, forced_close="; ".join(why))


def _gate_not_marked(step_id: str) -> Verdict:
    return Verdict(
        409,
        _(
            "Gate {step} is decided by Go or No-go on its request (Required Actions): marked "
            "success, it would let both of its branches run."
        ).format(step=step_id),
    )


def _gate_set_to_success(call: Call, facts: Facts) -> str | None:
    """A gate a bulk or other managers' request would set to success (a gate named with "success"
    anywhere in the body: refused whole, never guessed at), or None."""
    if call.body is None or call.body is INVALID:
        return None
    strings = list(_strings(call.body))
    if not any(value.strip().lower() == "success" for _key, value in strings):
        return None
    plan = facts.plan_dags()
    dags = {call.params.get("dag_id", "")} & plan or set(plan)
    dags |= {value for key, value in strings if "dag" in key.lower() and value in plan}
    tasks = {value for key, value in strings if "task" in key.lower()}
    if gate := next((t for d in sorted(dags) for t in sorted(tasks) if facts.is_gate(d, t)), None):
        return gate
    up, down = (_flag_set(call.body, flag) for flag in ("include_upstream", "include_downstream"))
    if up or down:  # the named steps' relatives would be set too
        return next(
            (g for d in sorted(dags) if (g := facts.gate_reached(d, sorted(tasks), up, down))),
            None,
        )
    return None


def _flag_set(value: Any, flag: str) -> bool:
    """Whether ``flag`` is set (not false, null, 0 or empty) anywhere in a JSON value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get(flag) not in (None, False, 0, "", "false", "False", "0"):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _managers_only() -> Verdict:
    return Verdict(
        403,
        _(
            "This change to the transition plan's DAGs is for the cutover managers: ask one of them."
        ),
    )


def not_allowed(step_id: str) -> str:
    """Why someone may not act on a step, in the current language."""
    return _(
        "You may not act on step {step}: only its owner, whoever it was transferred to, the owner's team leader "
        "and department head, and the cutover managers may."
    ).format(step=step_id)


def blocked(step_id: str, blocking: list[dict[str, Any]]) -> str:
    """Why a step cannot be closed now (its open blocking defects), in the current language."""
    listed = "; ".join(f"#{d['id']} {d['title']}" for d in blocking)
    return _(
        "Step {step} cannot be closed while it has an open blocking defect: {defects}. Resolve it first."
    ).format(step=step_id, defects=listed)


def parse_json(body: bytes) -> Any:
    """The body as Starlette reads it (``json.loads`` of the bytes), None if empty, INVALID if not JSON."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return INVALID
