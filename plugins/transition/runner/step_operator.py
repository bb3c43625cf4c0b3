"""One step-action as one Airflow task: wait for the planned start, then Start, then Close.

``execute`` defers to the planned start (no worker slot held), then parks in Airflow's
human-in-the-loop request for **Start**, then for **Close** (also accepted while it waits for
Start); marking the task "success" in the UI also closes the step. While it waits it wakes when
something is due: the Late e-mail (``on_late``) and the escalation rungs (``on_escalation``), each
once per step and run. The menu is fixed (``Start``, ``Close``); the stage travels in
``TaskAwaitingInput(kwargs=...)``. A new try goes on from what was accepted
(:mod:`transition.runner.accepted`): nobody is asked twice, nobody is told twice.

How it works: docs/architecture.md, "runner/step_operator.py".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, NoReturn

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseOperator, Param, timezone
from airflow.sdk.exceptions import TaskAwaitingInput
from airflow.sdk.execution_time.hitl import HITLUser, upsert_hitl_detail

from transition.i18n import _, use_language
from transition.plan.escalation import (
    NO_LADDER,
    NOT_STARTED,
    Ladder,
    Rung,
    next_rung,
    passed,
    rungs,
)
from transition.runner.accepted import accepted_answers
from transition.runs import step_records
from transition.runs.answers import Answer, as_event, responder_login, step_progress
from transition.runs.sent_ledger import SentLedger
from transition.runs.states import due_at
from transition.vocabulary import Option, Stage

# The request's buttons and stages, named in transition.vocabulary; these values are stored by
# Airflow with parked tasks (options, and kwargs={"stage": ...}): they never change.
START, CLOSE = Option.START.value, Option.CLOSE.value
OPTIONS = [START, CLOSE]
STAGE_START, STAGE_CLOSE = Stage.START.value, Stage.CLOSE.value


def form(language: str | None = None) -> dict[str, Any]:
    """The request's form field (the Required Actions page), in ``language``; back in params_input."""
    with use_language(language):
        return {
            "comment": Param(
                "",
                type=["null", "string"],
                title=_("Comment"),
                description=_(
                    "Optional: what was done, a reference, a problem met. Kept with the step."
                ),
            ).serialize(),
        }


PARAMS = form("en")


def said(event: dict[str, Any]) -> step_records.Said:
    """An answer's record, as kept with the run (XCom ``started``, ``closed``): who, when, comment."""
    at = event.get("responded_at")
    params_input = event.get("params_input")
    comment = (params_input or {}).get("comment") if isinstance(params_input, dict) else None
    return {
        "by": responder_login(event.get("responded_by_user")),
        "at": at.isoformat() if isinstance(at, dt.datetime) else at,
        "comment": comment.strip()
        if isinstance(comment, str)
        else ""
        if comment is None
        else str(comment),
    }


