"""The plan of record in the results: the Run sheet's rows (the workbook's and the configuration's
SHA-256, the plan's format, Airflow's DAG version, what changed and when), and the evidence pack's
copy of the workbook and configuration as the run started with them.

From the run view's ``plan_of_record`` (:class:`transition.runs.views.PlanOfRecordView`) and
``GET …/plan-of-record?files=true`` (:mod:`transition.web.plan_record_api`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from transition.errors import NotFound
from transition.i18n import N_, _
from transition.results.api_client import ApiClient
from transition.runs.plan_of_record import KEEP_LIMIT, NOT_STORED, ROLES, TOO_BIG, UNREADABLE

WHY_NOT_KEPT = {
    TOO_BIG: N_("larger than {megabytes} MB compressed"),
    UNREADABLE: N_("it could not be read"),
    NOT_STORED: N_("Airflow could not store it"),
}


def _moment(value: Any) -> dt.datetime | None:
    """A time of the view (ISO, the plan's zone) as Excel keeps it: the wall-clock time."""
    try:
        return dt.datetime.fromisoformat(str(value)).replace(tzinfo=None, microsecond=0)
    except ValueError:
        return None


def _short(value: Any) -> str:
    moment = _moment(value)
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else "—"


def plan_record_rows(record: Mapping[str, Any] | None) -> list[tuple[str, object]]:
    """The Run sheet's rows on the plan the run started with, and what changed in it since."""
    if not isinstance(record, Mapping):
        return [(_("Plan of record"), _("not recorded"))]
    return [
        (_("Workbook"), record.get("workbook")),
        (_("Workbook SHA-256"), record.get("workbook_sha256")),
        (_("Configuration"), record.get("config")),
        (_("Configuration SHA-256"), record.get("config_sha256")),
        (_("Plan format"), record.get("format")),
        (_("Airflow DAG version"), record.get("dag_version_id")),
        (_("Plan recorded"), _moment(record.get("recorded_at"))),
        (_("Workbook and configuration kept"), kept_text(record.get("files"))),
        (_("Plan changed"), changes_text(record.get("changes"))),
    ]


def kept_text(files: Any) -> str:
    """``yes``; or which file was not kept with the record, and why; or that the record is older."""
    if not isinstance(files, Mapping) or not files:
        return _("no: the run recorded its plan before the files were kept")
    missing = [
        _("{file} not kept: {why}").format(
            file=about.get("name") or role,
            why=_(WHY_NOT_KEPT.get(str(about.get("why")), N_("it could not be read"))).format(
                megabytes=KEEP_LIMIT // (1024 * 1024)
            ),
        )
        for role, about in files.items()
        if isinstance(about, Mapping) and not about.get("kept")
    ]
    return "; ".join(missing) or _("yes")


def changes_text(changes: Any) -> str:
    """``no``, or when and what changed: ``The plan changed while the run ran (from DAG version
    7, 2027-01-14 10:02): steps added: X · durations changed: A 60 min → 120 min``."""
    if not isinstance(changes, Mapping) or not changes.get("changed"):
        return _("no")
    time = _short(changes.get("since"))
    since = (
        _("from DAG version {version}, {time}").format(
            version=changes.get("since_version"), time=time
        )
        if changes.get("since_from") == "dag_version"
        else _("by {time}, when the plan now was compiled").format(time=time)
    )
    head = (
        _("The plan changed while the run ran ({when}):")
        if changes.get("while_running")
        else _("The plan changed after the run ended ({when}):")
    ).format(when=since)

    def minutes(value: Any) -> str:
        return _("{n} min").format(n=round(float(value)))

    parts = []
    if changes.get("added"):
        parts.append(_("steps added: {steps}").format(steps=", ".join(changes["added"])))
    if changes.get("removed"):
        parts.append(_("steps removed: {steps}").format(steps=", ".join(changes["removed"])))
    if changes.get("durations"):
        moved = ", ".join(
            f"{d['step']} {minutes(d['before_minutes'])} → {minutes(d['after_minutes'])}"
            for d in changes["durations"]
        )
        parts.append(_("durations changed: {steps}").format(steps=moved))
    if not parts:
        parts.append(
            _("no step of this dry run added, removed or of another duration")
            if changes.get("compared")
            else _("the plan recorded cannot be read here: only its version says so")
        )
    return f"{head} {' · '.join(parts)}"


def plan_files(client: ApiClient, dag_id: str, run_id: str) -> dict[str, bytes]:
    """The workbook and configuration as the run started with them, for the evidence pack:
    ``plan/<file name>`` -> bytes (none when none were kept, or the plugin is older)."""
    run = f"/transition/api/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    try:
        answer = client.get(f"{run}/plan-of-record", {"files": "true"})
    except NotFound:
        return {}
    kept = answer.get("files") if isinstance(answer.get("files"), dict) else {}
    found: dict[str, bytes] = {}
    for role in ROLES:
        about = kept.get(role)
        if not isinstance(about, dict):
            continue
        name = PurePosixPath(str(about.get("name") or "").replace("\\", "/")).name
        try:
            data = base64.b64decode(str(about["content_base64"]), validate=True)
        except (KeyError, ValueError, binascii.Error):
            continue
        found[f"plan/{name if name not in ('', '.', '..') else role}"] = data
    return found
