"""Messages a task could not send, kept for the run's watch to tell the cutover managers.

A failure is kept on the task that tried (XCom :data:`~transition.runs.step_records.MAIL_FAILURES`)
and in its sent-ledger, from which a new try (which starts without XCom) puts it back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from transition.runs import step_records
from transition.runs.sent_ledger import SentLedger


def record_mail_failure(ti: Any, mail: str, to: str, error: str, *, channel: bool = False) -> None:
    """Keep a failed e-mail on the task that tried (XCom ``mail_failures``), for the run's watch;
    ``channel``: a chat channel's message (``to`` is its connection) that could not be posted.

    Also in the task's sent-ledger: a new try clears the XCom and puts them back from there.
    """
    ledger = SentLedger(ti.dag_id, ti.run_id, ti.task_id)
    failures = ledger.get("mail_failures", [])
    failure: step_records.MailFailure = {
        "mail": mail,
        "to": to,
        "error": error,
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }
    if channel:
        failure["channel"] = True
    failures.append(failure)
    ledger.mark("mail_failures", failures)
    ti.xcom_push(key=step_records.MAIL_FAILURES, value=failures)
