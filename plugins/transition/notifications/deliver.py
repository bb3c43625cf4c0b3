"""One way to tell people: an :class:`Announcement` is what to say (its e-mails, each for readers of
one language, and its chat message); :func:`deliver` says it.

Each kind of message (``ready_mail``, ``alert_mail``, ``escalation_mail``, ...) only builds its
content. ``deliver`` does the rest, the same for all: it sends a kind once per task when asked to
(the task's sent-ledger), builds each e-mail in its readers' language, sends it, logs what went
out, records what could not be built or sent (``record``: for the run's watch, which tells the
cutover managers), posts the chat message to the plan's channels that get this kind, and sends it
by SMS to the e-mails' people (``to: people`` channels, :mod:`.sms`). It never raises: a message
that cannot be sent never stops a step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import partial
from typing import Any, Protocol

from transition.i18n import use_language
from transition.notifications.channels import ChannelMessage, tell_channels
from transition.notifications.mail import MailError, failure_reason, send
from transition.notifications.sms import addresses, tell_people
from transition.plan.model import Plan
from transition.runs.mail_failures import record_mail_failure
from transition.runs.sent_ledger import SentLedger

log = logging.getLogger(__name__)


class Recorder(Protocol):
    """Keeps a message that could not be sent: ``mail`` its kind, ``to`` its reader (or, with
    ``channel``, the channel's connection), ``error`` why."""

    def __call__(self, mail: str, to: str, error: str, *, channel: bool = False) -> None: ...


def task_recorder(ti: Any) -> Recorder:
    """Failures kept on the task that tried (:func:`~transition.runs.mail_failures.record_mail_failure`)."""
    return partial(record_mail_failure, ti)


@dataclass(frozen=True)
class Mail:
    """One e-mail: ``build`` runs in ``language`` (when given); ``to`` is who it is for, named in
    the failure when it cannot even be built."""

    build: Callable[[], EmailMessage]
    to: str
    language: str | None = None

    @classmethod
    def built(cls, message: EmailMessage, to: str | None = None) -> Mail:
        """An e-mail built already (``to``: its reader, by default its To)."""
        return cls(partial(_as_is, message), to=to or str(message["To"]))


def _as_is(message: EmailMessage) -> EmailMessage:
    return message


@dataclass(frozen=True)
class Once:
    """Say it once per task and run: the task's ledger ``entry``, written ``value`` once said."""

    ledger: SentLedger
    entry: str
    value: Any = True


@dataclass(frozen=True)
class Announcement:
    """What to tell people about ``about`` (a step, a gate, several steps): ``kind`` names it in
    the failure summary, ``channel_kind`` in the plan's channel settings (``kind`` when not given)."""

    kind: str
    about: str
    mails: Sequence[Mail] = ()
    # the channel's message, in the plan's language; ``language=`` another (each person's SMS)
    channel: Callable[..., ChannelMessage] | None = None
    channel_kind: str | None = None
    once: Once | None = None
    people: Sequence[str] = ()  # whom an SMS goes to besides the e-mails' To and Cc (addresses)


@dataclass
class Delivered:
    """What went out: how many e-mails, and (reader, reason) of each that did not."""

    sent: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    channels_failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: bool = False

    @property
    def error(self) -> str | None:
        """The e-mails' failures in a line, or None when every e-mail went out."""
        return "; ".join(reason for _to, reason in self.failed) or None


def send_one(
    mail: Mail, kind: str, about: str, record: Recorder | None, seen: list[str] | None = None
) -> str | None:
    """Build and send one e-mail; None once sent, else why not (recorded, logged, never raised).
    ``seen``: gets the e-mail's To and Cc once it is built (sent or not)."""
    message: EmailMessage | None = None
    try:
        if mail.language:
            with use_language(mail.language):
                message = mail.build()
        else:
            message = mail.build()
        if seen is not None:
            seen.extend(addresses(message))
        send(message)
    except Exception as exc:  # not sent (MailError) or not even built: recorded alike
        if not isinstance(exc, MailError):
            log.exception("The %s e-mail of %s could not be built", kind, about)
        reason = failure_reason(exc)
        log.warning(
            "The %s e-mail of %s could not be sent (%s); the run goes on", kind, about, reason
        )
        if record is not None:
            record(kind, str(message["To"]) if message is not None else mail.to, reason)
        return reason
    log.info(
        "%s e-mail sent: %s to %s (cc %s)",
        kind,
        message["Subject"],
        message["To"],
        message.get("Cc", "nobody"),
    )
    return None


def deliver(plan: Plan, announcement: Announcement, record: Recorder | None) -> Delivered:
    """Send ``announcement``'s e-mails, then post its chat message; never raises."""
    once = announcement.once
    if once is not None and once.ledger.get(once.entry):
        return Delivered(skipped=True)
    delivered = Delivered()
    concerned = list(announcement.people)
    for mail in announcement.mails:
        reason = send_one(mail, announcement.kind, announcement.about, record, concerned)
        if reason is None:
            delivered.sent += 1
        else:
            delivered.failed.append((mail.to, reason))
    if announcement.channel is not None:
        kind = announcement.channel_kind or announcement.kind
        on_failure = partial(record, announcement.kind, channel=True) if record else None
        delivered.channels_failed = tell_channels(plan, kind, announcement.channel, on_failure)
        delivered.channels_failed += tell_people(
            plan, kind, announcement.channel, concerned, on_failure
        )
    if once is not None:
        once.ledger.mark(once.entry, once.value)
    return delivered
