"""Problems found in a plan, and the project's exception hierarchy.

A :class:`Problem` is one finding, always with where it is (``Steps!E14``, a sheet name, or the
configuration file) and what is wrong in words a cutover manager understands. Exceptions carry
lists of problems so that every problem is reported at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from transition.i18n import _

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: ``location: message``."""

    location: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = _("warning: ") if self.severity == "warning" else ""
        return f"{self.location}: {prefix}{self.message}"

    def to_json(self) -> dict[str, str]:
        return {"location": self.location, "message": self.message, "severity": self.severity}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Problem:
        return cls(data["location"], data["message"], data.get("severity", "error"))  # type: ignore[arg-type]  # JSON we wrote


def errors_only(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def warnings_only(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]


def format_problems(problems: Iterable[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


class TransitionError(Exception):
    """Base of every error this package raises on purpose."""


class ProblemsError(TransitionError):
    """An error made of one or more located problems."""

    def __init__(self, problems: list[Problem], headline: str | None = None) -> None:
        self.problems = problems
        self.headline = headline
        super().__init__(self.render())

    def render(self) -> str:
        lines = [self.headline] if self.headline else []
        lines.extend(str(p) for p in self.problems)
        return "\n".join(lines)


class ConfigError(ProblemsError):
    """The configuration file is missing or wrong."""


class WorkbookError(ProblemsError):
    """The workbook cannot be opened or read at all."""


class PlanInvalid(ProblemsError):
    """The workbook was read, but the plan it holds breaks the contract."""


class UsageError(TransitionError):
    """A command was called the wrong way (CLI exit code 2)."""


# -- Airflow's REST API (transition report, the weekly report) --------------------------------


class ApiError(TransitionError):
    """Airflow did not give the data; the message says why, in a line."""


class ApiUnreachable(ApiError):
    """No answer from Airflow at that address (not running, wrong URL, network)."""


class ApiRefused(ApiError):
    """Airflow refused the user: wrong user name or password, or a user who may not read the runs."""


class NotFound(ApiError):
    """No such DAG, run, or dry run of the plan."""


class EvidenceInvalid(TransitionError):
    """An evidence pack that does not hold: the message names the first file or entry that fails."""
