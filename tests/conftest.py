"""Shared test helpers: real workbooks written with openpyxl, and a small valid plan to break."""

from __future__ import annotations

import copy
import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

# Airflow, imported by some tests, writes its configuration under AIRFLOW_HOME: keep it out of ~.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="transition-tests-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

Sheets = dict[str, list[list[Any]]]

STEPS_HEADER = [
    "ID",
    "Label",
    "Phase",
    "Dry runs",
    "Prerequisites",
    "Start",
    "Duration",
    "Owner",
    "Environment",
    "Description",
]
# Column letters of the Steps header above: A ID, B Label, C Phase, D Dry runs, E Prerequisites,
# F Start, G Duration, H Owner, I Environment, J Description.

BASE_SHEETS: Sheets = {
    "Steps": [
        STEPS_HEADER,
        [
            "PP-010",
            "Freeze billing runs",
            "PP",
            "ALL",
            "",
            "D-2 08:00",
            "1h",
            "alice",
            "ACC",
            "Stop the billing batch.",
        ],
        ["PP-020", "Export EAN register", "PP", "DR1, LIVE", "PP-010", "", "2h", "bob", "", ""],
        [
            "CO-100",
            "Switch market gateway",
            "CO",
            "ALL",
            "PP-020",
            "D+0 22:00",
            "45m",
            "carol",
            "PRD",
            "",
        ],
        ["CO-110", "Smoke test gateway", "CO", "ALL", "CO-100", "", "30m", "alice", "", ""],
        ["HO-010", "Sign off", "HO", "ALL", "CO-110", "D+1 09:00", "15m", "dave", "", ""],
    ],
    "Actors": [
        ["ID", "Name", "Email", "Team", "Team leader", "Department head", "Language"],
        ["alice", "Alice Martin", "alice@example.com", "Billing", "carol", "dave", "fr"],
        ["bob", "Bob Peeters", "bob@example.com", "Market", "carol", "dave", "en"],
        ["carol", "Carol Dubois", "carol@example.com", "Market", "carol", "dave", ""],
        ["dave", "Dave Lambert", "dave@example.com", "Direction", "", "", "fr"],
    ],
    "DryRuns": [
        ["Name", "D-day", "End", "Environment"],
        ["DR1", dt.date(2027, 1, 16), dt.datetime(2027, 1, 19, 18, 0), "ACC"],
        ["LIVE", dt.date(2027, 5, 8), dt.datetime(2027, 5, 11, 18, 0), "PRD"],
    ],
    "Environments": [
        ["Code", "Name", "Description"],
        ["ACC", "Acceptance", ""],
        ["PRD", "Production", ""],
    ],
}


def base_sheets() -> Sheets:
    return copy.deepcopy(BASE_SHEETS)


