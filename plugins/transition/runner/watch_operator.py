"""The run's watch: one task per dry-run DAG that notices Overdue steps, and e-mail failures.

``_watch``, outside the plan's graph, sleeps deferred until the next planned start and calls
``on_overdue`` with the steps whose planned start has come that still wait for prerequisites, each
step once (its sent-ledger remembers). It also reports what steps and the api-server could not send
(``on_failures``), and calls ``on_record`` (the plan of record, once), ``on_start``, ``on_wake``
and ``on_heads_up``. It ends when every step has, and then deletes the run's sent-ledgers, holders
and api-server failures.

How it works: docs/architecture.md, "runner/watch_operator.py".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseOperator, timezone

from transition.plan.heads_up import HeadsUp
from transition.runs import step_records
from transition.runs.answers import run_prefix as answers_prefix
from transition.runs.sent_ledger import SentLedger, forget_run
from transition.runs.server_failures import read_server_failures
from transition.runs.server_failures import run_prefix as failures_prefix
from transition.runs.step_holder import run_prefix as holders_prefix
from transition.vocabulary import WATCH_LABEL, WATCH_TASK_ID

DONE = {"success", "skipped"}
FINISHED = DONE | {"failed", "upstream_failed", "removed"}
# While the run goes on the watch looks again at least this often (e-mail failures, the end of the
# run): the run ends at most this long after its last step.
RECHECK = dt.timedelta(minutes=1)
# Failed looks in a row after which the watch's try fails (10 minutes at the default recheck).
FAILED_LOOKS = 10


def next_wake(
    now: dt.datetime,
    upcoming: list[dt.datetime],
    recheck: dt.timedelta,
) -> dt.datetime:
    """When the watch of a run still going looks again: at the next moment something is due
    (an Overdue start, a heads-up), and at most ``recheck`` from now.

    Always within ``recheck``, also when no step has a state of its own yet: a step whose last
    prerequisite has just closed has none for a moment, before the scheduler schedules it, and it
    may then close at once; the watch that slept until the next Overdue start (an hour later, say)
    would keep the run going that long after its last step."""
    return min([*upcoming, now + recheck])


class RunWatchOperator(BaseOperator):
    ui_color = "#e8eef7"

    def __init__(
        self,
        *,
        starts: Mapping[str, dt.datetime],
        upstream: Mapping[str, tuple[str, ...]],
        on_overdue: Callable[[Any, list[tuple[str, list[str]]]], None],
        on_failures: Callable[[Any, list[dict]], bool] | None = None,
        on_start: Callable[[Any], None] | None = None,
        on_wake: Callable[[Any], None] | None = None,
        recheck: dt.timedelta = RECHECK,
        heads_up_due: Callable[..., tuple[list[HeadsUp], dt.datetime | None]] | None = None,
        on_heads_up: Callable[[Any, list[HeadsUp]], None] | None = None,
        on_record: Callable[[Any], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id=WATCH_TASK_ID, **kwargs)
        self.starts = dict(starts)  # step -> planned start (steps with prerequisites and one)
        self.upstream = dict(upstream)  # step -> upstream steps (all steps of the run)
        self._on_overdue = on_overdue
        self._on_failures = on_failures
        self._on_start = on_start
        self._on_wake = on_wake
        self.recheck = recheck
        self._heads_up_due = heads_up_due
        self._on_heads_up = on_heads_up
        self._on_record = on_record

    def execute(self, context: Any) -> None:
        self._watch(context, failed_looks=0)

    def woken(self, context: Any, event: Any = None, failed_looks: int = 0) -> None:
        self._watch(context, failed_looks)

    def _watch(self, context: Any, failed_looks: int) -> None:
        """Look at the run, then sleep until the next look (or end, the run's steps all finished).

        A look that fails (Airflow's API too slow to answer, its database restarting) does not end
        the watch: it looks again after its recheck, and only after :data:`FAILED_LOOKS` failed
        looks in a row does the try fail (its retries go on from the sent-ledger)."""
        try:
            wake = self._look(context)
        except Exception:
            failed_looks += 1
            if failed_looks >= FAILED_LOOKS:
                raise
            self.log.exception(
                "The watch could not look at the run (%d time(s) in a row); it looks again in %s",
                failed_looks,
                self.recheck,
            )
            wake = timezone.utcnow() + self.recheck
        else:
            failed_looks = 0
        if wake is not None:
            self.defer(
                trigger=DateTimeTrigger(moment=wake),
                method_name="woken",
                kwargs={"failed_looks": failed_looks},
            )

    def _look(self, context: Any) -> dt.datetime | None:
        """One look at the run: Overdue steps, failed e-mails, heads-ups; when to look again (None:
        every step has finished, the run's records are deleted)."""
        # deferred: Airflow's task runner, only inside a running task
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        ti = context["ti"]
        ledger = SentLedger.of(context)
        self._first_look(context, ledger)
        if self._on_wake is not None:
            try:
                self._on_wake(context)
            except Exception:
                self.log.exception("The watch's wake-up hook failed; the run goes on")
        now = timezone.utcnow()
        states: dict[str, Any] = RuntimeTaskInstance.get_task_states(
            dag_id=ti.dag_id, run_ids=[ti.run_id]
        ).get(ti.run_id, {})
        said = set(ledger.get("overdue", []))
        found: list[tuple[str, list[str]]] = []
        decided = set(said)
        for step, start in sorted(self.starts.items(), key=lambda item: item[1]):
            if step in said or start > now:
                continue
            holding = [u for u in self.upstream[step] if states.get(u) not in DONE]
            if holding:
                self.log.info(
                    "%s is Overdue: its start %s has come, it waits for %s",
                    step,
                    start,
                    ", ".join(holding),
                )
                found.append((step, holding))
            decided.add(step)  # a step is Overdue at its start or never: decided once
        if found:
            try:  # the steps found in one check, together: one e-mail per person
                self._on_overdue(context, found)
            except Exception:
                self.log.exception("The Overdue alert of %s failed", ", ".join(s for s, _ in found))
        if decided != said:
            said = decided
            ledger.mark("overdue", sorted(said))
        ti.xcom_push(key=step_records.OVERDUE, value=sorted(said))
        self._report_failures(context, states, ledger)
        next_heads_up = self._heads_up(context, states, ledger, now)

        if all(states.get(step) in FINISHED for step in self.upstream):
            gone = forget_run(
                ti.dag_id,
                ti.run_id,
                holders_prefix(ti.dag_id, ti.run_id),
                failures_prefix(ti.dag_id, ti.run_id),
                answers_prefix(ti.dag_id, ti.run_id),
            )
            self.log.info(
                "Every step of the run has finished; the watch ends (%d sent-ledgers, holders and answers deleted)",
                gone,
            )
            return None
        upcoming = [
            start for step, start in self.starts.items() if step not in said and start > now
        ]
        if next_heads_up is not None:
            upcoming.append(next_heads_up)
        return next_wake(now, upcoming, self.recheck)

    def _first_look(self, context: Any, ledger: SentLedger) -> None:
        """The plan of record and the start-of-run notice: once per run instance (the ledger)."""
        if self._on_record is not None and not ledger.get("recorded"):
            try:  # the plan of record: once per run instance, at the first look
                self._on_record(context)
                ledger.mark("recorded", timezone.utcnow().isoformat())
            except Exception:
                self.log.exception("The plan of record could not be written; next look")
        if self._on_start is not None and not ledger.get("started"):
            try:
                self._on_start(context)
            except Exception:
                self.log.exception("The start-of-run notice failed; the run goes on")
            ledger.mark("started", timezone.utcnow().isoformat())

    def _heads_up(
        self, context: Any, states: Mapping[str, Any], ledger: SentLedger, now: dt.datetime
    ) -> dt.datetime | None:
        """Tell the owners whose step is forecast Ready soon (once each); the next moment to look."""
        if self._heads_up_due is None:
            return None
        ti = context["ti"]
        started: dict[str, dt.datetime] = {}
        for step, state in states.items():
            if step in self.upstream and state in ("running", "awaiting_input", "up_for_retry"):
                record = ti.xcom_pull(task_ids=step, key=step_records.STARTED)
                if isinstance(record, dict) and isinstance(record.get("at"), str):
                    started[step] = dt.datetime.fromisoformat(record["at"])
        told = set(ledger.get("heads_up", []))
        due, ahead = self._heads_up_due(states=states, started=started, told=told, now=now)
        if due:
            self.log.info("Heads-up: %s", ", ".join(h.step_id for h in due))
            if self._on_heads_up is not None:
                try:
                    self._on_heads_up(context, due)
                except Exception:
                    self.log.exception(
                        "The heads-up of %s failed", ", ".join(h.step_id for h in due)
                    )
            ledger.mark("heads_up", sorted(told | {h.step_id for h in due}))
        return ahead

    def _report_failures(self, context: Any, states: Mapping[str, Any], ledger: SentLedger) -> None:
        """Tell the cutover managers about e-mails that could not be sent; those whose summary could
        not be sent are tried again at the next wake (within the recheck)."""
        if self._on_failures is None:
            return
        ti = context["ti"]
        reported = set(ledger.get("failures_reported", []))
        checked = set(ti.xcom_pull(task_ids=ti.task_id, key=step_records.FAILURES_CHECKED) or [])
        new: list[dict] = []
        for step, state in states.items():
            if step == ti.task_id or state is None or step in checked or step not in self.upstream:
                continue
            for failure in ti.xcom_pull(task_ids=step, key=step_records.MAIL_FAILURES) or []:
                key = f"{step}|{failure.get('mail')}|{failure.get('at')}"
                if key not in reported:
                    new.append({"step": step, "key": key, **failure})
            if state in FINISHED:
                checked.add(step)  # a finished step sends no more e-mails
        ledger.refresh()  # the Overdue alerts just sent may have written failures to it
        for failure in ledger.get(
            "mail_failures", []
        ):  # the watch's own (Overdue alerts, calendar)
            key = f"{ti.task_id}|{failure.get('mail')}|{failure.get('at')}"
            if key not in reported:
                new.append({"step": WATCH_LABEL, "key": key, **failure})
        try:  # the api-server's (a transfer's, a defect's, a substitution's channels)
            server = read_server_failures(ti.dag_id, ti.run_id, context["dag_run"].run_after)
        except Exception:
            self.log.exception("The api-server's failed messages could not be read; next time")
            server = []
        new += [{**failure, "key": key} for key, failure in server if key not in reported]
        ti.xcom_push(key=step_records.FAILURES_CHECKED, value=sorted(checked))
        if not new:
            return
        try:
            delivered = self._on_failures(context, new)
        except Exception:
            self.log.exception("Telling the cutover managers about failed e-mails failed")
            delivered = False
        if delivered:
            reported.update(f["key"] for f in new)
            ledger.mark("failures_reported", sorted(reported))
