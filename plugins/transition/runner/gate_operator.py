"""A go / no-go gate as one Airflow task: wait for the planned time, then ask for **Go** or **No-go**.

**No-go** from any allowed person decides at once (the fallback branch runs); **Go** counts once
per distinct person, and ``approvals`` of them run the forward branch. While nobody decides, the
gate climbs the escalation ladder's not-started rungs, and warns a while before its latest safe
decision (``latest_safe``: the recap's figure); it never decides by itself. The skipping is
Airflow's own (a branch operator); the decision is pushed to XCom (``decision``).

How it works: docs/architecture.md, "runner/gate_operator.py".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from airflow.sdk.bases.branch import BranchMixIn

from transition.i18n import _, use_language
from transition.plan.gates import said_go
from transition.runner.step_operator import StepOperator, said
from transition.runs import step_records
from transition.runs.answers import Answer, as_event
from transition.runs.sent_ledger import GATE_ANSWERS, SentLedger
from transition.runs.step_holder import read_handed
from transition.vocabulary import Decision, Option, Stage

GO, NO_GO = Option.GO.value, Option.NO_GO.value
GATE_OPTIONS = [GO, NO_GO]
WARNED = "latest_safe"  # the sent-ledger's entry once the latest safe decision was warned of
STAGE_DECIDE = Stage.DECIDE.value


def said_choice(event: dict[str, Any]) -> dict[str, Any]:
    """A gate's answer as kept in its ledger: who, when, the comment, and the choice."""
    record = said(event)
    comment = record["comment"]
    return {
        **record,
        "comment": comment if isinstance(comment, str) else "",
        "choice": (event.get("chosen_options") or [None])[0],
    }