def write_xlsx(path: Path, sheets: Sheets) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def write_config(path: Path, workbook: str, **settings: Any) -> Path:
    import yaml

    data = {"name": "resa", "workbook": workbook, **settings}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def plan_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with config.yaml pointing at plan.xlsx (the caller writes the workbook)."""
    monkeypatch.setenv("TRANSITION_CACHE_DIR", str(tmp_path / "cache"))
    write_config(tmp_path / "config.yaml", "plan.xlsx")
    return tmp_path


def compile_sheets(folder: Path, workbook_sheets: Sheets, **settings: Any):
    """Write the workbook and a configuration in ``folder`` and compile them (a CompileResult)."""
    from transition.plan.compiler import compile_plan
    from transition.plan.config import load_config

    write_xlsx(folder / "plan.xlsx", workbook_sheets)
    write_config(folder / "config.yaml", "plan.xlsx", **settings)
    return compile_plan(load_config(folder / "config.yaml"))


def plan_before_and_after(folder: Path, **settings: Any) -> tuple[Any, Any]:
    """The base plan (compiled in folder/a) and the same plan changed (in folder/b, with
    ``settings``): CO-110 30 min -> 90 min, HO-010 removed, CO-120 added."""
    (folder / "a").mkdir()
    (folder / "b").mkdir()
    before = compile_sheets(folder / "a", base_sheets()).plan
    sheets = base_sheets()
    sheets["Steps"][4][6] = "90m"
    del sheets["Steps"][5]
    sheets["Steps"].append(["CO-120", "Check flows", "CO", "ALL", "CO-110", "", "20m", "bob"])
    return before, compile_sheets(folder / "b", sheets, **settings).plan


def gate_sheets() -> Sheets:
    """The base sheets with a gate in DR1:
    S (D+0 08:00, 1h, alice) ─► G (gate, 30m, carol) ─► F1 (3h, bob) ─► F2 (1h, alice) ─► J (1h, dave)
                                                     └─► B1 (FB-RB, 1h, bob) ─────────────────┘"""
    sheets = base_sheets()

    def row(step, pre, phase, start, duration, owner, kind=""):
        return [step, f"Step {step}", phase, "DR1", pre, start, duration, owner, "", "", kind, ""]

    sheets["Steps"] = [
        [*STEPS_HEADER, "Kind", "Approvals"],
        row("S", "", "CO", "D+0 08:00", "1h", "alice"),
        row("G", "S", "CO", "", "30m", "carol", "gate"),
        row("F1", "G", "CO", "", "3h", "bob"),
        row("F2", "F1", "CO", "", "1h", "alice"),
        row("B1", "G", "FB-RB", "", "1h", "bob"),
        row("J", "F2, B1", "DC", "", "1h", "dave"),
    ]
    return sheets


@pytest.fixture(scope="session")
def airflow_app() -> Any:
    """Airflow 3.3's real api-server app (its routes, its dependencies), built once."""
    from airflow.api_fastapi.app import create_app

    return create_app()


def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
    """``make test``'s work units (``-n 2 --dist loadfile``): a file (its tests stay on one worker,
    so a server the file shares, a module fixture, starts once), except the tests of a shared
    server (tests/shared_airflow.py), which are one unit whatever their files. pytest-xdist's own
    ``loadgroup`` cannot do this with pytest 9 (it renames the tests through an attribute pytest 9
    no longer reads)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    from shared_airflow import work_unit

    class WorkUnits(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnits(config, log)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """The order of ``make test``'s work units (above). The units that start Airflow come first, the longest of them
    (HEAVY_FILES, SHARED_WEIGHT) first among them: with two workers the quick files then fill the
    gaps, and no long unit is left to run alone at the end. The sort is stable: files keep their
    order otherwise, tests within a file theirs."""
    from shared_airflow import shared_flavour

    starts_airflow = {i.fspath.strpath for i in items if i.get_closest_marker("e2e") is not None}

    def weight(item: Any) -> int:
        path = item.fspath.strpath
        flavour = shared_flavour(item.nodeid)
        if flavour is not None:
            return SHARED_WEIGHT[flavour]
        if path not in starts_airflow:
            return 0
        return 1 + next((w for name, w in HEAVY_FILES.items() if path.endswith(name)), 0)

    items.sort(key=lambda item: -weight(item))


@pytest.fixture(scope="session")
def shared_servers(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """This worker's shared Airflow servers (tests/shared_airflow.py), each started on first use."""
    from shared_airflow import SharedServers

    servers = SharedServers(tmp_path_factory)
    _SHARED.append(servers)
    try:
        yield servers
    finally:
        servers.stop_all()
        _SHARED.remove(servers)


_SHARED: list[Any] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: Any, nextitem: Any) -> Any:
    """Once a shared server's last test on this worker is torn down (its module fixtures too), the
    server stops: it does not idle, costing CPU, while the worker runs other files."""
    from shared_airflow import shared_flavour

    try:
        return (yield)
    finally:
        flavour = shared_flavour(item.nodeid)
        if flavour is not None and (nextitem is None or shared_flavour(nextitem.nodeid) != flavour):
            for servers in _SHARED:
                servers.stop(flavour)


# Files whose tests wait longest (minutes of planned starts, rungs and paced answers, several
# servers): measured with --durations in make test, see docs/testing.md.
SHARED_WEIGHT = {"standalone": 50, "postgres-celery": 45}  # the shared servers' units
HEAVY_FILES = {
    "e2e/test_e2e_escalation.py": 25,
    "e2e/test_e2e_faults.py": 20,
    "e2e/test_e2e_backup.py": 20,
    "e2e/test_e2e_mail.py": 18,
    "e2e/test_make_run.py": 15,
}
