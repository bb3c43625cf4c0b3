"""A pack's journal against what Airflow's database holds now: what was changed after the fact.

The journal was written in the transaction of each change (:mod:`transition.runs.journal`); a row
changed since in the database (an answer's option or responder, a defect's resolver, a transfer, a
forced close) no longer says what its entry says, and the journal in the database must still begin
with the pack's entries. :func:`differences` names each, in words. Airflow-free.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from transition.i18n import _
from transition.results.evidence_facts import RunEvidence
from transition.runs.answers import responder_login

ASKING = ("request", "answer", "decision")


def entries(lines: Iterable[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.strip()]


def differences(lines: Sequence[str], live: RunEvidence) -> list[str]:
    """What the database holds now that the pack's journal does not say, one sentence each."""
    journal = entries(lines)
    found = _rewritten(lines, live.journal)
    found += _answers(journal, live.hitl)
    found += _notes(journal, live.task_instances)
    found += _records(journal, "defect", live.defects, _defect_fields)
    found += _resolutions(journal, live.defects)
    found += _records(journal, "transfer", live.transfers, _transfer_fields)
    steps: list[Any] = [s for s in live.recap.get("steps", []) if isinstance(s, dict)]
    forced = [{"id": s["id"], **s["forced_close"]} for s in steps if s.get("forced_close")]
    found += _records(journal, "forced_close", forced, _forced_fields, by_step=True)
    return found


def _rewritten(lines: Sequence[str], now: Sequence[str]) -> list[str]:
    for number, line in enumerate(lines, 1):
        if number > len(now):
            return [_("journal: entry {n} is no longer in the database").format(n=number)]
        if now[number - 1] != line:
            return [_("journal: entry {n} was changed in the database").format(n=number)]
    return []


def _said(options: Any, by: Any, comment: Any) -> str:
    chosen = ", ".join(str(o) for o in options or []) or "-"
    said = _("'{options}' by {who}").format(options=chosen, who=by or "?")
    return said + (f" ({comment})" if comment else "")


def _answers(journal: list[dict[str, Any]], hitl: Iterable[Mapping[str, Any]]) -> list[str]:
    latest = {e["step"]: e for e in journal if e.get("kind") in ASKING and e.get("step")}
    found = []
    for detail in hitl:
        ti = detail.get("task_instance") or {}
        step, tried = ti.get("task_id"), ti.get("try_number")
        if ti.get("map_index", -1) != -1 or step is None:
            continue
        entry = latest.get(step)
        answered = bool(detail.get("chosen_options")) and detail.get("responded_at") is not None
        params = detail.get("params_input") or {}
        now = (
            detail.get("chosen_options"),
            responder_login(detail.get("responded_by_user")),
            params.get("comment") if isinstance(params, dict) else None,
        )
        if answered and (entry is None or entry["kind"] == "request"):
            found.append(
                _(
                    "step {step}: Airflow holds the answer {said}, which the journal does not have"
                ).format(step=step, said=_said(*now))
            )
        elif entry is None or entry["kind"] == "request" or entry["fact"].get("try") != tried:
            continue
        elif not answered:
            found.append(
                _("step {step}: Airflow no longer holds the answer of entry {n}").format(
                    step=step, n=entry["n"]
                )
            )
        else:
            fact = entry["fact"]
            said = (fact.get("options"), entry.get("by"), fact.get("comment"))
            if [list(now[0] or []), now[1], now[2] or None] != [
                list(said[0] or []),
                said[1],
                said[2] or None,
            ]:
                found.append(
                    _("step {step}: Airflow holds the answer {now}; entry {n} says {said}").format(
                        step=step, now=_said(*now), n=entry["n"], said=_said(*said)
                    )
                )
    return found


