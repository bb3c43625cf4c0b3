"""The project's shared words, named once: states, severities, defect statuses, the step's options
and stages, the e-mail subject prefix, the default link base. English ids; what people read is
translated where it is shown (``N_`` marks the names for the catalogues)."""

from __future__ import annotations

from enum import Enum

from transition.i18n import N_

DEFAULT_BASE_URL = "http://localhost:8080"  # links when Airflow's [api] base_url is not set
WATCH_TASK_ID = "_watch"  # the run's watch task in every dry-run DAG: no step may take this ID
WATCH_LABEL = "(run watch)"  # stands for the watch's own e-mails (Overdue alerts, calendar) in failure summaries


class State(str, Enum):
    """A step's state in a dry run (the states in docs/cockpit.md), and Failed when Airflow failed the task."""

    PLANNED = "Planned"
    LOCKED = "Locked"
    OVERDUE = "Overdue"
    IDLE = "Idle"
    READY = "Ready"
    OPEN = "Open"
    LATE = "Late"
    TERMINATED = "Terminated"
    SKIPPED = "Skipped"
    FAILED = "Failed"


class Severity(str, Enum):
    BLOCKING = "blocking"  # the step cannot be closed until it is resolved
    MAJOR = "major"
    MINOR = "minor"


class DefectStatus(str, Enum):
    OPEN = "open"
    RESOLVED = "resolved"


class Option(str, Enum):
    """The buttons of a step's request (Airflow human-in-the-loop options)."""

    START = "Start"
    CLOSE = "Close"
    GO = "Go"  # a gate's decision: the forward branch
    NO_GO = "No-go"  # a gate's decision: the fallback branch
    RETRY = "Retry"  # an automated step or check that failed: run its action again
    BY_HAND = "Done by hand"  # an automated step that failed: a person did it (with a comment)
    ACCEPT = "Accept"  # a check that failed: accepted as it is (with a reason)


# The answers that close an automated step or a check a person took over (a comment is required).
TAKEN_OVER = (Option.BY_HAND.value, Option.ACCEPT.value)
# Who closed a step its action closed (``by`` of its records, with ``automated``: true): no login.
AUTOMATION = "automation"


class Stage(str, Enum):
    """What a step's request waits for; travels in ``TaskAwaitingInput(kwargs={"stage": ...})``."""

    START = "start"
    CLOSE = "close"
    DECIDE = "decide"  # a gate waits for Go or No-go
    FALLBACK = "fallback"  # an automated step or check failed: its holder is asked to take over


class Decision(str, Enum):
    """A gate's decision, as kept with the run (XCom ``decision``)."""

    GO = "go"
    NO_GO = "no-go"


SEVERITY_NAMES = {
    Severity.BLOCKING.value: N_("blocking"),
    Severity.MAJOR.value: N_("major"),
    Severity.MINOR.value: N_("minor"),
}
STATUS_NAMES = {DefectStatus.OPEN.value: N_("open"), DefectStatus.RESOLVED.value: N_("resolved")}


def subject_prefix(dry_run: str) -> str:
    """``[Transition-DR1] ``: how every e-mail subject of a dry run begins."""
    return f"[Transition-{dry_run}] "


# The messages a chat channel (config.yaml's ``channels``) may be sent: each names a kind of e-mail
# that also goes, as a short text in the plan's language, to the channels that list it:
# ``ready`` a step is Ready; ``late`` not closed by its due time; ``overdue`` its start has come and
# its prerequisites are not closed; ``decision`` a gate's Go or No-go; ``transfer`` a step handed to
# someone; ``defect`` a blocking defect on a step; ``reminder`` a rung of the escalation ladder (a
# step nobody starts, or still open past its due time); ``heads_up`` "you're next" to an owner;
# ``end`` the dry run still going at its End; ``calendar`` calendar invitations, updates and
# cancellations (one message per sending, not per person); ``substitution`` a cutover manager hands
# an absent person's steps to a substitute.
CHANNEL_MESSAGES = (
    "ready",
    "late",
    "overdue",
    "decision",
    "transfer",
    "defect",
    "reminder",
    "heads_up",
    "end",
    "calendar",
    "substitution",
    "latest_safe",
)
ALL_CHANNEL_MESSAGES = "all"  # ``messages: all``: every kind above
