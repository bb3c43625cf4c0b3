"""The guard's verdicts against what Airflow actually does, on SQLite and on PostgreSQL.

For each generated variant of a changing route that selects what it changes by the query (a bulk
pause by ``dag_id_pattern``, its prefix, tags, owners) or by an id in the path (a backfill, in
every spelling Airflow's integer reads), Airflow itself says what the request would change: the
same request by an admin, who may make it, with the value each target already has (a pause that
changes nothing answers the DAGs it matched). Then the outsider sends it for real. Required: the
outsider is refused exactly when Airflow would have changed one of the plan's DAGs (or its
backfill), and the database before and after says nothing of the plan changed. No copy of the rule
is written here: Airflow's answer is the reference.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from airflow_server import AirflowServer
from conftest import write_config, write_xlsx
from people import ACTORS
from transition.local.standalone import airflow_users
from transition.store.plan_store import load_plan

pytestmark = pytest.mark.e2e
PLAN = "diff"
OTHERS = ("nightly_etl", "dif_f_loader", "DIFFERENT_report")  # not the plan's
OTHER_DAGS = """
import datetime as dt

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

for dag_id, tags in {dags!r}.items():
    with DAG(
        dag_id,
        schedule="@daily",
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
        catchup=False,
        tags=tags,
        default_args={{"owner": "etl"}},
    ) as dag:
        EmptyOperator(task_id="noop")
    globals()[dag_id] = dag
