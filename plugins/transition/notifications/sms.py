"""SMS to each person concerned: a channel of config.yaml with ``to: people``.

Its connection is an Apprise one whose URL holds ``{phone}``, put in per person (their Actors
row's Phone, E.164). Each message of its kinds goes to each person its e-mail goes to (To and Cc),
once each, in their language: the subject and the step page's link, at most 300 characters.
People without a Phone are skipped (logged); a gateway that refuses is a channel's failure,
recorded with the e-mails', never raised. How it works: docs/channels.md, "SMS".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from email.message import EmailMessage
from email.utils import getaddresses
from urllib.parse import quote

from transition.i18n import _
from transition.notifications.channels import APPRISE_CONNECTION_TYPE, ChannelError, ChannelMessage
from transition.notifications.mail import failure_reason
from transition.plan.model import Actor, Plan

log = logging.getLogger(__name__)

PEOPLE = "people"  # a channel's ``to``: each person concerned (else "room", one message per event)
PHONE = "{phone}"  # in the connection's Apprise URL: the person's number (``+`` as ``%2B``)
MAX_SMS_CHARS = 300


def sms_text(message: ChannelMessage) -> str:
    """The subject and the link, at most :data:`MAX_SMS_CHARS` (the subject cut first)."""
    title = " ".join(message.title.split())
    if not message.link:
        return title[:MAX_SMS_CHARS]
    room = MAX_SMS_CHARS - len(message.link) - 1
    if len(title) > room:
        title = title[: max(room - 1, 0)] + "…" if room > 1 else ""
    return f"{title}\n{message.link}" if title else message.link[:MAX_SMS_CHARS]


def addresses(message: EmailMessage) -> list[str]:
    """An e-mail's To and Cc addresses, in order."""
    return [a for _name, a in getaddresses([message.get("To", ""), message.get("Cc", "")]) if a]


def people_of(plan: Plan, emails: Iterable[str]) -> list[Actor]:
    """The plan's people these addresses are, each once, in the order they come."""
    by_email = {a.email.casefold(): a for a in plan.actors.values()}
    found: dict[str, Actor] = {}
    for email in emails:
        actor = by_email.get(email.casefold())
        if actor is not None:
            found.setdefault(actor.id, actor)
    return list(found.values())


def send_sms(connection_id: str, phone: str, text: str) -> None:
    """One SMS through the Apprise URLs of this connection that hold ``{phone}``;
    :class:`ChannelError` with a one-line reason."""
    # deferred: Airflow's connections and Apprise, only in the process that sends
    import apprise
    from airflow.providers.apprise.hooks.apprise import AppriseHook

    hook = AppriseHook(apprise_conn_id=connection_id)
    try:
        connection = hook.get_connection(connection_id)
    except Exception as exc:
        raise ChannelError(
            _("no Airflow connection '{connection}' ({reason})").format(
                connection=connection_id, reason=failure_reason(exc)
            )
        ) from None
    if connection.conn_type != APPRISE_CONNECTION_TYPE:
        raise ChannelError(
            _(
                "connection '{connection}' is of type '{type}'; SMS need an {apprise} connection"
            ).format(connection=connection_id, type=connection.conn_type, apprise="apprise")
        )
    config = hook.get_config_from_conn(conn=connection)
    entries = config if isinstance(config, list) else [config]
    services = apprise.Apprise()
    for entry in entries:
        if PHONE in str(entry.get("path", "")):
            services.add(str(entry["path"]).replace(PHONE, quote(phone, safe="")))
    if len(services) == 0:
        raise ChannelError(
            _("connection '{connection}' lists no Apprise URL with {phone} it can use").format(
                connection=connection_id, phone=PHONE
            )
        )
    if not services.notify(body=text, title=""):
        raise ChannelError(
            _("Apprise could not deliver to connection '{connection}' (its log says why)").format(
                connection=connection_id
            )
        )


def tell_people(
    plan: Plan,
    kind: str,
    build: Callable[..., ChannelMessage],
    emails: Sequence[str],
    on_failure: Callable[[str, str], None] | None = None,
) -> list[tuple[str, str]]:
    """An SMS to each person of ``emails`` with a Phone, through each ``to: people`` channel that
    gets ``kind``; ``build(language=...)`` writes the message in theirs. Never raises; returns
    the failures, (``connection (person)``, reason), each also given to ``on_failure``."""
    channels = plan.channels_for(kind, to=PEOPLE)
    if not channels:
        return []
    failures = []
    texts: dict[str, str] = {}  # per language: each is built once
    for person in people_of(plan, emails):
        if not person.phone:
            log.info(
                "No SMS of the %s message to %s: no Phone in the Actors sheet", kind, person.id
            )
            continue
        for channel in channels:
            where = f"{channel.connection} ({person.name})"
            try:
                if person.language not in texts:
                    texts[person.language] = sms_text(build(language=person.language))
                send_sms(channel.connection, person.phone, texts[person.language])
            except Exception as exc:  # not built, a gateway refusing, a missing connection
                reason = str(exc) if isinstance(exc, ChannelError) else failure_reason(exc)
                log.warning("The %s SMS to %s could not be sent (%s)", kind, where, reason)
                failures.append((where, reason))
                if on_failure is not None:
                    try:
                        on_failure(where, reason)
                    except Exception:
                        log.exception("The failure of the SMS to %s could not be recorded", where)
                continue
            log.info("%s SMS sent through %s to %s", kind, channel.connection, person.id)
    return failures
