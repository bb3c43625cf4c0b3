"""An automated step or a check as one Airflow task: run its action, and ask a person when it fails.

After the prerequisites and the planned start (as every step), the task runs the step's action
(:mod:`transition.runner.action_runs`); a check also compares its value with the expectation
(:mod:`transition.plan.check_rules`). Went right: closed "by the automation". Went wrong: the
holder is told and asked to take over: **Retry** or **Done by hand** (a check: **Retry** or
**Accept**), with a comment. An action runs **at most once per decision**: each run is in the
task's ledger before it begins and when it ends, so a new try never runs an ended run again, nor
one whose process died (its holder is asked), and runs a Retry accepted before a try died once.

How it works: docs/architecture.md, "runner/auto_step_operator.py".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from airflow.sdk import timezone

from transition.i18n import _, use_language
from transition.notifications.request_text import action_failure_markdown
from transition.plan.action_arguments import Value
from transition.plan.actions import Action
from transition.plan.check_rules import passes
from transition.plan.model import StepAction
from transition.runner.action_runs import Outcome, run_action
from transition.runner.step_operator import STAGE_START, START, StepOperator, said
from transition.runs import step_records
from transition.runs.answers import Answer, as_event, first_try_since_clear
from transition.runs.sent_ledger import SentLedger
from transition.vocabulary import AUTOMATION, TAKEN_OVER, Option, Stage

RETRY, BY_HAND, ACCEPT = Option.RETRY.value, Option.BY_HAND.value, Option.ACCEPT.value
STAGE_FALLBACK = Stage.FALLBACK.value
RUNS = "action_runs"  # the ledger's entry: every run of the action (step_records.ActionRun)
CONFIRMED = "confirmed"  # the ledger's entry: the holder's Start (Approvals "before"), its try


class AutoStepOperator(StepOperator):
    """Runs ``action`` with ``arguments`` in ``folder``; a check (``check``: the step's action and
    expectation) also compares what it measured. ``on_fallback(context, failure=...)`` tells the
    holder, once per failed run."""

    ui_color = "#dcefd9"
    ui_fgcolor = "#173b12"
    options = [RETRY, BY_HAND]
    first_stage = STAGE_FALLBACK

    def __init__(
        self,
        *,
        action: Action,
        arguments: dict[str, Value],
        folder: str,
        check: StepAction | None = None,
        confirm_first: bool = False,
        on_fallback: Callable[..., None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.action = action
        self.arguments = arguments
        self.folder = folder
        self.check = check
        self.confirm_first = confirm_first  # its holder answers Start before the action runs
        if check is not None:
            self.options = [RETRY, ACCEPT]
        self._on_fallback = on_fallback
        self._failure = ""  # what went wrong, put before the request's text

    @property
    def body(self) -> str:
        text = super().body
        return f"{self._failure}\n\n{text}" if self._failure else text

    # -- what earlier tries did -----------------------------------------------------------------
    def _runs(self, context: Any) -> list[step_records.ActionRun]:
        """The action's runs since the step's last clear (the ledger keeps the run's whole life)."""
        ti = context["ti"]
        first = first_try_since_clear(ti.max_tries, self.retries or 0)
        runs: list[step_records.ActionRun] = SentLedger.of(context).get(RUNS, [])
        return [r for r in runs if isinstance(r, dict) and r.get("try_number", 0) >= first]

    def _save(self, context: Any, run: step_records.ActionRun) -> None:
        """Write ``run`` (new, or the same run ended) into the ledger, keeping earlier clears' runs;
        the step's Start is its action's first run (one read, one write)."""

        def with_run(entries: dict[str, Any]) -> dict[str, Any]:
            runs = [r for r in entries.get(RUNS, []) if r.get("started") != run["started"]]
            started = entries.get("started") or run["started"]
            return {**entries, RUNS: [*runs, run], "started": started}

        SentLedger.of(context).amend(with_run)

    def _go_on(self, context: Any, answers: list[Answer]) -> Any:
        """Run the action; or, on a new try, go on from what earlier tries did and were answered:
        a person who took over closes it, an accepted Retry not yet run runs, a run that ended
        closes the step or asks its holder, a run that never ended asks its holder."""
        runs = self._runs(context)
        if taken := next((a for a in answers if a["option"] in TAKEN_OVER), None):
            return self._taken_over(context, as_event(taken), runs)
        if self.confirm_first and not runs:
            if (start := next((a for a in answers if a["option"] == START), None)) is None:
                self._ask_and_remind(context, STAGE_START)
            self._confirmed(context, as_event(start))
        retries = sum(1 for a in answers if a["option"] == RETRY)
        if len(runs) < 1 + retries:
            return self._run(context, runs)
        self._keep_records(context, runs)
        last = runs[-1]
        if "ended" not in last:
            self.log.warning(
                "The action's run of %s never ended: asking its holder", last["started"]
            )
            return self._fall_back(context, runs)
        if last.get("ok"):
            return self._closed(context, runs)
        return self._fall_back(context, runs)

    # -- running the action ---------------------------------------------------------------------
    def _run(self, context: Any, runs: list[step_records.ActionRun]) -> Any:
        ti = context["ti"]
        run: step_records.ActionRun = {
            "try_number": ti.try_number,
            "started": timezone.utcnow().isoformat(),
        }
        self._save(context, run)  # before it begins: a try that finds it unended runs it no more
        runs = [*runs, run]
        context["ti"].xcom_push(key=step_records.STARTED, value=self._started(context, runs))
        self.log.info("Running action %s (run %d)", self.action.name, len(runs))
        outcome = run_action(self.action, self.arguments, Path(self.folder), self.check is not None)
        run["ended"], run["ok"], run["said"] = (
            timezone.utcnow().isoformat(),
            outcome.ok,
            outcome.said,
        )
        if outcome.tail:
            run["tail"] = list(outcome.tail)
        if outcome.value is not None:
            run["value"] = outcome.value
        if outcome.ok and self.check is not None and outcome.value is not None:
            run["passed"], run["ok"], run["said"] = self._verdict(context, outcome)
        self._save(context, run)
        self._keep_records(context, runs)
        self.log.info(
            "Action %s: %s (%s)", self.action.name, "ok" if run["ok"] else "failed", run["said"]
        )
        if run["ok"]:
            return self._closed(context, runs)
        return self._fall_back(context, runs)

    def _verdict(self, context: Any, outcome: Outcome) -> tuple[bool, bool, str]:
        """(passed, ok, what to say) of a check's measured value."""
        assert self.check is not None and outcome.value is not None
        measured: dict[str, float] = {}
        expect = self.check.expect
        if expect is not None and expect.of_step is not None:
            record = context["ti"].xcom_pull(task_ids=expect.of_step, key=step_records.CLOSED)
            if isinstance(record, dict) and isinstance(record.get("value"), int | float):
                measured[expect.of_step] = float(record["value"])
        with use_language(self.language):
            try:
                passed = passes(self.check, outcome.value, measured)
            except ValueError as error:
                return False, False, str(error)
            verdict = _("measured {value}, expected {expect}").format(
                value=_number(outcome.value), expect=self.check.expect_text
            )
        return passed, passed, verdict

    # -- how it ends ----------------------------------------------------------------------------
    def _started(self, context: Any, runs: list[step_records.ActionRun]) -> step_records.Said:
        """The step's Start: its holder's (Approvals ``before``), else its action's first run."""
        if self.confirm_first:
            ti = context["ti"]
            confirmed = SentLedger.of(context).get(CONFIRMED)
            first = first_try_since_clear(ti.max_tries, self.retries or 0)
            if isinstance(confirmed, dict) and confirmed.get("try_number", 0) >= first:
                return {
                    "by": confirmed.get("by"),
                    "at": confirmed.get("at"),
                    "comment": str(confirmed.get("comment") or ""),
                }
        return {"by": AUTOMATION, "at": runs[0]["started"], "comment": "", "automated": True}

    def _keep_records(self, context: Any, runs: list[step_records.ActionRun]) -> None:
        """The step's Start (its action's first run) and its runs, in XCom (a new try has none)."""
        ti = context["ti"]
        ti.xcom_push(key=step_records.STARTED, value=self._started(context, runs))
        ti.xcom_push(key=step_records.AUTOMATION, value={"runs": runs})

    def _closed(self, context: Any, runs: list[step_records.ActionRun]) -> dict[str, Any]:
        last = runs[-1]
        record: step_records.Said = {
            "by": AUTOMATION,
            "at": last.get("ended"),
            "comment": last.get("said", ""),
            "automated": True,
        }
        self._with_value(record, last)
        context["ti"].xcom_push(key=step_records.CLOSED, value=record)
        self.log.info("Closed by the automation")
        return {"closed_by": AUTOMATION}

    def _taken_over(
        self, context: Any, event: dict[str, Any], runs: list[step_records.ActionRun]
    ) -> dict[str, Any]:
        record = said(event)
        record["taken_over"] = (event.get("chosen_options") or [""])[0]
        if runs:
            self._keep_records(context, runs)
            self._with_value(record, runs[-1])
        context["ti"].xcom_push(key=step_records.CLOSED, value=record)
        self.log.info("%s by %s", record["taken_over"], record["by"])
        return {"closed_by": record["by"]}

    def _with_value(self, record: step_records.Said, run: step_records.ActionRun) -> None:
        if self.check is not None and "value" in run:
            record["value"] = run["value"]
            record["verdict"] = "passed" if run.get("passed") else "failed"

    def _fall_back(self, context: Any, runs: list[step_records.ActionRun]) -> NoReturn:
        """Ask the holder to take over (the last run failed, or never ended); tell them once per
        run."""
        with use_language(self.language):
            self._failure = action_failure_markdown(
                self.action.name, runs[-1], self.check is not None
            )
        ledger = SentLedger.of(context)
        told = f"fallback/{runs[-1]['started']}"
        if not ledger.get(told) and self._on_fallback is not None:
            callback = self._on_fallback
            self._notify(lambda c: callback(c, failure=runs[-1]), context, "that the action failed")
        if not ledger.get(told):
            ledger.mark(told, timezone.utcnow().isoformat())
        self._ask_and_remind(context, STAGE_FALLBACK)

    def options_for(self, stage: str) -> list[str]:
        return [START] if stage == STAGE_START else self.options

    def _confirmed(self, context: Any, event: dict[str, Any]) -> None:
        """Its holder's Start (Approvals ``before``): the step's Start, kept for new tries."""
        record = said(event)
        context["ti"].xcom_push(key=step_records.STARTED, value=record)
        SentLedger.of(context).mark(CONFIRMED, {**record, "try_number": context["ti"].try_number})

    def answered(self, context: Any, stage: str, event: dict[str, Any]) -> Any:
        if stage == STAGE_START and "error" not in event:
            if (event.get("chosen_options") or [None])[0] != START:
                self._ask_and_remind(context, STAGE_START)
            self._confirmed(context, event)
            return self._run(context, self._runs(context))
        if stage != STAGE_FALLBACK:
            return super().answered(context, stage, event)
        runs = self._runs(context)
        if event.get("error_type") == "timeout":  # a reminder is due, never an answer
            self._fall_back(context, runs)
        if "error" in event:
            raise RuntimeError(f"the step was not answered: {event['error']}")
        choice = (event.get("chosen_options") or [None])[0]
        if choice == RETRY:
            self.log.info("Retry asked by %s", said(event)["by"])
            return self._run(context, runs)
        if choice in TAKEN_OVER:
            return self._taken_over(context, event, runs)
        self.log.warning("'%s' is not an answer to a failed action; asking again", choice)
        self._fall_back(context, runs)
        return None  # not reached: _fall_back parks the task


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
