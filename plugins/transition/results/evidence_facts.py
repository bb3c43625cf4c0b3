"""A run's journal and facts for its evidence pack, read through Airflow's REST API and the
plugin's endpoints.

The journal as the api-server wrote it (``…/journal``); and what Airflow and the plugin hold now:
every step's request and answer as Airflow gives them (``…/hitlDetails``), its task instances, the
run, the plan of record, the transfers and defects, and from the recap the forced closes, gate
decisions and automated steps' checks, each a ``(kind, fact)``, in that order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from transition.errors import NotFound
from transition.results.api_client import ApiClient
from transition.runs.views import RunView


@dataclass(frozen=True)
class RunEvidence:
    run: Mapping[str, Any]  # Airflow's dagRun
    recap: RunView  # the plugin's run view (…/steps), as its JSON
    plan_of_record: Mapping[str, Any]  # …/plan-of-record?plan=true
    task_instances: list[dict[str, Any]]
    hitl: list[dict[str, Any]]
    defects: list[dict[str, Any]]
    transfers: list[dict[str, Any]]
    journal: list[str]  # the run's journal, as written (…/journal)
    signed: bool  # its entries signed by the api-server


def read_evidence(client: ApiClient, dag_id: str, run_id: str) -> RunEvidence:
    dag, run = quote(dag_id, safe=""), quote(run_id, safe="")
    airflow = f"/api/v2/dags/{dag}/dagRuns/{run}"
    plugin = f"/transition/api/dags/{dag}/runs/{run}"
    try:
        record = client.get(f"{plugin}/plan-of-record", {"plan": "true"})
    except NotFound:  # a plugin older than the plan of record
        record = {"recorded": False, "record": None, "changes": None}
    try:
        written = client.get(f"{plugin}/journal")
    except NotFound:  # a plugin older than the journal
        written = {"entries": [], "signed": False}
    return RunEvidence(
        run=client.get(airflow),
        recap=client.get(f"{plugin}/steps"),
        plan_of_record=record,
        task_instances=sorted(
            client.pages(f"{airflow}/taskInstances", "task_instances"),
            key=lambda ti: (str(ti.get("task_id")), int(ti.get("map_index") or -1)),
        ),
        hitl=client.pages(f"{airflow}/hitlDetails", "hitl_details", {"order_by": "ti_id"}),
        defects=client.get(f"{plugin}/defects")["defects"],
        transfers=client.get(f"{plugin}/transfers")["transfers"],
        journal=[str(line) for line in written["entries"]],
        signed=bool(written["signed"]),
    )


def journal_facts(evidence: RunEvidence) -> list[tuple[str, Any]]:
    """The facts of the journal, in a fixed order (kind, then as Airflow or the plugin lists them)."""
    record = {k: v for k, v in evidence.plan_of_record.items() if k != "plan"}
    facts: list[tuple[str, Any]] = [("run", dict(evidence.run)), ("plan_of_record", record)]
    facts += [("task_instance", ti) for ti in evidence.task_instances]
    facts += [("hitl", detail) for detail in evidence.hitl]
    facts += [("transfer", t) for t in evidence.transfers]
    facts += [("defect", d) for d in evidence.defects]
    steps: list[Any] = [s for s in evidence.recap.get("steps", []) if isinstance(s, dict)]
    facts += [
        ("forced_close", {"step": s["id"], **s["forced_close"]})
        for s in steps
        if isinstance(s.get("forced_close"), dict)
    ]
    facts += [
        ("gate_decision", {"step": s["id"], **s["decision"]})
        for s in steps
        if isinstance(s.get("decision"), dict)
    ]
    facts += [
        ("check", {"step": s["id"], "kind": s.get("kind"), **s["automation"]})
        for s in steps
        if isinstance(s.get("automation"), dict)
    ]
    return facts
