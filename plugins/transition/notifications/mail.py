"""E-mails: templates from the package's ``templates/`` (HTML escaped), text + HTML, sent through Airflow's
SMTP connection (``smtp_default``, the SMTP provider's hook: host, port, TLS, login, from address).

Headers are set here only (:func:`compose`, :func:`attach`, :func:`send`), each value through
:func:`header_text`: a dry-run name, step label or defect title with a line break of any kind (CR,
LF, U+0085, U+2028, U+2029, ...) would make Python refuse the header (``ValueError``), or, written
as is, start a header of its own. Bodies stay as written (the HTML one escaped by its templates).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from functools import lru_cache
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup

from transition.errors import TransitionError
from transition.i18n import _, current_language, format_moment, ngettext, pgettext
from transition.locations import TEMPLATES_DIR as TEMPLATES

SMTP_CONN_ID = "smtp_default"
DEFAULT_FROM = "transition@localhost"


class MailError(TransitionError):
    """An e-mail could not be sent; the message says why, in a line."""


# Control characters (CR, LF, tab, ...), DEL, and what Python's str.splitlines also breaks on.
_NOT_IN_A_HEADER = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]+")


def header_text(value: object) -> str:
    """``value`` on one line, as a header may hold it: line breaks and control characters become a space."""
    return _NOT_IN_A_HEADER.sub(" ", str(value)).strip()


@lru_cache(maxsize=1)
def template_environment() -> jinja2.Environment:
    """The templates' environment: ``{% trans %}`` and ``_()`` write in the current language
    (:func:`transition.i18n.use_language`), ``lang`` is its code, ``when(moment)`` formats a time."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=lambda name: bool(
            name and name.endswith(".html.j2")
        ),  # every HTML template escapes
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
        # Each task is a new process: compiled templates kept in the user's temp folder (Jinja's
        # own, checked by source) save it most of the 80 ms of compiling them (bench/handover.py).
        bytecode_cache=jinja2.FileSystemBytecodeCache(),
    )
    environment.policies["ext.i18n.trimmed"] = True  # as transition.cli.catalogues extracts them
    environment.install_gettext_callables(_, ngettext, newstyle=True, pgettext=pgettext)  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
    environment.globals["when"] = format_moment
    return environment


def render(name: str, **values: Any) -> tuple[str, str]:
    """(text, html) from ``<name>.txt.j2`` and ``<name>.html.j2``, in the current language."""
    environment = template_environment()
    values.setdefault("lang", current_language())
    return environment.get_template(f"{name}.txt.j2").render(**values), environment.get_template(
        f"{name}.html.j2"
    ).render(**values)


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False})


def markdown_html(text: str) -> Markup:
    """Markdown from the workbook as HTML; raw HTML in it is escaped, never rendered."""
    return Markup(_MARKDOWN.render(text or ""))


def compose(
    *,
    subject: str,
    to: Iterable[str],
    cc: Iterable[str] = (),
    text: str,
    html: str,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    to_list = list(dict.fromkeys(header_text(a) for a in to if a))
    cc_list = [a for a in dict.fromkeys(header_text(a) for a in cc if a) if a and a not in to_list]
    message = EmailMessage()
    message["Subject"] = header_text(subject)
    message["To"] = ", ".join(a for a in to_list if a)
    if cc_list:
        message["Cc"] = ", ".join(cc_list)
    message["Message-ID"] = make_msgid(domain="transition.local")
    for key, value in (headers or {}).items():
        message[key] = header_text(value)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def attach(
    message: EmailMessage,
    data: bytes,
    *,
    maintype: str,
    subtype: str,
    filename: str,
    params: dict[str, str] | None = None,
) -> None:
    """Attach a file; its name (and parameters) made safe for the Content-Disposition header."""
    message.add_attachment(
        data,
        maintype=maintype,
        subtype=subtype,
        filename=header_text(filename),
        params={key: header_text(value) for key, value in (params or {}).items()},
    )


def send(message: EmailMessage, conn_id: str = SMTP_CONN_ID) -> None:
    """Send through the Airflow SMTP connection; raises :class:`MailError` with a one-line reason."""
    # deferred: the SMTP provider, only in the process that sends
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    try:
        with SmtpHook(smtp_conn_id=conn_id) as hook:
            if "From" not in message:
                message["From"] = formataddr(("Transition plan", hook.from_email or DEFAULT_FROM))
            # The hook's own send builds an HTML-only message; ours has a plain-text part too, so
            # it goes through the client the hook connected (TLS, login and retries are the hook's).
            client = hook._smtp_client
            if client is None:
                raise MailError("the SMTP connection did not open")
            client.send_message(message)
    except Exception as exc:  # connection refused, timeouts, SMTP errors, missing connection
        raise MailError(failure_reason(exc)) from None


def failure_reason(exc: BaseException) -> str:
    """Why an e-mail could not be built or sent, in a line (a :class:`MailError` says it already)."""
    if isinstance(exc, MailError):
        return str(exc)
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {reason}"[:300]
