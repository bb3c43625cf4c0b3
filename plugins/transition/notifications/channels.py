"""Chat channels: the messages config.yaml's ``channels`` lists also go to Slack, Teams and others.

Each channel is an Airflow connection whose type says how it is posted to (``slackwebhook`` or
``apprise``). Its message is a short text in the plan's language; e-mail is always sent as well,
and a channel that cannot be posted to never stops a step nor its e-mails: the failure is logged
and returned.

How it works: docs/architecture.md, "notifications/channels.py".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from transition.errors import TransitionError
from transition.i18n import _
from transition.notifications.mail import failure_reason
from transition.plan.model import Plan

log = logging.getLogger(__name__)

SLACK_CONNECTION_TYPE = "slackwebhook"
APPRISE_CONNECTION_TYPE = "apprise"
SLACK_TIMEOUT_SECONDS = (
    10  # a transfer or defect posts from an api-server request: not 30 s (Slack SDK's)
)
MAX_LINE_CHARS = 300  # a line of a chat message: a label, a headline; longer ones are cut


class ChannelError(TransitionError):
    """A channel could not be posted to; the message says why, in a line."""


@dataclass(frozen=True)
class ChannelMessage:
    """What a channel is told: the kind of message (``ready``, ``late``, ...), a title (the e-mail's
    subject), a few lines and the link to open, all already written in the plan's language."""

    kind: str
    title: str
    lines: tuple[str, ...]
    link: str | None = None

    def text(self) -> str:
        """The message as plain text: the title, its lines, the link."""
        lines = [_one_line(self.title), *(_one_line(line) for line in self.lines if line)]
        if self.link:
            lines.append(self.link)
        return "\n".join(lines)


def _one_line(value: str) -> str:
    line = " ".join(str(value).split())
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…"


def slack_text(message: ChannelMessage) -> str:
    """The message for Slack: its ``&``, ``<`` and ``>`` escaped (Slack reads ``<...>`` as a link
    or a mention), the title in bold."""
    escaped = [_slack_escape(line) for line in message.text().split("\n")]
    escaped[0] = f"*{escaped[0]}*"
    return "\n".join(escaped)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def post(connection_id: str, message: ChannelMessage) -> None:
    """Post to the channel of this Airflow connection; :class:`ChannelError` with a one-line reason."""
    # deferred: Airflow's connections and the providers, only in the process that posts
    from airflow.sdk import BaseHook

    try:
        connection = BaseHook.get_connection(connection_id)
    except Exception as exc:
        raise ChannelError(
            _("no Airflow connection '{connection}' ({reason})").format(
                connection=connection_id, reason=failure_reason(exc)
            )
        ) from None
    if connection.conn_type == SLACK_CONNECTION_TYPE:
        _post_to_slack(connection_id, message)
    elif connection.conn_type == APPRISE_CONNECTION_TYPE:
        _post_through_apprise(connection_id, message)
    else:
        raise ChannelError(
            _(
                "connection '{connection}' is of type '{type}'; a channel needs a {slack} or "
                "{apprise} connection"
            ).format(
                connection=connection_id,
                type=connection.conn_type,
                slack=SLACK_CONNECTION_TYPE,
                apprise=APPRISE_CONNECTION_TYPE,
            )
        )


def _post_to_slack(connection_id: str, message: ChannelMessage) -> None:
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    # notify() posts the text as given: no Jinja rendering of a label that holds "{{".
    SlackWebhookNotifier(
        slack_webhook_conn_id=connection_id,
        text=slack_text(message),
        timeout=SLACK_TIMEOUT_SECONDS,
    ).notify({})


def _post_through_apprise(connection_id: str, message: ChannelMessage) -> None:
    import apprise
    from airflow.providers.apprise.hooks.apprise import AppriseHook

    # The hook reads the connection's Apprise URLs; the notification is sent here so that a
    # service that refuses it is an error (the hook's notify() drops Apprise's answer).
    hook = AppriseHook(apprise_conn_id=connection_id)
    services = apprise.Apprise()
    hook.set_config_from_conn(conn=hook.get_connection(connection_id), apprise_obj=services)
    if len(services) == 0:
        raise ChannelError(
            _("connection '{connection}' lists no Apprise URL it can use").format(
                connection=connection_id
            )
        )
    title, *rest = message.text().split("\n")
    if not services.notify(body="\n".join(rest) or title, title=title):
        raise ChannelError(
            _("Apprise could not deliver to connection '{connection}' (its log says why)").format(
                connection=connection_id
            )
        )


def tell_channels(
    plan: Plan,
    kind: str,
    build: Callable[[], ChannelMessage],
    on_failure: Callable[[str, str], None] | None = None,
) -> list[tuple[str, str]]:
    """Build the message (only when a channel gets this kind) and post it to every channel of the
    plan that gets this kind of message; never raises.

    Returns the channels that failed, (connection, reason); ``on_failure(connection, reason)`` is
    called for each (to record it with the e-mails that could not be sent)."""
    return post_to_channels(
        [c.connection for c in plan.channels_for(kind)], kind, build, on_failure
    )


def post_to_channels(
    connections: Sequence[str],
    kind: str,
    build: Callable[[], ChannelMessage],
    on_failure: Callable[[str, str], None] | None = None,
) -> list[tuple[str, str]]:
    """:func:`tell_channels` for channels named by their connections, where no plan is at hand (the
    dry run's End, in Airflow's triggerer); never raises."""
    if not connections:
        return []
    try:
        message = build()
    except Exception as exc:
        log.exception("The %s message for the channels could not be built", kind)
        built: ChannelMessage | None = None
        not_built = failure_reason(exc)
    else:
        built = message
    failures = []
    for connection in connections:
        try:
            if built is None:
                raise ChannelError(not_built)
            post(connection, built)
        except Exception as exc:  # the provider's errors, HTTP errors, a missing connection
            reason = str(exc) if isinstance(exc, ChannelError) else failure_reason(exc)
            log.warning(
                "The %s message could not be posted to channel %s (%s); the step goes on",
                kind,
                connection,
                reason,
            )
            failures.append((connection, reason))
            if on_failure is not None:
                try:
                    on_failure(connection, reason)
                except Exception:
                    log.exception("The failure of channel %s could not be recorded", connection)
            continue
        log.info("%s message posted to channel %s: %s", kind, connection, built.title)
    return failures


def lines_of_facts(facts: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """``Owner: Alice Martin`` lines from (name, value) facts."""
    return tuple(
        _("{name}: {value}").format(name=name, value=value) for name, value in facts if value
    )