def same_answer(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """The same answer (who, which, when), however its time was written."""
    if (one.get("by"), one.get("choice")) != (other.get("by"), other.get("choice")):
        return False
    try:
        return dt.datetime.fromisoformat(one["at"]) == dt.datetime.fromisoformat(other["at"])
    except (KeyError, TypeError, ValueError):
        return one.get("at") == other.get("at")


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
        evidence: Callable[[Any], list[str]] | None = None,
        latest_safe: Callable[[Any], dict[str, Any] | None] | None = None,
        on_latest_safe: Callable[[Any, dict[str, Any]], None] | None = None,
        warn_before: dt.timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # The latest safe decision (RunView.confidence's gate: latest_safe, fallback_p95_minutes),
        # and the warning ``warn_before`` it, once.
        self._latest_safe = latest_safe
        self._on_latest_safe = on_latest_safe
        self.warn_before = warn_before
        # The checks the gate rests on, one line each (read from the run when it asks).
        self._evidence = evidence
        self._evidence_lines: list[str] = []
        self.forward = tuple(forward)
        self.fallback = tuple(fallback)
        self.approvals = max(1, approvals)
        # e.g. the decision e-mail: on_decision(context, record, followed, skipped)
        self._on_decision = on_decision

    @property
    def body(self) -> str:
        text = super().body
        if not self._evidence_lines:
            return text
        with use_language(self.language):
            heading = _("Checks this decision rests on")
        lines = "\n".join(f"- {line}" for line in self._evidence_lines)
        return f"### {heading}\n\n{lines}\n\n{text}"

    def _go_on(self, context: Any, answers: list[Answer]) -> Any:
        """Ask for the decision; or take the answers an earlier try of the run was given first
        (``answers``, in order), as they came: one of them may decide."""
        if self._evidence is not None:
            with use_language(self.language):
                self._evidence_lines = self._evidence(context["ti"])
        for accepted in answers:
            decided, result = self._take(context, said_choice(as_event(accepted)))
            if decided:
                return result
        if go := said_go(SentLedger.of(context).get(GATE_ANSWERS, []), read_handed(context)):
            context["ti"].xcom_push(
                key=step_records.APPROVALS, value=go
            )  # a new try starts without XCom
        self._ask_and_remind(context, STAGE_DECIDE)
        return None  # not reached: _ask parks the task

    def _also_due(self, context: Any, now: dt.datetime) -> dt.datetime | None:
        """Warn of the latest safe decision once it is ``warn_before`` away (once per run); else
        when it will be. Read again at each wake: the run's progress moves it."""
        warn, find = self._on_latest_safe, self._latest_safe
        if warn is None or find is None or self.warn_before is None:
            return None
        ledger = SentLedger.of(context)
        if ledger.get(WARNED):
            return None
        try:
            safety = find(context)
        except Exception:  # the warning never stops the gate
            self.log.exception("Could not read the latest safe decision of %s", self.task_id)
            return None
        if not safety or not safety.get("latest_safe"):
            return None
        warn_at = dt.datetime.fromisoformat(str(safety["latest_safe"])) - self.warn_before
        if warn_at > now:
            self.log.info("%s: warning of the latest safe decision at %s", self.task_id, warn_at)
            return warn_at
        self.log.info("%s: latest safe decision %s", self.task_id, safety["latest_safe"])
        self._notify(lambda c: warn(c, safety), context, "the latest safe decision")
        ledger.mark(WARNED, now.isoformat())
        return None

    def answered(self, context: Any, stage: str, event: dict[str, Any]) -> Any:
        if event.get("error_type") == "timeout" and stage == STAGE_DECIDE:
            # The timeout is the next rung of the ladder, never an answer: send it, ask again.
            self.log.info("%s waited until a reminder was due", self.task_id)
            self._ask_and_remind(context, STAGE_DECIDE)
        if "error" in event:
            raise RuntimeError(f"the gate was not answered: {event['error']}")
        decided, result = self._take(context, said_choice(event))
        if decided:
            return result
        self._ask_and_remind(context, STAGE_DECIDE)
        return None  # not reached: _ask parks the task

    def _take(self, context: Any, answer: dict[str, Any]) -> tuple[bool, Any]:
        """Count one answer (once: a try may go on from one already counted); (True, what the
        branching returns) when it decides the gate, else (False, None)."""
        choice = answer["choice"]
        if choice not in GATE_OPTIONS:
            self.log.warning("'%s' is not an answer to a gate; asking again", choice)
            return False, None
        ledger = SentLedger.of(context)
        answers: list[dict[str, Any]] = ledger.get(GATE_ANSWERS, [])
        if not any(same_answer(answer, counted) for counted in answers):
            answers = [*answers, answer]
            ledger.mark(GATE_ANSWERS, answers)
        if choice == NO_GO:
            return True, self._decide(context, Decision.NO_GO, answers, self.fallback)
        go = said_go(answers, read_handed(context))  # four eyes: a transfer is not a second pair
        if len(go) >= self.approvals:
            return True, self._decide(context, Decision.GO, answers, self.forward)
        self.log.info("Go from %s: %d of %d", ", ".join(go), len(go), self.approvals)
        context["ti"].xcom_push(key=step_records.APPROVALS, value=go)
        return False, None

    def _decide(
        self,
        context: Any,
        decision: Decision,
        answers: list[dict[str, Any]],
        follow: tuple[str, ...],
    ) -> Any:
        last = answers[-1]
        record: step_records.Decision = {
            "decision": decision.value,
            "by": last["by"],
            "at": last["at"],
            "comment": last["comment"],
            "go": said_go(answers, read_handed(context)),
            "answers": answers,
            "skipped_branch": list(self.fallback if decision is Decision.GO else self.forward),
        }
        ti = context["ti"]
        ti.xcom_push(key=step_records.DECISION, value=record)
        closed: step_records.Said = {
            "by": record["by"],
            "at": record["at"],
            "comment": record["comment"],
        }
        ti.xcom_push(key=step_records.CLOSED, value=closed)
        skipped = self.fallback if decision is Decision.GO else self.forward
        if self._on_decision is not None:
            on_decision = self._on_decision
            self._notify(
                lambda ctx: on_decision(ctx, record, follow, skipped), context, "the decision"
            )
        self.log.info("%s decided by %s: following %s", decision.value, last["by"], list(follow))
        return self.do_branch(context, list(follow))
