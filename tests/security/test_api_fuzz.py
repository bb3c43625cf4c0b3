"""Fuzzing the plugin's REST API (issue 14): schemathesis against the plugin's own OpenAPI, on a real Airflow.

The shared standalone Airflow (``make run``'s configuration, tests/shared_airflow.py) runs the
FUZZ dry run: its first step asks, and a defect and a transfer are recorded on it, so the endpoints have data to find. Schemathesis reads the OpenAPI the
plugin serves (``/transition/openapi.json``) and generates requests for every operation in it: valid
ones and invalid ones (wrong types, out of range, missing or extra fields, odd text), each path
parameter either generated or a real DAG, run, step or defect, so requests go past the 404s into the
code that reads and writes records. They are sent as the step's owner, as an outsider and without
logging in. Every answer must be a 4xx or a success, never a 5xx or a dropped connection; its status
must be one the schema declares and its body must match the schema declared for that status; after
the run the api-server, scheduler, dag-processor and triggerer are the same processes, still alive, and
``/api/v2/monitor/health`` is healthy.

What the fuzzer found is kept below as plain regression tests (each hostile input gets a 4xx with a
message), with the schema fragments that state the limits.

``TRANSITION_API_FUZZ_EXAMPLES`` examples per operation and identity: ``make test`` uses the default
below (fuzzing then takes well under 90 s on 2 cores); ``make fuzz`` runs more.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from airflow_server import AirflowServer
from shared_airflow import dag_id

DAG = dag_id("FUZZ")
EXAMPLES = int(os.environ.get("TRANSITION_API_FUZZ_EXAMPLES") or 100)
IDENTITIES = ("owner", "outsider", "anonymous")  # alice owns step A; oscar is on no step
USERS = {"owner": "alice", "outsider": "oscar"}
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "ignored_auth",
)  # a success with a login must fail without it, or with a forged one
COMPONENTS = {
    "api-server": ("api_server", "api-server"),
    "scheduler": ("scheduler",),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer",),
}


def wait_asking(server: AirflowServer, run_id: str, step: str, timeout: float = 180) -> None:
    run_url = f"/api/v2/dags/{DAG}/dagRuns/{quote(run_id, safe='')}"
    with server.client("admin") as admin:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            details = admin.get(f"{run_url}/hitlDetails", params={"task_id": step}).json()[
                "hitl_details"
            ]
            if (
                details
                and not details[0]["response_received"]
                and details[0]["task_instance"]["state"] == "awaiting_input"
            ):
                return
            time.sleep(0.5)
    raise TimeoutError(f"{step} did not ask in {timeout} s:\n{server.tail()}")


def components(server: AirflowServer) -> dict[str, int]:
    """The Airflow processes ``airflow standalone`` started (its direct children): component -> pid."""
    leader = server.process.pid
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[1]) != leader or fields[0] == "Z":  # fields: state, ppid, ...
            continue
        for name, marks in COMPONENTS.items():
            if any(f"airflow {mark}" in command for mark in marks):
                found[name] = int(entry.name)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.fixture(scope="module")
def airflow(shared_servers):
    shared = shared_servers.get("standalone")
    server = shared.prepare()
    server.run_id = server.trigger(DAG)
    wait_asking(server, server.run_id, "A")
    plugin = f"/transition/api/dags/{DAG}/runs/{quote(server.run_id, safe='')}"
    with server.client("alice") as alice:
        defects = [
            alice.post(f"{plugin}/steps/A/defects", json={"title": title, "severity": severity})
            for title, severity in (
                ("Queue not empty", "minor"),
                ("Gateway still up", "blocking"),
            )
        ]
        transfer = alice.post(
            f"{plugin}/steps/A/transfer", json={"to": "carol", "message": "Back-up"}
        )
    assert [d.status_code for d in defects] == [201, 201] and transfer.status_code == 200, (
        defects,
        transfer.text,
    )
    server.defect_ids = [d.json()["defect"]["id"] for d in defects]
    server.processes = components(server)
    assert set(server.processes) == set(COMPONENTS), (server.processes, server.tail())
    yield server
    shared.end_runs()


@pytest.fixture(scope="module")
def api_schema(airflow):
    import schemathesis

    # The plugin's FastAPI app is mounted at /transition; its OpenAPI is served (without login) beside it.
    schema = schemathesis.openapi.from_url(
        f"{airflow.base_url}/transition/openapi.json", timeout=30
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {
        "POST /api/dags/{dag_id}/runs/{run_id}/steps/{step_id}/transfer",
        "POST /api/dags/{dag_id}/runs/{run_id}/steps/{step_id}/defects",
        "POST /api/dags/{dag_id}/runs/{run_id}/defects",
        "POST /api/dags/{dag_id}/runs/{run_id}/defects/{defect_id}/resolve",
        "GET /api/dags/{dag_id}/runs/{run_id}/defects",
        "GET /api/dags/{dag_id}/runs/{run_id}/transfers",
        "GET /api/dags/{dag_id}/runs",
        "GET /api/dags/{dag_id}/runs/{run_id}/steps",
        "GET /api/dags/{dag_id}/runs/{run_id}/what-if",
        "GET /api/dags/{dag_id}/runs/{run_id}/timeline.svg",
        "POST /api/dags/{dag_id}/runs/{run_id}/substitute",
        "GET /recap",
    }
    return operations


def real_values(server: AirflowServer) -> dict[str, Any]:
    """For each path parameter, strategies of values that exist (or nearly: another dry run's DAG, a
    step that is not asking, the watch task), the real ones most often."""
    return {
        "dag_id": st.sampled_from([DAG, DAG, DAG, dag_id("DR2")]),
        "run_id": st.just(server.run_id),
        "step_id": st.sampled_from(["A", "A", "B", "_watch"]),
        "defect_id": st.sampled_from(server.defect_ids),
    }


def explicit_case(server: AirflowServer, operation: Any) -> Any:
    """A valid request on the real run for ``operation``: every operation is reached past its 404s at
    least once, whatever is generated."""
    path = {
        "dag_id": DAG,
        "run_id": server.run_id,
        "step_id": "A",
        "defect_id": server.defect_ids[0],
    }
    bodies = {
        "transfer": {"to": "carol", "message": "Fuzz"},
        "defects": {"title": "Fuzz", "severity": "minor"},
    }
    names = [p.name for p in operation.path_parameters]
    body = (
        bodies.get(operation.path.rsplit("/", 1)[-1])
        if operation.method.upper() == "POST"
        else None
    )
    return operation.Case(
        path_parameters={n: path[n] for n in names} or None,
        query={
            "/recap": {"lang": "fr"},
            "/api/dags/{dag_id}/runs/{run_id}/what-if": {"step": "A", "slip": "30"},
        }.get(operation.path),
        **({"body": body, "media_type": "application/json"} if body is not None else {}),
    )


def assert_airflow_alive(server: AirflowServer) -> None:
    """The same component processes as before the fuzzing, all alive, and Airflow says it is healthy."""
    now = components(server)
    dead = {
        name: pid
        for name, pid in server.processes.items()
        if not alive(pid) or now.get(name) != pid
    }
    assert not dead, (
        f"Airflow components died or were restarted: {dead} (now {now})\n{server.tail()}"
    )
    health = httpx.get(f"{server.base_url}/api/v2/monitor/health", timeout=10).json()
    unhealthy = {
        part: health.get(part)
        for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        if (health.get(part) or {}).get("status") != "healthy"
    }
    assert not unhealthy, f"unhealthy after fuzzing: {unhealthy}\n{server.tail()}"


@pytest.mark.e2e
@pytest.mark.parametrize("identity", IDENTITIES)
def test_no_request_makes_a_server_error_or_breaks_the_schema(airflow, api_schema, identity):
    from schemathesis import GenerationMode
    from schemathesis.checks import CHECKS as REGISTRY
    from schemathesis.checks import load_all_checks

    load_all_checks()
    checks = [REGISTRY.get_one(name) for name in CHECKS]
    headers = (
        {"Authorization": f"Bearer {airflow.token(USERS[identity])}"} if identity in USERS else {}
    )
    base_url = f"{airflow.base_url}/transition"
    real = real_values(airflow)
    failures: dict[str, str] = {}
    statuses: dict[str, dict[int, int]] = {}
    for operation in api_schema:
        seen = statuses.setdefault(operation.label, {})
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
        parameters = [p.name for p in operation.path_parameters]
        # Each path parameter: as generated, or (more often) a real one, drawn per example so every mix occurs.
        substitutes = st.fixed_dictionaries(
            {name: st.one_of(st.none(), real[name], real[name]) for name in parameters}
        )

        @given(case=cases, substitute=substitutes)
        @example(case=explicit_case(airflow, operation), substitute={})
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            print_blob=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
        )
        def fuzz(case, substitute):
            if case.path_parameters is not None:
                for name, value in substitute.items():
                    if value is not None:
                        case.path_parameters[name] = value
            response = case.call(base_url=base_url, headers=headers, timeout=60)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1  # noqa: B023 - run at once, in this iteration
            case.validate_response(response, checks=checks, headers=headers)

        try:
            fuzz()
        except Exception as error:  # a failure of this operation; the others are fuzzed too
            failures[operation.label] = f"{type(error).__name__}: {error}"[:6000]
    report = "\n".join(
        f"{label}: {dict(sorted(counts.items()))}" for label, counts in statuses.items()
    )
    assert not failures, (
        "\n\n".join(f"== {label}\n{text}" for label, text in failures.items()) + "\n\n" + report
    )
    reached = {code for counts in statuses.values() for code in counts}
    # The requests reached the code behind the refusals: the owner's explicit ones succeed.
    assert (
        {200, 201} <= reached
        if identity == "owner"
        else {401 if identity == "anonymous" else 403} <= reached
    ), report
    assert_airflow_alive(airflow)


# -- What the fuzzer found, kept as regression tests -----------------------------------------------


def plugin_url(server: AirflowServer, path: str) -> str:
    return f"{server.base_url}/transition/api/dags/{DAG}/runs/{quote(server.run_id, safe='')}{path}"


def send(
    server: AirflowServer, method: str, url: str, user: str | None = "alice", **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.token(user)}"} if user else {}
    # A fresh connection each time: a request that killed its connection cannot make the next one fail.
    return httpx.request(
        method, url, headers={**headers, **kwargs.pop("headers", {})}, timeout=30, **kwargs
    )


@pytest.mark.e2e
@pytest.mark.parametrize(
    "number", ["2147483648", "9223372036854775808", "99999999999999999999", "0", "-1"]
)
def test_a_defect_number_beyond_the_database_integer_is_refused(airflow, number):
    # Was a 500: OverflowError on SQLite (beyond 64 bits), a DataError on PostgreSQL (beyond 32).
    answer = send(
        airflow, "POST", plugin_url(airflow, f"/defects/{number}/resolve"), user="mia", json={}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["path", "defect_id"]
    assert "Input should be" in answer.json()["detail"][0]["msg"]
    assert_airflow_alive(airflow)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "body", [b'{"title": "\\ud800", "severity": "minor"}', b'{"title": "x", "severity": "\\udfff"}']
)
def test_text_that_is_not_unicode_is_refused_in_words(airflow, body):
    # Was a 500: the 422 echoed the lone surrogate and could not be encoded as UTF-8.
    answer = send(
        airflow,
        "POST",
        plugin_url(airflow, "/steps/A/defects"),
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert "valid string" in answer.json()["detail"][0]["msg"]


@pytest.mark.e2e
@pytest.mark.parametrize(
    "path, body",
    [
        ("/steps/A/defects", {"title": "Queue\x00not empty", "severity": "minor"}),
        ("/steps/A/defects", {"title": "Queue", "severity": "minor", "description": "bell \x07"}),
        ("/defects", {"title": "Run\x00wide", "severity": "minor"}),  # on the run itself
        ("/steps/A/transfer", {"to": "carol\x00"}),
        ("/steps/A/transfer", {"to": "carol", "message": "escape \x1b[31m"}),
    ],
)
def test_control_characters_in_text_are_refused(airflow, path, body):
    # A NUL was stored on SQLite and a 500 on PostgreSQL (which refuses NUL in text).
    answer = send(airflow, "POST", plugin_url(airflow, path), json=body)
    assert answer.status_code == 422, answer.text
    assert "control character U+00" in answer.json()["detail"][0]["msg"]


@pytest.mark.e2e
def test_line_breaks_and_tabs_in_free_text_are_kept(airflow):
    answer = send(
        airflow,
        "POST",
        plugin_url(airflow, "/steps/A/defects"),
        json={"title": "Two\tlines", "severity": "minor", "description": "first\nsecond\r\nthird"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["defect"]["description"] == "first\nsecond\r\nthird"


@pytest.mark.e2e
@pytest.mark.parametrize("user", ["alice", "oscar", None])
@pytest.mark.parametrize(
    "path",
    [
        "/transition/api/dags/{dag}/runs/%00/steps",
        "/transition/api/dags/%00/runs",
        "/transition/api/dags/{dag}/runs/x%1By/defects",
        "/transition/api/dags/{dag}/runs/{run}/steps/A%00/transfer",
    ],
)
def test_a_control_character_in_an_identifier_is_refused(airflow, path, user):
    # A NUL in a query parameter is a 500 on PostgreSQL (psycopg2 refuses it): refused before any query.
    # (A line break never reaches the plugin: Airflow's mount of /transition does not match it, a 404.)
    method = "POST" if path.endswith("transfer") else "GET"
    url = airflow.base_url + path.format(dag=DAG, run=quote(airflow.run_id, safe=""))
    answer = send(
        airflow, method, url, user=user, json={"to": "carol"} if method == "POST" else None
    )
    assert answer.status_code == 400, answer.text
    assert "control character" in answer.json()["detail"]


@pytest.mark.e2e
def test_a_body_that_is_not_utf8_is_refused(airflow):
    answer = send(
        airflow,
        "POST",
        plugin_url(airflow, "/steps/A/defects"),
        content=b'{"title": "\xff", "severity": "minor"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code in (400, 422), answer.text
    assert answer.json()["detail"]


def test_the_schema_states_the_limits():
    """What the fuzzer learns from: the defect number's range and every refusal the routes give."""
    from transition.web.step_api import DEFECT_ID_MAX, DefectBody, TransferBody, app

    schema = app.openapi()
    resolve = schema["paths"]["/api/dags/{dag_id}/runs/{run_id}/defects/{defect_id}/resolve"][
        "post"
    ]
    number = next(p for p in resolve["parameters"] if p["name"] == "defect_id")["schema"]
    assert (number["minimum"], number["maximum"]) == (1, DEFECT_ID_MAX) == (1, 2**31 - 1)
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            assert {"401", "403", "404"} <= set(operation["responses"]), (method, path)
    with pytest.raises(ValueError, match="U\\+0000"):
        DefectBody(title="a\x00b", severity="minor")
    with pytest.raises(ValueError, match="U\\+007F"):
        TransferBody(to="carol", message="\x7f")
    assert (
        DefectBody(title="a", severity="minor", description="x\ty\nz\r\n").description
        == "x\ty\nz\r\n"
    )