"""
TERMS = [
    "diff",
    "DIFF",
    " diff",
    "diff ",
    "di%f",
    "di_f",
    "dif_f",
    "\\diff",
    "\\_",
    "%",
    "_",
    "~",
    "nightly",
    " nightly | zzz ",
    "zzz|diff",
    "zzz| diff",
    "ＤＩＦＦ",
    "dıff",
    "%iff_l%",
    "etl",
    "",
]


def write_plan(folder: Path) -> None:
    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Brussels")).date()
    write_xlsx(
        folder / "plan.xlsx",
        {
            "Steps": [
                ["ID", "Label", "Phase", "Dry runs", "Prerequisites", "Owner"],
                ["A", "Stop the gateway", "CO", "ALL", "", "alice"],
            ],
            "Actors": ACTORS,
            "DryRuns": [["Name", "D-day"], ["DR1", today], ["LIVE", today]],
        },
    )
    write_config(folder / "config.yaml", "plan.xlsx", name=PLAN, cutover_managers=["mia"])
    others = folder / "others"
    others.mkdir()
    tags = {"nightly_etl": ["etl"], "dif_f_loader": ["etl"], "DIFFERENT_report": ["transitional"]}
    (others / "others.py").write_text(OTHER_DAGS.format(dags=tags))


@pytest.fixture(scope="module", params=["standalone-sqlite", "standalone"])
def airflow(request, tmp_path_factory) -> Iterator[AirflowServer]:
    folder = tmp_path_factory.mktemp(f"differential-{request.param}")
    write_plan(folder)
    plan = load_plan(folder / "config.yaml").plan
    bundles = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {},
        },
        {
            "name": "others",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder / "others")},
        },
    ]
    server = AirflowServer(
        folder / "airflow",
        folder / "config.yaml",
        airflow_users(plan),
        flavour=request.param,
        extra_env={"AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles)},
    )
    with server:
        for dag in (f"{PLAN}_dr1", f"{PLAN}_live", f"{PLAN}_weekly_report", *OTHERS):
            server.wait_for_dag(dag)
        server.plan_dags = frozenset(plan.dag_id(d) for d in plan.schedules) | {
            f"{PLAN}_weekly_report"
        }
        yield server


def paused(server: AirflowServer) -> dict[str, bool]:
    with server.client("admin") as admin:
        dags = admin.get("/api/v2/dags", params={"limit": 100}).json()["dags"]
    return {d["dag_id"]: d["is_paused"] for d in dags}


def queries() -> Iterator[dict[str, str]]:
    """The query strings of the bulk pause: each filter alone and some together."""
    for term in TERMS:
        yield {"dag_id_pattern": term}
        yield {"dag_id_prefix_pattern": term}
    for tags in ("transition", "TRANSITION", "transition-report", "etl", "transitional"):
        yield {"dag_id_pattern": "~", "tags": tags}
    for owners in ("alice", "etl", "transition", "ALICE"):
        yield {"dag_id_pattern": "%", "owners": owners}
    for term, paused_filter in itertools.product(("di", "~"), ("true", "false", "1", "maybe")):
        yield {"dag_id_pattern": term, "paused": paused_filter}


def test_a_bulk_pause_is_refused_exactly_when_airflow_would_pause_a_plan_dag(airflow):
    server = airflow
    wrong = []
    with server.client("admin") as admin, server.client("eve") as eve:
        for query in queries():
            state = paused(server)
            # What Airflow would change: the same filters, by an admin (then put back as it was).
            probe = admin.patch("/api/v2/dags", params=query, json={"is_paused": True})
            assert probe.status_code in (200, 422), (query, probe.text)
            matched = {d["dag_id"] for d in probe.json()["dags"]} if probe.is_success else set()
            for dag, was in state.items():
                admin.patch(f"/api/v2/dags/{dag}", json={"is_paused": was})
            touches_plan = bool(matched & server.plan_dags)
            before = paused(server)
            sent = eve.patch("/api/v2/dags", params=query, json={"is_paused": True})
            after = paused(server)
            changed = {d for d in after if after[d] != before[d]}
            if touches_plan and (sent.status_code != 403 or changed & server.plan_dags):
                wrong.append(("a plan DAG was reachable", query, sent.status_code, changed))
            if not touches_plan and sent.status_code == 403:
                wrong.append(("refused, though Airflow touches no plan DAG", query, matched))
            if changed & server.plan_dags:
                wrong.append(("a plan DAG changed", query, changed))
            for dag, was in state.items():
                admin.patch(f"/api/v2/dags/{dag}", json={"is_paused": was})
    assert not wrong, "\n".join(map(str, wrong))


def test_a_backfill_of_the_plan_is_the_managers_in_every_spelling_of_its_id(airflow):
    server = airflow
    if server.flavour == "standalone-sqlite":
        # Airflow answers 503 ("Backfill creation is not supported on SQLite under concurrent
        # access") while its components write; the ids are read by the route's types, the same on
        # either database, and the PostgreSQL flavour tries them all.
        pytest.skip("Airflow makes no backfill on SQLite while its components run")
    with server.client("admin") as admin:
        ids = {}
        for dag in (f"{PLAN}_weekly_report", "nightly_etl"):
            made = admin.post(
                "/api/v2/backfills",
                json={
                    "dag_id": dag,
                    "from_date": "2026-02-20T00:00:00Z",
                    "to_date": "2026-03-06T00:00:00Z",
                    "max_active_runs": 1,
                },
            )
            assert made.status_code == 200, made.text
            ids[dag] = made.json()["id"]
            assert admin.put(f"/api/v2/backfills/{ids[dag]}/pause").status_code == 200

    def state(backfill: int) -> dict:
        with server.client("admin") as admin:
            answer = admin.get(f"/api/v2/backfills/{backfill}").json()
        return {k: answer[k] for k in ("is_paused", "completed_at")}

    wrong = []
    with server.client("eve") as eve:
        for dag, backfill in ids.items():
            spellings = [
                str(backfill),
                f"+{backfill}",
                f"{backfill}.0",
                f"0{backfill}",
                f"00{backfill}",
                quote(f" {backfill}"),
                quote(f"{backfill} "),
                f"{backfill}%2E0",
                f"{backfill:x}" if backfill > 9 else f"0{backfill}.00",
            ]
            for spelling, action in itertools.product(spellings, ("unpause", "cancel")):
                before = state(backfill)
                sent = eve.put(f"/api/v2/backfills/{spelling}/{action}")
                after = state(backfill)
                if dag in server.plan_dags and (sent.status_code < 400 or after != before):
                    wrong.append((dag, spelling, action, sent.status_code, before, after))
                if dag not in server.plan_dags and sent.status_code == 403:
                    wrong.append(("refused, not the plan's", dag, spelling, action))
    assert not wrong, "\n".join(map(str, wrong))
