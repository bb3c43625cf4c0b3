"""A go / no-go gate as one Airflow task: wait for the planned time, then ask for **Go** or **No-go**.

Like a step (:mod:`step_operator`), it defers to its planned start with no worker slot held, tells
its people once that it is ready, and parks in Airflow's human-in-the-loop request (``awaiting_input``).
Its answer is a decision:

* **No-go** from any allowed person decides at once: the forward branch is skipped, the fallback
  branch runs;
* **Go** counts once per distinct person; when ``approvals`` people have said Go, the fallback
  branch is skipped and the forward branch runs. Until then the gate asks again (the same request,
  its last answer cleared); who said Go is kept in the run's ledger, which survives retries.

While nobody decides, it climbs the escalation ladder's not-started rungs, counted from when it
became Ready (``escalation``, ``on_escalation``: :mod:`transition.notifications.gate_reminder_mail`),
as a step waiting for Start does: it parks with a timeout at the next rung, and the timeout only
sends the rung and parks again; it never decides. A Go that is not yet enough keeps the rungs going
where they were (the sent-ledger knows which went).

The skipping is Airflow's own: the gate is a branch operator (``BranchMixIn.do_branch``), and the
scheduler's skip propagation skips what only follows a skipped step. The decision (Go or No-go, who,
when, the comments) is pushed to XCom (``decision``) for the recap and the results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from airflow.sdk.bases.branch import BranchMixIn

from transition.notifications.sent_ledger import GATE_ANSWERS, SentLedger
from transition.plan.gates import said_go
from transition.runner.step_operator import StepOperator, responder_login
from transition.vocabulary import Decision, Option, Stage

GO, NO_GO = Option.GO.value, Option.NO_GO.value
GATE_OPTIONS = [GO, NO_GO]
STAGE_DECIDE = Stage.DECIDE.value


class GateOperator(StepOperator, BranchMixIn):
    """A decision: ``approvals`` distinct Go answers run ``forward``; one No-go runs ``fallback``."""

    inherits_from_skipmixin = True
    options = GATE_OPTIONS
    first_stage = STAGE_DECIDE
    ui_color = "#d7e8fb"
    ui_fgcolor = "#0b2a4a"

    def __init__(
        self,
        *,
        forward: tuple[str, ...],
        fallback: tuple[str, ...],
        approvals: int = 1,
        on_decision: Callable[..., None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.forward = tuple(forward)
        self.fallback = tuple(fallback)
        self.approvals = max(1, approvals)
        # e.g. the decision e-mail: on_decision(context, record, followed, skipped)
        self._on_decision = on_decision

    def answered(self, context: Any, stage: str, event: dict[str, Any]) -> Any:
        if event.get("error_type") == "timeout" and stage == STAGE_DECIDE:
            # The timeout is the next rung of the ladder, never an answer: send it, ask again.
            self.log.info("%s waited until a reminder was due", self.task_id)
            self._ask_and_remind(context, STAGE_DECIDE)
        if "error" in event:
            raise RuntimeError(f"the gate was not answered: {event['error']}")
        choice = (event.get("chosen_options") or [None])[0]
        at = event.get("responded_at")
        params_input = event.get("params_input")
        comment = (params_input or {}).get("comment") if isinstance(params_input, dict) else None
        answer = {
            "by": responder_login(event.get("responded_by_user")),
            "at": at.isoformat() if isinstance(at, dt.datetime) else at,
            "comment": comment.strip() if isinstance(comment, str) else "",
            "choice": choice,
        }
        ledger = SentLedger.of(context)
        answers: list[dict[str, Any]] = [*ledger.get(GATE_ANSWERS, []), answer]
        ledger.mark(GATE_ANSWERS, answers)
        if choice == NO_GO:
            return self._decide(context, Decision.NO_GO, answers, self.fallback)
        if choice == GO:
            go = said_go(answers)
            if len(go) >= self.approvals:
                return self._decide(context, Decision.GO, answers, self.forward)
            self.log.info("Go from %s: %d of %d", ", ".join(go), len(go), self.approvals)
            context["ti"].xcom_push(key="approvals", value=go)
            self._ask_and_remind(context, STAGE_DECIDE)
        self.log.warning("'%s' is not an answer to a gate; asking again", choice)
        self._ask_and_remind(context, STAGE_DECIDE)
        return None  # not reached: _ask parks the task

    def _decide(
        self,
        context: Any,
        decision: Decision,
        answers: list[dict[str, Any]],
        follow: tuple[str, ...],
    ) -> Any:
        last = answers[-1]
        record = {
            "decision": decision.value,
            "by": last["by"],
            "at": last["at"],
            "comment": last["comment"],
            "go": said_go(answers),
            "answers": answers,
            "skipped_branch": list(self.fallback if decision is Decision.GO else self.forward),
        }
        ti = context["ti"]
        ti.xcom_push(key="decision", value=record)
        ti.xcom_push(key="closed", value={k: record[k] for k in ("by", "at", "comment")})
        skipped = self.fallback if decision is Decision.GO else self.forward
        if self._on_decision is not None:
            on_decision = self._on_decision
            self._notify(
                lambda ctx: on_decision(ctx, record, follow, skipped), context, "the decision"
            )
        self.log.info("%s decided by %s: following %s", decision.value, last["by"], list(follow))
        return self.do_branch(context, list(follow))
