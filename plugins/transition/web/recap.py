"""The recap page: every step of a dry run with its state in colour, filters and actions.

``GET /transition/recap`` (Airflow's menu: *Transition recap*), in ``?lang=`` or the user's language;
its data comes from :mod:`run_api`'s JSON with the user's own Airflow login.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Request
from fastapi.responses import HTMLResponse

from transition.i18n import N_, _, languages, use_language
from transition.notifications.mail import template_environment
from transition.runs.states import STATE_COLOURS, state_name
from transition.vocabulary import SEVERITY_NAMES, STATUS_NAMES
from transition.web.app import airflow_root, app, plan_or_404, problems, user_language
from transition.web.guard_facts import actor_id

STATE_MEANINGS = {  # the recap's legend (translated when shown)
    "Planned": N_("prerequisites not done, start far away"),
    "Locked": N_("prerequisites not done, start within the lock window"),
    "Overdue": N_("start reached, prerequisites not done"),
    "Idle": N_("prerequisites done, start not reached"),
    "Ready": N_("waiting for its owner to start it"),
    "Open": N_("started, not closed"),
    "Late": N_(
        "not closed by its due time: its duration after it became ready, not before its planned end"
    ),
    "Terminated": N_("closed"),
    "Skipped": N_("not executed in this run"),
    "Failed": N_("failed in Airflow: look at it"),
}


def _js(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def automation_texts() -> dict[str, Any]:
    """The recap's words for an automated step or check, in the current language."""
    return {
        "automated": _("automated"),
        "check": _("check"),
        "by_automation": _("closed by the automation"),
        "action_runs": _("the action runs"),
        "action_failed": _("the action failed"),
        "measured": _("measured {value}, expected {expect}"),
        "verdicts": {"passed": _("passed"), "failed": _("failed")},
        "taken_over": _("{option} by {person}"),
        "runs": _("{count} runs"),
        "log": _("log"),
    }


@app.get("/recap", response_class=HTMLResponse, responses=problems(401, 403, 404))
def recap(request: Request, user: GetUserDep, lang: str | None = None) -> HTMLResponse:
    """The recap page (its data comes from the JSON endpoints above, with the user's Airflow login),
    in ``?lang=`` if given, else the user's language."""

    with use_language(lang if lang in languages() else user_language(user)) as language:
        plan = plan_or_404()
        owners = sorted(
            {(s.owner, plan.actors[s.owner].name) for s in plan.steps.values()}, key=lambda o: o[1]
        )
        texts = {
            "states": {state: state_name(state) for state in STATE_COLOURS},
            "severities": {key: _(name) for key, name in SEVERITY_NAMES.items()},
            "statuses": {key: _(name) for key, name in STATUS_NAMES.items()},
            "no_run": _("No run of this dry run yet: trigger its DAG to start it."),
            "updated": _("Updated {time} ({timezone}); refreshes every {seconds} s."),
            "shown": _("{shown} shown of {total}"),
            "planned_end": _("Planned end"),
            "forecast_end": _("forecast end"),
            "must_end_by": _("must end by"),
            "critical_path": _("Critical path (forecast)"),
            "as_planned": _("as planned"),
            "phase": _("Phase"),
            "open_defect": _("(open)"),
            "resolve": _("Resolve"),
            "required_action": _("Required action"),
            "transfer": _("Transfer"),
            "defect": _("Defect"),
            "transfer_title": _("Transfer step {step}"),
            "defect_title": _("Record a defect on step {step}"),
            "defect_after_close": _("Record a defect found after the step was closed"),
            "after_close": _("(after the close)"),
            "run_defects": _("Defects on the run"),
            "run_defect": _("Record a defect on the run"),
            "run_defect_title": _("Record a defect on the run as a whole"),
            "refused": _("Refused: {reason}"),
            "substituted": _("Handed over: {steps}"),
            "could_not_load": _("Could not load: {reason}"),
            "forced_close": _("forced closed by {person}"),
            "gate": _("gate"),
            "decided_go": _("Go by {people}"),
            "decided_no_go": _("No-go by {person}"),
            "skipped_by": _("skipped by the decision of gate {gate}"),
            "gate_ahead": _("Gate {gate}: on Go the run ends {go}; on No-go (backout now) {no_go}"),
            **automation_texts(),
            **confidence_texts(),
            **plan_record_texts(),
        }
        page = (
            template_environment()
            .get_template("recap.html.j2")
            .render(
                plan=plan.name,
                prefix=f"{airflow_root(request)}/transition",  # behind a proxy's path too
                user=actor_id(user),
                user_json=_js(actor_id(user)),
                texts_json=_js(texts),
                what_if_texts_json=_js(what_if_texts()),
                timezone=plan.timezone,
                lang=language,
                dags=[
                    (
                        plan.dag_id(d),
                        _("{dry_run} (D-day {date})").format(
                            dry_run=d, date=plan.dry_runs[d].d_day
                        ),
                    )
                    for d in plan.schedules
                ],
                phases=list(plan.phases),
                teams=sorted({a.team for a in plan.actors.values() if a.team}),
                owners=owners,
                colours=STATE_COLOURS,
                state_names=texts["states"],
                legend=[(state, _(meaning)) for state, meaning in STATE_MEANINGS.items()],
            )
        )
    return HTMLResponse(page)