def _notes(journal: list[dict[str, Any]], task_instances: Iterable[Mapping[str, Any]]) -> list[str]:
    """Each step's note in the database against the last one journaled for its try."""
    written = {(e["step"], e["fact"].get("try")): e for e in journal if e.get("kind") == "note"}
    found = []
    for ti in task_instances:
        step, note = ti.get("task_id"), ti.get("note") or None
        entry = written.get((step, ti.get("try_number")))
        said = (entry["fact"].get("content") or None) if entry else None
        if ti.get("map_index", -1) != -1 or note == said:
            continue
        if entry is None:
            found.append(
                _("step {step}: its note in the database is not in the journal").format(step=step)
            )
        else:
            found.append(
                _("step {step}: its note in the database is not the one of entry {n}").format(
                    step=step, n=entry["n"]
                )
            )
    return found


Fields = Callable[[Mapping[str, Any]], dict[str, Any]]


def _record(kind: str, ident: Any) -> str:
    """A record, in words: ``defect 7``, ``transfer 3``, ``forced close F`` (by its step)."""
    if kind == "defect":
        return _("defect {id}").format(id=ident)
    if kind == "transfer":
        return _("transfer {id}").format(id=ident)
    return _("forced close {id}").format(id=ident)


def _field(name: str) -> str:
    """A record's field, in words."""
    words = {
        "title": _("title"),
        "severity": _("severity"),
        "to": _("new holder"),
        "reason": _("reason"),
        "by": _("author"),
    }
    return words.get(name, name)


def _defect_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"title": row.get("title"), "severity": row.get("severity")}


def _transfer_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"to": row.get("to_user", row.get("to"))}


def _forced_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"reason": row.get("reason")}


def _live_by(kind: str, row: Mapping[str, Any]) -> Any:
    field = {"defect": "created_by", "transfer": "from_user", "forced_close": "by"}[kind]
    return row.get(field)


def _records(
    journal: list[dict[str, Any]],
    kind: str,
    rows: Iterable[Mapping[str, Any]],
    fields: Fields,
    by_step: bool = False,
) -> list[str]:
    """Each record of ``kind`` in the database against its entry (by id, or by step)."""

    def ident(entry: Mapping[str, Any]) -> Any:
        return entry.get("step") if by_step else entry["fact"].get("id")

    written = {ident(e): e for e in journal if e.get("kind") == kind}
    found, seen = [], set()
    for row in rows:
        name = _record(kind, row.get("id"))
        entry = written.get(row.get("id"))
        seen.add(row.get("id"))
        if entry is None:
            found.append(_("{record}: in the database but not in the journal").format(record=name))
            continue
        said = {**fields(entry["fact"]), "by": entry["by"]}
        now = {**fields(row), "by": _live_by(kind, row)}
        for field in sorted(k for k in now if now[k] != said.get(k)):
            found.append(
                _("{record}: its {field} is '{now}' in the database, '{said}' in entry {n}").format(
                    record=name,
                    field=_field(field),
                    now=now[field],
                    said=said.get(field),
                    n=entry["n"],
                )
            )
    for ident_, entry in written.items():
        if ident_ not in seen:
            name = _record(kind, ident_)
            found.append(
                _("{record}: in the journal (entry {n}) but no longer in the database").format(
                    record=name, n=entry["n"]
                )
            )
    return found


def _resolutions(journal: list[dict[str, Any]], defects: Iterable[Mapping[str, Any]]) -> list[str]:
    resolved = {e["fact"].get("id"): e for e in journal if e.get("kind") == "defect_resolved"}
    found = []
    for row in defects:
        entry, by = resolved.get(row.get("id")), row.get("resolved_by")
        name = _record("defect", row.get("id"))
        if entry is None and by is not None:
            found.append(
                _("{record}: resolved by {who} in the database, not in the journal").format(
                    record=name, who=by
                )
            )
        elif entry is not None and entry.get("by") != by:
            found.append(
                _("{record}: resolved by {now} in the database, by {said} in entry {n}").format(
                    record=name, now=by or "-", said=entry.get("by"), n=entry["n"]
                )
            )
    return found
