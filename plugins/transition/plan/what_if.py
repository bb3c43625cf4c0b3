"""What if a step ends at another time: the forecast again with that end, compared with the current one.

"If step X ends at T" (or "slips by D" from its forecast end) gives the new forecast end, the steps
whose forecast start or end moves and by how much, and whether the run then ends after the dry
run's End. Pure: the caller passes the forecast's inputs (the progress it reckons with, now); nothing
is recorded anywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from transition.errors import TransitionError
from transition.i18n import _
from transition.plan.forecast import Progress, Timeline, reckon
from transition.plan.model import DryRunPlan, Step

UTC = dt.UTC


class WhatIfError(TransitionError):
    """A hypothesis that cannot be asked: ``reason`` says which (the web layer picks its status)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # "no-step", "no-run", "done" or "bad-time"
        self.message = message


@dataclass(frozen=True)
class Hypothesis:
    """Step ``step`` ends at ``ends_at``, or ``slip`` after (negative: before) its forecast end."""

    step: str
    ends_at: dt.datetime | None = None  # aware
    slip: dt.timedelta | None = None

    def __post_init__(self) -> None:
        if (self.ends_at is None) == (self.slip is None):
            raise ValueError("a hypothesis gives an end time or a slip, exactly one")


@dataclass(frozen=True)
class Move:
    """A step whose forecast changes: its start and end now and under the hypothesis."""

    step: str
    start_before: dt.datetime
    start_after: dt.datetime
    end_before: dt.datetime
    end_after: dt.datetime

    @property
    def shift(self) -> dt.timedelta:
        """How much later (negative: earlier) the step ends."""
        return self.end_after - self.end_before


@dataclass(frozen=True)
class WhatIf:
    step: str
    ends_at: dt.datetime  # the hypothesised end of ``step``
    before: Timeline  # the forecast as it is
    after: Timeline  # the forecast under the hypothesis
    moved: list[Move]  # in the order of their new start, ``step`` included
    must_end_by: dt.datetime | None  # the dry run's End

    @property
    def shift(self) -> dt.timedelta | None:
        """How much later (negative: earlier) the run ends."""
        if self.before.end is None or self.after.end is None:
            return None
        return self.after.end - self.before.end

    @property
    def margin(self) -> dt.timedelta | None:
        """Time left between the new forecast end and the dry run's End (negative: past it)."""
        if self.must_end_by is None or self.after.end is None:
            return None
        return self.must_end_by - self.after.end

    @property
    def late(self) -> bool:
        """The run would end after the dry run's End."""
        return self.margin is not None and self.margin < dt.timedelta(0)


def ask(
    schedule: DryRunPlan,
    steps: Mapping[str, Step],
    now: dt.datetime,
    progress: Mapping[str, Progress],
    hypothesis: Hypothesis,
) -> WhatIf:
    """The forecast from ``now`` with ``progress`` (as :func:`reckon` takes them), then again with
    ``hypothesis.step`` ending at the time asked; :class:`WhatIfError` when it cannot be asked."""
    step_id = hypothesis.step
    if step_id not in schedule.steps:
        raise WhatIfError(
            "no-step",
            _("no step '{step}' in dry run {dry_run}").format(
                step=step_id, dry_run=schedule.dry_run.name
            ),
        )
    if progress.get(step_id, Progress()).done:
        raise WhatIfError(
            "done",
            _(
                "step {step} is closed or skipped (or skipped on Go of a gate not decided yet): "
                "its end is no longer a forecast"
            ).format(step=step_id),
        )
    now = now.astimezone(UTC)
    before = reckon(schedule, steps, now, progress)
    if hypothesis.ends_at is not None:
        ends_at = hypothesis.ends_at.astimezone(UTC)
    else:
        ends_at = before.ends[step_id] + (hypothesis.slip or dt.timedelta(0))
    earliest = max(before.starts[step_id], now)
    zone = next((s.planned_start.tzinfo for s in schedule.steps.values() if s.planned_start), UTC)
    if ends_at < earliest:
        raise WhatIfError(
            "bad-time",
            _(
                "step {step} cannot end at {asked}: not before {earliest} (now, or its forecast "
                "start)"
            ).format(
                step=step_id,
                asked=ends_at.astimezone(zone).isoformat(timespec="minutes"),
                earliest=earliest.astimezone(zone).isoformat(timespec="minutes"),
            ),
        )
    # Its start does not move (its prerequisites do not depend on it): counted as ending at that time.
    asked = Progress(done=True, started_at=before.starts[step_id], ended_at=ends_at)
    after = reckon(schedule, steps, now, {**progress, step_id: asked})
    moved = [
        Move(s, before.starts[s], after.starts[s], before.ends[s], after.ends[s])
        for s in schedule.steps
        if (before.starts[s], before.ends[s]) != (after.starts[s], after.ends[s])
    ]
    moved.sort(key=lambda m: (m.start_after, m.step))
    return WhatIf(step_id, ends_at, before, after, moved, schedule.dry_run.end)