def confidence_texts() -> dict[str, str]:
    """The recap's words for the forecast from the draws (RunView.confidence)."""
    return {
        "confidence": _("From {draws} draws ({source}): P50 {p50} · P80 {p80} · P95 {p95}"),
        "from_runs": _("durations measured in {runs} finished runs, else planned"),
        "from_plan": _("planned durations: no finished run yet"),
        "chance": _("{percent}% chance to end by the End"),
        "most_critical": _("Most often on the critical path: {steps}"),
        "latest_safe": _(
            "Gate {gate}: decide by {time} ({left} left) for a No-go to end by the End; its "
            "fallback takes up to {duration} in 95% of the draws"
        ),
        "latest_safe_passed": _(
            "Gate {gate}: the latest safe decision was {time}; a No-go now may end after the End"
        ),
        "hours_minutes": _("{hours} h {minutes} min"),
        "review": _("Review of this run (HTML, to print or save as PDF)"),
    }


def plan_record_texts() -> dict[str, str]:
    """The recap's words for the plan the run started with (RunView.plan_of_record)."""
    return {
        "plan_record": _("Plan of record: {workbook} (version {version}), recorded {time}"),
        "plan_record_title": _(
            "workbook SHA-256 {workbook}; configuration SHA-256 {config}; plan format {format}; "
            "Airflow DAG version {version}"
        ),
        "no_plan_record": _(
            "No plan of record for this run: its watch records it when the run starts."
        ),
        "changed_while": _("The plan changed while the run ran ({when}):"),
        "changed_after": _("The plan changed after the run ended ({when}):"),
        "since_version": _("from DAG version {version}, {time}"),
        "since_compiled": _("by {time}, when the plan now was compiled"),
        "steps_added": _("steps added: {steps}"),
        "steps_removed": _("steps removed: {steps}"),
        "durations_changed": _("durations changed: {steps}"),
        "no_step_changed": _("no step of this dry run added, removed or of another duration"),
        "not_compared": _("the plan recorded cannot be read here: only its version says so"),
        "n_minutes": _("{n} min"),
    }


def what_if_texts() -> dict[str, str]:
    """The words of the recap's what-if (``recap_what_if.html.j2``), in the current language."""
    return {
        "answer": _(
            "If {step} ends {ends_at} ({shift} from its forecast), the run ends {after} "
            "(forecast now: {before}; {run_shift})."
        ),
        "margin_ok": _("{duration} before the End ({end})."),
        "margin_late": _("{duration} after the End ({end}): the End is at risk."),
        "days": _("{n} d"),
        "hours": _("{n} h"),
        "minutes": _("{n} min"),
        "moved": _("Steps that move:"),
        "moved_line": _(
            "start {start_before} → {start_after}, end {end_before} → {end_after} ({shift})"
        ),
        "nothing_moves": _("No other step moves."),
        "gates": _("Gates that move:"),
        "gate_line": _("decision {start_before} → {start_after} (planned {planned})"),
        "warn": _("People to warn:"),
        "refused": _("Refused: {reason}"),
    }