class StepOperator(BaseOperator):
    """A human task: wait until ``planned_start``, then ask ``assigned_users`` to start and close it."""

    ui_color = "#fde9b8"
    ui_fgcolor = "#3b2f00"
    options: list[str] = OPTIONS  # the request's buttons
    first_stage: str = STAGE_START  # what the request asks for first

    def __init__(
        self,
        *,
        subject: str,
        body: str | Callable[[], str],
        planned_start: dt.datetime | None,
        assigned_users: list[HITLUser],
        on_ready: Callable[[Any], None] | None = None,
        late_after: dt.timedelta | None = None,
        planned_end: dt.datetime | None = None,
        on_late: Callable[[Any], None] | None = None,
        escalation: Ladder = NO_LADDER,
        on_escalation: Callable[[Any, Rung, dt.datetime], None] | None = None,
        language: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.subject = subject
        self._body = body  # text, or a function that writes it: only the task that runs needs it
        self.planned_start = planned_start
        self.assigned_users = assigned_users
        self._on_ready = on_ready  # e.g. the Ready e-mail; called once when the step first asks
        # Late: not closed by its due time (transition.runs.states.due_at: ``late_after``, the
        # step's duration, after it became ready, not before ``planned_end``), started or not;
        # ``on_late`` once.
        self.late_after = late_after
        self.planned_end = planned_end
        self._on_late = on_late
        # The escalation ladder: ``on_escalation(context, rung, since)`` once per rung (``since``:
        # when the step became Ready, or was due).
        self.escalation = escalation
        self._on_escalation = on_escalation
        self.language = language  # of the request's form (the body comes written)

    @property
    def body(self) -> str:
        return self._body() if callable(self._body) else self._body

    # -- stage 1: the planned start -------------------------------------------------------------
    def execute(self, context: Any) -> Any:
        if self.planned_start is not None and self.planned_start > timezone.utcnow():
            self.log.info(
                "Waiting for the planned start %s (no worker slot held)",
                self.planned_start.isoformat(),
            )
            self.defer(
                trigger=DateTimeTrigger(moment=self.planned_start),
                method_name="planned_start_reached",
            )
        return self._ready(context)

    def planned_start_reached(self, context: Any, event: Any = None) -> Any:
        return self._ready(context)

    def _ready(self, context: Any) -> Any:
        """Prerequisites closed, planned start reached: tell the people (once per run), then go on
        from what an earlier try was told, or ask them."""
        ledger = SentLedger.of(context)
        first_ready = ledger.get("ready")
        ready_at = first_ready or timezone.utcnow().isoformat()
        context["ti"].xcom_push(key=step_records.READY, value={"at": ready_at})
        if failures := ledger.get(
            "mail_failures"
        ):  # a new try starts with no XCom: keep them for the watch
            context["ti"].xcom_push(key=step_records.MAIL_FAILURES, value=failures)
        if first_ready is None:  # a retry (see the module's docstring) does not tell people again
            self._notify(self._on_ready, context, "that the step is ready")
            ledger.mark("ready", ready_at)
        return self._go_on(context, accepted_answers(context, self.retries or 0))

    def _go_on(self, context: Any, answers: list[Answer]) -> Any:
        """Ask for Start; or, when an earlier try of the run was answered (``answers``), go on from
        there: after a Start, ask for Close (the Start's record put back in XCom, which a new try
        starts without); after a Close, end closed."""
        start, close = step_progress(answers)
        stage = self.first_stage
        if start is not None:
            stage = STAGE_CLOSE
            context["ti"].xcom_push(key=step_records.STARTED, value=said(as_event(start)))
            ledger = SentLedger.of(context)
            if not ledger.get("started"):  # the try that was answered ended before it said so
                ledger.mark("started", start["at"] or timezone.utcnow().isoformat())
        if close is not None:
            self.log.info("Closed by %s at %s, before this try", close["by"], close["at"])
            return self.answered(context, stage, as_event(close))
        if start is not None:
            self.log.info("Started by %s at %s, before this try", start["by"], start["at"])
        self._ask_and_remind(context, stage)
        return None  # not reached: _ask parks the task

    def _notify(self, callback: Callable[[Any], None] | None, context: Any, what: str) -> None:
        if callback is None:
            return
        try:
            callback(context)
        except Exception:  # a notification never stops the step
            self.log.exception("Telling people %s failed; the step goes on", what)

    def _ask_to_close(self, context: Any) -> None:
        self._ask_and_remind(context, STAGE_CLOSE)

    def _ask_and_remind(self, context: Any, stage: str) -> NoReturn:
        """Send what is due now (Late, a rung of the ladder), then park for ``stage`` with a timeout
        at the next moment something will be due, if any."""
        ledger = SentLedger.of(context)
        ready_text = ledger.get("ready")
        ready_at = dt.datetime.fromisoformat(ready_text) if ready_text else None
        late_at = due_at(ready_at, self.late_after, self.planned_end)
        late_told = bool(ledger.get("late"))
        # A new try of a started step asks for Start again: its reminders stay those of an open step.
        reminders_for = STAGE_CLOSE if stage == STAGE_START and ledger.get("started") else stage
        ladder = rungs(self.escalation, reminders_for, ready_at, late_at)
        sent = {r.key for r in ladder if ledger.get(r.key)}
        now = timezone.utcnow()
        if late_at is not None and not late_told and late_at <= now:
            self._late(context)
            late_told = True
        if due_now := passed(ladder, sent, now):
            since = ready_at if due_now[-1].ladder == NOT_STARTED else late_at
            self._escalate(context, due_now, since)
            sent |= {r.key for r in due_now}
        moments = [late_at] if late_at is not None and not late_told else []
        if (ahead := next_rung(ladder, sent, now)) is not None:
            moments.append(ahead.at)
        if (also := self._also_due(context, now)) is not None:
            moments.append(also)
        if not moments:
            self._ask(context, stage)
        self._ask(context, stage, timeout=min(moments) - now)

    def _also_due(self, context: Any, now: dt.datetime) -> dt.datetime | None:
        """Send what else is due now (a gate: the latest safe decision's warning); when the next
        such thing will be, if any."""
        return None

    def _escalate(self, context: Any, due_now: list[Rung], since: dt.datetime | None) -> None:
        """Send the highest rung due now; the lower ones due with it count as passed (once)."""
        rung = due_now[-1]
        callback = self._on_escalation
        if callback is not None and since is not None:
            self.log.info("%s: escalation rung %s is due", self.task_id, rung.key)
            self._notify(lambda c: callback(c, rung, since), context, f"escalation {rung.key}")
        ledger = SentLedger.of(context)
        for passed_rung in due_now:
            ledger.mark(
                passed_rung.key, timezone.utcnow().isoformat() if passed_rung is rung else "passed"
            )

    def _late(self, context: Any) -> None:
        ledger = SentLedger.of(context)
        late_at = ledger.get("late")
        context["ti"].xcom_push(
            key=step_records.LATE, value={"at": late_at or timezone.utcnow().isoformat()}
        )
        if late_at is None:  # once per step and run, whatever retries come
            self._notify(self._on_late, context, "that the step is late")
            ledger.mark("late", timezone.utcnow().isoformat())

    # -- stages 2 and 3: people -----------------------------------------------------------------
    def options_for(self, stage: str) -> list[str]:
        """The request's buttons while it waits for ``stage``."""
        return self.options

    def _ask(self, context: Any, stage: str, timeout: dt.timedelta | None = None) -> NoReturn:
        upsert_hitl_detail(
            ti_id=context["task_instance"].id,
            options=self.options_for(stage),
            subject=self.subject,
            body=self.body,
            defaults=None,
            multiple=False,
            params=form(self.language),
            assigned_users=self.assigned_users,
        )
        self.log.info(
            "Asking %s to %s the step", ", ".join(u["id"] for u in self.assigned_users), stage
        )
        raise TaskAwaitingInput(method_name="answered", kwargs={"stage": stage}, timeout=timeout)

    def answered(self, context: Any, stage: str, event: dict[str, Any]) -> dict[str, Any] | None:
        if event.get("error_type") == "timeout" and stage in (STAGE_START, STAGE_CLOSE):
            self.log.info("%s waited until something was due (Late, a reminder)", self.task_id)
            self._ask_and_remind(context, stage)
        if "error" in event:
            raise RuntimeError(f"the step was not answered: {event['error']}")
        choice = (event.get("chosen_options") or [None])[0]
        record = said(event)
        who = record["by"]
        ti = context["ti"]
        if stage == STAGE_START and choice == START:
            self.log.info("Started by %s", who)
            ti.xcom_push(key=step_records.STARTED, value=record)
            SentLedger.of(context).mark("started", record["at"] or timezone.utcnow().isoformat())
            self._ask_to_close(context)
        if choice == CLOSE:
            if stage == STAGE_START:
                self.log.info("Closed by %s without a Start first", who)
                ti.xcom_push(key=step_records.STARTED, value=record)
            self.log.info("Closed by %s", who)
            ti.xcom_push(key=step_records.CLOSED, value=record)
            return {"closed_by": who}
        self.log.warning(
            "'%s' was chosen by %s while the step is already started; asking again", choice, who
        )
        self._ask_to_close(context)
        return None  # not reached: _ask parks the task
